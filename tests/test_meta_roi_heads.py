"""MetaROIHeads (guided_tracking.modeling.meta_roi_heads, paper 3.3): a
StandardROIHeads whose head also runs from an explicit θ."""
import pytest
import torch
from torch.nn import functional as F

from detectron2.layers import ShapeSpec
from detectron2.modeling import StandardROIHeads, build_roi_heads
from detectron2.structures import Boxes, Instances
from guided_tracking.modeling import MetaROIHeads, batch_params
from guided_tracking.modeling.meta_roi_heads import ohnm_cross_entropy, proposals_task_index

IMAGE_PX = 64
LEVELS = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}
CHANNELS = 16  # tiny_cfg's FPN.OUT_CHANNELS
NUM_PROPOSALS = (20, 13)  # different per image, so task boundaries matter


def _input_shape():
    return {k: ShapeSpec(channels=CHANNELS, stride=s) for k, s in LEVELS.items()}


def _cfg(tiny_cfg, *opts):
    # OHNM off: with it, the outer loss is deliberately not StandardROIHeads'.
    return tiny_cfg("mnv2_fpn", ["MODEL.ROI_HEADS.OHNM_NEG_POS_RATIO", 0.0,
                                 "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.0, *opts])


def _heads(cfg):
    torch.manual_seed(0)
    meta = build_roi_heads(cfg, _input_shape())
    std = StandardROIHeads(cfg, _input_shape())
    std.load_state_dict(meta.state_dict())
    return meta, std


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    n = len(NUM_PROPOSALS)
    features = {k: torch.randn((n, CHANNELS, IMAGE_PX // s, IMAGE_PX // s), generator=g)
                for k, s in LEVELS.items() if k != "p6"}
    gt = [[[10.0, 12.0, 40.0, 44.0]], [[20.0, 8.0, 50.0, 30.0], [2.0, 30.0, 20.0, 60.0]]]
    proposals, targets = [], []
    for i, count in enumerate(NUM_PROPOSALS):
        xy = torch.rand((count, 2), generator=g) * 40
        wh = torch.rand((count, 2), generator=g) * 20 + 6
        boxes = torch.cat([xy, xy + wh], dim=1)
        boxes[:3] = torch.tensor(gt[i][0]) + torch.randn((3, 4), generator=g)  # a few positives
        p = Instances((IMAGE_PX, IMAGE_PX))
        p.proposal_boxes = Boxes(boxes)
        p.objectness_logits = torch.randn(count, generator=g)
        proposals.append(p)
        t = Instances((IMAGE_PX, IMAGE_PX))
        t.gt_boxes = Boxes(torch.tensor(gt[i]))
        t.gt_classes = torch.zeros(len(gt[i]), dtype=torch.long)
        targets.append(t)
    return features, proposals, targets


def _assert_same_instances(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x) == len(y) > 0
        torch.testing.assert_close(x.pred_boxes.tensor, y.pred_boxes.tensor, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(x.scores, y.scores, rtol=1e-5, atol=1e-6)
        assert torch.equal(x.pred_classes, y.pred_classes)


def test_builds_from_registry(tiny_cfg):
    meta, _ = _heads(_cfg(tiny_cfg))
    assert type(meta) is MetaROIHeads and meta.box_predictor.num_classes == 1


@pytest.mark.parametrize("adapt, regression, expected", [
    ("predictor", True, ["box_predictor.cls_score.weight", "box_predictor.cls_score.bias",
                         "box_predictor.bbox_pred.weight", "box_predictor.bbox_pred.bias"]),
    ("predictor", False, ["box_predictor.cls_score.weight", "box_predictor.cls_score.bias"]),
    ("box_head+predictor", True, ["box_head.fc1.weight", "box_head.fc1.bias", "box_head.fc2.weight",
                                  "box_head.fc2.bias", "box_predictor.cls_score.weight",
                                  "box_predictor.cls_score.bias", "box_predictor.bbox_pred.weight",
                                  "box_predictor.bbox_pred.bias"]),
])
def test_adaptable_parameters(tiny_cfg, adapt, regression, expected):
    meta, _ = _heads(_cfg(tiny_cfg, "MODEL.META.ADAPT", adapt, "MODEL.META.ADAPT_REGRESSION", regression))
    params = meta.adaptable_parameters()
    assert list(params) == expected
    module_params = dict(meta.named_parameters())
    assert all(params[k] is module_params[k] for k in expected)  # the module's own tensors (θ0)


def test_bad_adapt_choice(tiny_cfg):
    with pytest.raises(ValueError, match="MODEL.META.ADAPT must be one of"):
        build_roi_heads(_cfg(tiny_cfg, "MODEL.META.ADAPT", "everything"), _input_shape())


def test_training_losses_equal_standard_roi_heads(tiny_cfg, event_storage):
    meta, std = _heads(_cfg(tiny_cfg))
    meta.train(), std.train()
    features, proposals, targets = _inputs()
    torch.manual_seed(123)  # the fg/bg sampler draws from the global RNG
    meta_props, meta_losses = meta(None, features, proposals, targets)
    torch.manual_seed(123)
    std_props, std_losses = std(None, features, proposals, targets)
    assert set(meta_losses) == set(std_losses) == {"loss_cls", "loss_box_reg"}
    for k in std_losses:
        assert torch.isfinite(std_losses[k]) and std_losses[k] > 0
        torch.testing.assert_close(meta_losses[k], std_losses[k], rtol=0, atol=0)
    for a, b in zip(meta_props, std_props):
        assert torch.equal(a.proposal_boxes.tensor, b.proposal_boxes.tensor)
        assert torch.equal(a.gt_classes, b.gt_classes)


def test_inference_equals_standard_roi_heads(tiny_cfg):
    meta, std = _heads(_cfg(tiny_cfg))
    meta.eval(), std.eval()
    features, proposals, _ = _inputs()
    with torch.no_grad():
        meta_out, _ = meta(None, features, proposals)
        std_out, _ = std(None, features, proposals)
    _assert_same_instances(meta_out, std_out)


@pytest.mark.parametrize("adapt", ["predictor", "box_head+predictor"])
def test_head_forward_with_explicit_theta0(tiny_cfg, adapt):
    meta, _ = _heads(_cfg(tiny_cfg, "MODEL.META.ADAPT", adapt))
    features, proposals, _ = _inputs()
    x = meta.roi_features(features, proposals)
    theta0 = dict(meta.adaptable_parameters())
    index = proposals_task_index(proposals)
    assert index.tolist() == [0] * NUM_PROPOSALS[0] + [1] * NUM_PROPOSALS[1]
    with torch.no_grad():
        ref = meta.head_forward(x)
        plain = meta.head_forward(x, theta0)
        batched = meta.head_forward(x, batch_params(theta0, 2), index, 2)
        single = meta.head_forward(x[:NUM_PROPOSALS[0]], batch_params(theta0, 1), index[:NUM_PROPOSALS[0]], 1)
    for out in (plain, batched):
        for a, b in zip(out, ref):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(single[0], ref[0][:NUM_PROPOSALS[0]], rtol=1e-5, atol=1e-6)


def test_head_forward_batched_uses_each_tasks_theta(tiny_cfg):
    meta, _ = _heads(_cfg(tiny_cfg))
    features, proposals, _ = _inputs()
    x = meta.roi_features(features, proposals)
    index = proposals_task_index(proposals)
    theta0 = dict(meta.adaptable_parameters())
    batched = {k: torch.stack([v, v + 0.1]) for k, v in theta0.items()}  # task 1 gets θ0 + 0.1
    shifted = {k: v + 0.1 for k, v in theta0.items()}
    n0 = NUM_PROPOSALS[0]
    with torch.no_grad():
        scores, deltas = meta.head_forward(x, batched, index, 2)
        ref0 = meta.head_forward(x[:n0], theta0)
        ref1 = meta.head_forward(x[n0:], shifted)
    torch.testing.assert_close(scores[:n0], ref0[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scores[n0:], ref1[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(deltas[n0:], ref1[1], rtol=1e-5, atol=1e-6)


def test_forward_with_batched_theta0_equals_default(tiny_cfg, event_storage):
    meta, _ = _heads(_cfg(tiny_cfg))
    features, proposals, targets = _inputs()
    theta0 = batch_params(dict(meta.adaptable_parameters()), 2)
    meta.train()
    torch.manual_seed(5)
    _, ref = meta(None, features, proposals, targets)
    torch.manual_seed(5)
    _, got = meta(None, features, proposals, targets, params=theta0)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6)
    meta.eval()
    with torch.no_grad():
        ref_inst, _ = meta(None, features, proposals)
        got_inst, _ = meta(None, features, proposals, params=theta0)
    _assert_same_instances(got_inst, ref_inst)


def test_forward_with_plain_theta0_equals_default(tiny_cfg):
    meta, _ = _heads(_cfg(tiny_cfg))
    features, proposals, _ = _inputs()
    meta.eval()
    with torch.no_grad():
        ref, _ = meta(None, features, proposals)
        got, _ = meta(None, features, proposals, params=dict(meta.adaptable_parameters()))
    _assert_same_instances(got, ref)


def test_inner_losses_are_detectron2_roi_losses(tiny_cfg, event_storage):
    meta, _ = _heads(_cfg(tiny_cfg))
    meta.train()
    features, proposals, targets = _inputs()
    torch.manual_seed(0)
    sampled = meta.label_and_sample_proposals(proposals, targets)
    predictions = meta.head_forward(meta.roi_features(features, sampled))
    inner = meta.inner_losses(predictions, sampled)
    outer = meta.box_predictor.losses(predictions, sampled)
    assert set(inner) == {"loss_cls", "loss_box_reg"}
    for k in inner:
        torch.testing.assert_close(inner[k], outer[k], rtol=1e-6, atol=0)
    no_reg, _ = _heads(_cfg(tiny_cfg, "MODEL.META.ADAPT_REGRESSION", False))
    assert set(no_reg.inner_losses(predictions, sampled)) == {"loss_cls"}  # Table 1 "No Reg. Finetuning"


def test_ohnm_cross_entropy_keeps_positives_and_hardest_negatives():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [1.0, 0.5], [0.0, 4.0], [2.5, 0.0]])
    gt = torch.tensor([0, 1, 1, 1, 1, 1])  # class 0 = target, 1 = background
    losses = F.cross_entropy(logits, gt, reduction="none")
    # ratio 2 with one positive: the 2 hardest negatives are rows 2 and 5.
    expected = (losses[0] + losses[2] + losses[5]) / 3
    torch.testing.assert_close(ohnm_cross_entropy(logits, gt, 2.0), expected)
    # No positive: counted as one, so ratio 3 keeps the 3 hardest negatives (rows 2, 5, 3).
    torch.testing.assert_close(ohnm_cross_entropy(logits[1:], gt[1:], 3.0), (losses[2] + losses[5] + losses[3]) / 3)


def test_ohnm_replaces_the_outer_classification_loss(tiny_cfg, event_storage):
    meta, _ = _heads(_cfg(tiny_cfg, "MODEL.ROI_HEADS.OHNM_NEG_POS_RATIO", 1.0))
    features, proposals, targets = _inputs()
    torch.manual_seed(0)
    sampled = meta.label_and_sample_proposals(proposals, targets)
    predictions = meta.head_forward(meta.roi_features(features, sampled))
    gt_classes = torch.cat([p.gt_classes for p in sampled])
    got = meta.box_losses(predictions, sampled)
    torch.testing.assert_close(got["loss_cls"], ohnm_cross_entropy(predictions[0], gt_classes, 1.0))
    assert not torch.allclose(got["loss_cls"], F.cross_entropy(predictions[0], gt_classes))
