"""GuidedSSD (guided_tracking.modeling.guided_ssd, paper 3.5 / Fig. 3): the one-stage
guided detector, its SSD head and loss, MAML on triplets, and tracking with it."""
import numpy as np
import pytest
import torch
from test_tracker import ScriptedDetect, centre, moving_sequence

from detectron2.engine import SimpleTrainer
from detectron2.modeling import META_ARCH_REGISTRY, build_model
from detectron2.utils.events import EventStorage

from guided_tracking.modeling import GuidedSSD, SSDHead
from guided_tracking.modeling.maml import batch_params, inner_loop
from guided_tracking.modeling.ssd_head import dense_loss
from guided_tracking.tracking import GuidedTracker
from guided_tracking.tracking.online import online_loss_fn

THETA0 = ("head.cls_score.0.weight", "head.cls_score.2.bias", "head.bbox_pred.0.weight")
TGM = ("backbone.tgms.p3.fuse.weight", "backbone.tgms.p5.modulator_conv.weight")
BACKBONE = ("backbone.body.bottom_up.m5.3.conv.2.weight", "backbone.body.fpn_output4.weight")


@pytest.fixture
def ssd(tiny_model):
    """``ssd(opts=(), seed=0)``: the tiny one-stage model in training mode."""
    return lambda opts=(), seed=0: tiny_model("mnv2_ssd", list(opts), seed)


def _targets(model, triplets, part="support"):
    """Guided head inputs, anchor labels and target deltas of one frame per triplet."""
    with torch.no_grad():
        guidance = model.encode_targets([t["exemplar"] for t in triplets],
                                        torch.stack([t["exemplar_box"] for t in triplets]))
        images = model.normalize([t[part]["image"] for t in triplets])
        features = [model.guided_features(images, guidance)[f] for f in model.head_in_features]
        labels, deltas = model.anchor_targets(model.anchor_generator(features), [t[part]["instances"] for t in triplets])
    return features, labels, deltas


def test_registered_and_built_from_the_config(ssd):
    assert META_ARCH_REGISTRY.get("GuidedSSD") is GuidedSSD
    model = ssd()
    assert isinstance(model, GuidedSSD) and isinstance(model.head, SSDHead)
    assert model.head_in_features == ["p3", "p4", "p5"] and model.num_classes == 1
    assert model.loss_type == "ohnm" and model.neg_pos_ratio == 3.0
    # θ = every level's classification and box conv; nothing else.
    assert set(model.theta0()) == {f"{kind}.{i}.{p}" for kind in ("cls_score", "bbox_pred")
                                   for i in range(3) for p in ("weight", "bias")}
    no_reg = ssd(["MODEL.META.ADAPT_REGRESSION", False])
    assert set(no_reg.theta0()) == {f"cls_score.{i}.{p}" for i in range(3) for p in ("weight", "bias")}


def test_rejects_wrong_configs(tiny_cfg):
    with pytest.raises(ValueError, match="NUM_CLASSES must be 1"):
        build_model(tiny_cfg("mnv2_ssd", ["MODEL.RETINANET.NUM_CLASSES", 2]))
    with pytest.raises(ValueError, match="GuidedBackbone"):
        build_model(tiny_cfg("mnv2_ssd", ["MODEL.BACKBONE.NAME", "build_mobilenetv2_fpn_backbone"]))
    with pytest.raises(ValueError, match="IN_FEATURES names"):
        build_model(tiny_cfg("mnv2_ssd", ["MODEL.RETINANET.IN_FEATURES", ["p3", "p9"]]))
    with pytest.raises(ValueError, match="MODEL.SSD.LOSS"):
        dense_loss(torch.zeros(1, 4, 1), torch.zeros(1, 4, 4), torch.zeros(1, 4, dtype=torch.long),
                   torch.zeros(1, 4, 4), loss_type="softmax")


def test_head_shapes_and_batched_theta(ssd, make_triplets):
    model = ssd()
    features, labels, deltas = _targets(model, make_triplets(3))
    num_anchors = sum(n * f.shape[-2] * f.shape[-1] for n, f in zip(model.anchor_generator.num_cell_anchors, features))
    logits, box = model.head_forward(features)
    assert logits.shape == (3, num_anchors, 1) and box.shape == (3, num_anchors, 4)
    assert labels.shape == (3, num_anchors) and deltas.shape == (3, num_anchors, 4)
    assert set(labels.unique().tolist()) <= {-1, 0, 1} and bool((labels == 0).any(dim=1).all())  # a positive each
    # A plain θ equal to the module's, and a batched θ with one copy per image,
    # give the module's own predictions (the unmodified head).
    theta = model.theta0()
    for out in (model.head_forward(features, theta), model.head_forward(features, batch_params(theta, 3), batched=True)):
        torch.testing.assert_close(out[0], logits, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out[1], box, rtol=1e-5, atol=1e-6)


def test_hard_negative_mining_keeps_positives_and_the_hardest_negatives():
    # One image: 2 positives (label 0), 8 negatives (label 1), 1 ignored (-1).
    labels = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1, 1, 1, -1]])
    logits = torch.tensor([[2.0, -1.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, 9.0]]).unsqueeze(-1)
    zeros = torch.zeros(1, 11, 4)
    cls, box = dense_loss(logits, zeros, labels, zeros, neg_pos_ratio=3.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    # 3:1 of 2 positives = 6 negatives: the 6 with the highest loss (largest logits).
    expected = bce(logits[0, :2, 0], torch.ones(2), reduction="sum") + \
        bce(logits[0, 2:8, 0], torch.zeros(6), reduction="sum")
    torch.testing.assert_close(cls, expected / 2)
    assert float(box) == 0.0
    # Focal loss covers every non-ignored anchor.
    focal, _ = dense_loss(logits, zeros, labels, zeros, loss_type="focal")
    assert 0 < float(focal) < float(cls)
    # Per image: each normalised by its own positives.
    two = torch.cat([labels, labels.clone().fill_(1)]), torch.cat([logits, logits])
    per_image, _ = dense_loss(two[1], torch.zeros(2, 11, 4), two[0], torch.zeros(2, 11, 4), per_image=True)
    torch.testing.assert_close(per_image[0], cls)
    assert per_image[1] > 0  # no positive: still one hard negative


def test_zero_inner_steps_is_the_plain_one_stage_detector(ssd, make_triplets):
    triplets = make_triplets(2)
    meta0 = ssd(["MODEL.META.INNER_STEPS", 0])
    plain = ssd(["MODEL.META.ENABLED", False])
    plain.load_state_dict(meta0.state_dict())
    with EventStorage(0):
        a, b = meta0(triplets), plain(triplets)
    # = SSD's loss of the unmodified head on the query frames, by hand.
    features, labels, deltas = _targets(meta0, triplets, "query")
    logits, box = meta0.head(features)
    from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
    logits = torch.cat([permute_to_N_HWA_K(x, 1) for x in logits], 1)
    box = torch.cat([permute_to_N_HWA_K(x, 4) for x in box], 1)
    cls, reg = meta0._loss(logits, box, labels, deltas)
    for losses in (a, b):
        torch.testing.assert_close(losses["loss_cls"], cls, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(losses["loss_box_reg"], reg, rtol=1e-5, atol=1e-6)


def test_inner_steps_lower_the_support_loss(ssd, make_triplets):
    model = ssd(["MODEL.META.INNER_LR", 0.01])
    features, labels, deltas = _targets(model, make_triplets(3))
    loss = lambda theta: model._support_loss(theta, features, labels, deltas)  # noqa: E731
    params, losses = inner_loop(loss, batch_params(model.theta0(), 3), 3, 0.01, differentiable=False)
    with torch.no_grad():
        after = loss(params)
    assert float(after) < float(losses[1]) < float(losses[0])


def test_batched_inner_loop_equals_per_triplet_loop(ssd, make_triplets):
    model = ssd(["MODEL.META.INNER_LR", 0.01])
    features, labels, deltas = _targets(model, make_triplets(3))
    theta0 = model.theta0()

    def adapt(idx):
        feats = [f[idx] for f in features]
        return inner_loop(lambda th: model._support_loss(th, feats, labels[idx], deltas[idx]),
                          batch_params(theta0, len(idx)), 2, 0.01)[0]

    batched = adapt([0, 1, 2])
    for b in range(3):
        alone = adapt([b])
        for name in theta0:
            torch.testing.assert_close(batched[name][b], alone[name][0], rtol=1e-4, atol=1e-6)
        # The steps did something (box convs of a level without positives keep θ_0).
        assert not torch.equal(alone["cls_score.0.weight"][0], theta0["cls_score.0.weight"])
    # Second-order: the outer gradient reaches θ_0 through both alike.
    g_batched = torch.autograd.grad((batched["cls_score.0.weight"] ** 2).sum(), theta0["cls_score.0.weight"])
    g_looped = torch.autograd.grad(sum((adapt([b])["cls_score.0.weight"] ** 2).sum() for b in range(3)),
                                   theta0["cls_score.0.weight"])
    torch.testing.assert_close(g_batched[0], g_looped[0], rtol=1e-4, atol=1e-7)


def test_training_step_reaches_theta0_tgm_and_backbone(ssd, make_triplets):
    # Focal loss: every anchor of every level has a loss (hard negative mining may
    # pick none on the tiny 2 x 2 P5 map), so every level's θ has a gradient.
    model = ssd(["MODEL.SSD.LOSS", "focal"])
    # Guidance blocks start at zero (identity TGM): give them weights so their
    # gradients are not trivially zero.
    with torch.no_grad():
        for tgm in model.backbone.tgms.values():
            tgm.fuse.weight.normal_(0, 0.05)
    with EventStorage(0) as storage:
        losses = model(make_triplets(2))
    assert set(losses) == {"loss_cls", "loss_box_reg"} and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    params = dict(model.named_parameters())
    for name in THETA0 + TGM + BACKBONE:
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name
    logged = storage.latest()
    assert {"meta/support_loss_before", "meta/support_loss_after", "meta/query_loss"} <= set(logged)


def test_simple_trainer_iteration(ssd, make_triplets):
    model = ssd()
    triplets = make_triplets(2)
    before = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    trainer = SimpleTrainer(model, iter([triplets] * 2), torch.optim.SGD(model.parameters(), lr=0.01))
    trainer.train(0, 1)
    after = dict(model.named_parameters())
    assert not torch.equal(before["head.cls_score.0.weight"], after["head.cls_score.0.weight"])
    assert all(torch.isfinite(p).all() for p in after.values())


def test_detect_gives_candidates_and_nms_instances(ssd, make_triplets):
    model = ssd().eval()
    t = make_triplets(1)[0]
    out = model([{"image": t["query"]["image"], "exemplar": t["exemplar"], "exemplar_box": t["exemplar_box"]}])[0]
    cand, inst = out["candidates"], out["instances"]
    num_anchors = model.head_forward(_targets(model, [t], "query")[0])[0].shape[1]
    assert len(cand) == min(model.test_topk_candidates, num_anchors)
    assert cand.pred_boxes.shape == (len(cand), 4) and bool((cand.scores[:-1] >= cand.scores[1:]).all())
    assert bool((cand.pred_boxes >= 0).all() and (cand.pred_boxes <= 64).all())  # clipped to the crop
    assert len(inst) <= len(cand) and bool((inst.scores > model.test_score_thresh).all())


def _ssd_tracker(tiny_cfg, opts=()):
    cfg = tiny_cfg("mnv2_ssd", ["TRACKER.INIT_SAMPLES", 4, "TRACKER.COLLECT_THRESHOLD", 0.0,
                                "TRACKER.LOST_THRESHOLD", 0.0, "TRACKER.UPDATE_INTERVAL", 2] + list(opts))
    torch.manual_seed(0)
    return GuidedTracker(cfg, build_model(cfg))


def test_tracker_runs_the_one_stage_model_with_cached_updates(tiny_cfg, monkeypatch):
    tracker = _ssd_tracker(tiny_cfg)
    frames, gt = moving_sequence(5)
    tracker.initialize(frames[0], gt[0])
    features, labels, deltas = tracker.state.init_samples
    assert [f.shape[0] for f in features] == [4, 4, 4] and labels.shape[0] == 4 and deltas.shape[-1] == 4
    theta1 = {k: v.clone() for k, v in tracker.state.theta.items()}
    assert any(not torch.equal(theta1[k], tracker.state.theta0[k]) for k in theta1)  # N_1 steps from θ_0

    # An online update re-runs only the head on cached maps, never the backbone.
    calls = []
    body = tracker.model.backbone.body
    real = body.forward
    monkeypatch.setattr(body, "forward", lambda x: calls.append(x.shape) or real(x))
    for frame in frames[1:]:
        box = tracker.track(frame)
        assert np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0
    assert len(calls) == 4  # one search crop per frame
    assert len(tracker.state.memory) == 4 and tracker.last_updated is True  # frame 4: an update frame
    assert any(not torch.equal(theta1[k], tracker.state.theta[k]) for k in theta1)  # updated at frames 2 and 4
    # The update's loss is the model's loss on the cached samples.
    collected = tracker.model.concat_samples(list(tracker.state.memory))
    assert collected[0][0].shape[0] == 4
    loss = online_loss_fn(tracker.model, tracker.state.init_samples, collected, 0.5)(tracker.state.theta)
    assert torch.isfinite(loss)


def test_tracker_localises_among_one_stage_candidates(tiny_cfg, monkeypatch):
    tracker = _ssd_tracker(tiny_cfg, ["TRACKER.UPDATE_INTERVAL", 0])
    frames, gt = moving_sequence(3)
    detect = ScriptedDetect(tracker)
    monkeypatch.setattr(tracker.model, "detect", detect)
    tracker.initialize(frames[0], gt[0])
    detect.boxes_xywh, detect.scores = [gt[1], np.asarray(gt[1]) + [30, 20, 0, 0]], [0.9, 0.5]
    out = tracker.track(frames[1])
    np.testing.assert_allclose(centre(out), centre(gt[1]), atol=1e-6)


def test_refine_needs_a_two_stage_model(tiny_cfg):
    with pytest.raises(ValueError, match="TRACKER.REFINE"):
        _ssd_tracker(tiny_cfg, ["TRACKER.REFINE", True])


def test_no_regression_finetuning_leaves_box_convs(tiny_cfg):
    tracker = _ssd_tracker(tiny_cfg, ["MODEL.META.ADAPT_REGRESSION", False])
    frames, gt = moving_sequence(2)
    tracker.initialize(frames[0], gt[0])
    assert set(tracker.state.theta) == {f"cls_score.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
    tracker.track(frames[1])
