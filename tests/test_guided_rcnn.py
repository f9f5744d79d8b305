"""GuidedRCNN (guided_tracking.modeling.guided_rcnn): MAML training on triplets
driven by detectron2's trainer, and guided inference."""
import itertools
import math

import pytest
import torch
from conftest import randomize_tgm_guidance

from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model
from detectron2.structures import Instances
from detectron2.utils.events import EventStorage

THETA0 = ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias",
          "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias")
TGM = ("backbone.tgms.p2.fuse.weight", "backbone.tgms.p4.modulator_conv.weight",
       "backbone.tgms.p5.target_proj.weight")
BACKBONE = ("backbone.body.bottom_up.m3.0.conv.0.0.weight", "backbone.body.bottom_up.m5.3.conv.2.weight",
            "backbone.body.fpn_lateral2.weight", "backbone.body.fpn_output4.weight")


def _train_step(model, triplets, seed=0):
    """One training forward + backward from zeroed grads; returns (losses, storage)."""
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # proposal sampling
    with EventStorage(0) as storage:
        losses = model(triplets)
    sum(losses.values()).backward()
    return losses, storage


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _pair(tiny_model, tiny_cfg, opts_a, opts_b):
    """Two models with identical weights, built from configs differing by opts."""
    a = randomize_tgm_guidance(tiny_model("mnv2_fpn", opts_a))
    b = build_model(tiny_cfg("mnv2_fpn", opts_b))
    b.load_state_dict(a.state_dict())
    return a, b


def test_rejects_non_guided_components(tiny_cfg):
    with pytest.raises(ValueError, match="MetaROIHeads"):
        build_model(tiny_cfg("mnv2_fpn", ["MODEL.ROI_HEADS.NAME", "StandardROIHeads"]))
    with pytest.raises(ValueError, match="GuidedBackbone"):
        build_model(tiny_cfg("mnv2_fpn", ["MODEL.BACKBONE.NAME", "build_mobilenetv2_fpn_backbone"]))


def test_second_order_gradients_reach_theta0_tgm_and_backbone(tiny_model, tiny_cfg, make_triplets):
    # Every anchor in the RPN loss, so each level's TGM has a gradient whatever
    # the anchor sampling draws (15 anchors a cell leave few coarse-level ones).
    every_anchor = ["MODEL.RPN.BATCH_SIZE_PER_IMAGE", 100000]
    second, first = _pair(tiny_model, tiny_cfg, ["MODEL.META.INNER_STEPS", 1] + every_anchor,
                          ["MODEL.META.INNER_STEPS", 1, "MODEL.META.FIRST_ORDER", True] + every_anchor)
    assert second.first_order is False and first.first_order is True
    triplets = make_triplets(2)

    losses, _ = _train_step(second, triplets)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg"}
    g2 = _grads(second)
    for name in THETA0 + TGM + BACKBONE:
        assert name in g2, f"no gradient for {name}"
        assert torch.isfinite(g2[name]).all() and g2[name].abs().sum() > 0, name
    # Frozen stages (MOBILENET.FREEZE_AT 2) get none.
    assert all(p.grad is None for p in second.backbone.body.bottom_up.m1.parameters())

    _train_step(second, triplets)  # control: the step is deterministic given the seed
    for name, g in _grads(second).items():
        assert torch.equal(g, g2[name]), name

    _train_step(first, triplets)
    g1 = _grads(first)
    for name in ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias"):
        diff = (g2[name] - g1[name]).norm() / g2[name].norm()
        assert diff > 1e-3, f"{name}: second-order term missing ({float(diff)})"
    # bbox_pred enters the inner loss only through the (piecewise linear) L1 loss,
    # whose Hessian is zero: its second-order term vanishes exactly.
    torch.testing.assert_close(g1["roi_heads.box_predictor.bbox_pred.weight"],
                               g2["roi_heads.box_predictor.bbox_pred.weight"])


def test_no_inner_steps_is_a_plain_guided_detector(tiny_model, tiny_cfg, make_triplets):
    meta, plain = _pair(tiny_model, tiny_cfg, [], ["MODEL.META.ENABLED", False])
    assert meta.inner_steps == 1 and plain.inner_steps == 0
    triplets = make_triplets(2)
    meta_losses, meta_storage = _train_step(meta, triplets)
    plain_losses, plain_storage = _train_step(plain, triplets)
    assert "meta/support_loss_before" in meta_storage.histories()
    assert "meta/support_loss_before" not in plain_storage.histories()
    assert set(plain_losses) == set(meta_losses)
    # Same RPN (no inner loop touches it), different ROI loss (θ0 vs adapted θ1).
    torch.testing.assert_close(plain_losses["loss_rpn_cls"], meta_losses["loss_rpn_cls"])
    assert not torch.allclose(plain_losses["loss_cls"], meta_losses["loss_cls"])


def test_simple_trainer_iteration(tiny_model, make_triplets):
    model = tiny_model("mnv2_fpn")
    triplets = make_triplets(2)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.02, momentum=0.9)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer = SimpleTrainer(model, itertools.repeat(triplets), optimizer)
    torch.manual_seed(0)
    trainer.train(0, 1)

    histories = trainer.storage.histories()
    for key in ("total_loss", "loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc",
                "meta/support_loss_before", "meta/support_loss_after", "meta/query_loss"):
        assert key in histories, key
        assert math.isfinite(histories[key].latest()), key
    assert histories["total_loss"].latest() > 0
    # One inner step lowers the support loss (paper Eq. 1) on these seeded triplets.
    assert histories["meta/support_loss_after"].latest() < histories["meta/support_loss_before"].latest()
    changed = {n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])}
    for name in THETA0 + ("backbone.tgms.p2.fuse.weight", "backbone.tgms.p3.fuse.weight",
                          "backbone.body.fpn_lateral2.weight", "proposal_generator.rpn_head.conv.weight"):
        assert name in changed, name


def test_meta_sgd_step_sizes_are_learned(tiny_model, make_triplets):
    model = tiny_model("mnv2_fpn", ["MODEL.META.LEARN_INNER_LR", True, "MODEL.META.INNER_LR", 0.05])
    alphas = dict(model.step_sizes.named_parameters())
    assert {n.replace("alphas.", "").replace("__", ".") for n in alphas} == \
        {n.replace("roi_heads.", "") for n in THETA0}
    for name, a in alphas.items():
        assert a.shape == model.roi_heads.get_parameter(name.replace("alphas.", "").replace("__", ".")).shape
        assert torch.all(a == 0.05)
    assert any(n.startswith("step_sizes.") for n, _ in model.named_parameters())  # the optimizer sees them
    _train_step(model, make_triplets(2))
    for name, a in alphas.items():
        assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0, name
    # Without the switch, α is the fixed float of the config.
    plain = tiny_model("mnv2_fpn")
    assert plain.step_sizes is None and plain.step_size() == 0.05


def _inference_input(triplet, **extra):
    return {"image": triplet["query"]["image"], **extra}


def test_inference_returns_instances_and_candidates(tiny_model, make_triplets):
    model = tiny_model("mnv2_fpn", ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0])
    model.eval()
    triplets = make_triplets(2, seed=3)
    t = triplets[0]
    outputs = model([_inference_input(t, exemplar=t["exemplar"], exemplar_box=t["exemplar_box"]),
                     _inference_input(triplets[1], exemplar=triplets[1]["exemplar"],
                                      exemplar_box=triplets[1]["exemplar_box"])])
    assert len(outputs) == 2
    out = outputs[0]
    inst, cand = out["instances"], out["candidates"]
    assert isinstance(inst, Instances) and isinstance(cand, Instances)
    assert inst.image_size == cand.image_size == (64, 64)
    assert 0 < len(inst) <= len(cand) <= 32  # POST_NMS_TOPK_TEST
    # Candidates: a plain (R, 4) xyxy tensor (what localisation consumes) and target scores.
    assert isinstance(cand.pred_boxes, torch.Tensor) and cand.pred_boxes.shape == (len(cand), 4)
    assert cand.scores.shape == (len(cand),)
    assert torch.all(inst.pred_classes == 0)
    assert torch.all(inst.scores[:-1] >= inst.scores[1:])
    # Every kept detection is one of the pre-NMS candidates.
    assert torch.cdist(inst.scores[:, None], cand.scores[:, None]).min(dim=1).values.max() < 1e-6
    assert not torch.equal(outputs[1]["candidates"].scores, cand.scores)  # other target, other result

    # Cached guidance (computed once per target) and an explicit θ0 give the same result.
    guidance = model.encode_targets([t["exemplar"]], t["exemplar_box"][None])
    cached = model([_inference_input(t, guidance=guidance)])[0]
    with_theta = model([_inference_input(t, guidance=guidance, params=model.theta0())])[0]
    for other in (cached, with_theta):
        torch.testing.assert_close(other["instances"].pred_boxes.tensor, inst.pred_boxes.tensor)
        torch.testing.assert_close(other["instances"].scores, inst.scores)
        torch.testing.assert_close(other["candidates"].pred_boxes, cand.pred_boxes)
        torch.testing.assert_close(other["candidates"].scores, cand.scores)

    # Adapted θ changes the scores: inference honours ``params``.
    shifted = dict(model.theta0())
    shifted["box_predictor.cls_score.bias"] = shifted["box_predictor.cls_score.bias"] + torch.tensor([1.0, 0.0])
    adapted = model([_inference_input(t, guidance=guidance, params=shifted)])[0]
    assert torch.all(adapted["candidates"].scores > cand.scores + 0.1)  # target logit +1
