"""Online fine-tuning loss (tracking/online.py) and the tracker's use of it:
first-frame samples teach classification and regression, collected samples
(labelled by the tracker's own estimate) classification only, with a fixed share."""
import numpy as np
import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from guided_tracking.modeling.maml import inner_loop
from guided_tracking.tracking import GuidedTracker
from guided_tracking.modeling.guided_rcnn import GuidedRCNN
from guided_tracking.tracking.online import online_loss_fn

REG = ("box_predictor.bbox_pred.weight", "box_predictor.bbox_pred.bias")
CLS = ("box_predictor.cls_score.weight", "box_predictor.cls_score.bias")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    yield


def _samples(roi_heads, n, seed, fc_dim):
    """n labelled ROIs: half positives (a box regressed from a shifted proposal)."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, fc_dim, generator=g)
    p = Instances((64, 64))
    p.proposal_boxes = Boxes(torch.tensor([[10.0, 10.0, 30.0, 30.0]]).repeat(n, 1) + torch.rand(n, 1, generator=g))
    p.gt_boxes = Boxes(torch.tensor([[12.0, 8.0, 34.0, 31.0]]).repeat(n, 1))
    p.gt_classes = torch.tensor([0, 1] * (n // 2))
    return inputs, [p]


@pytest.fixture
def heads(tiny_cfg):
    cfg = tiny_cfg("mnv2_fpn")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    return model.roi_heads, cfg.MODEL.ROI_BOX_HEAD.FC_DIM


def _grads(loss_fn, theta):
    theta = {k: v.detach().clone().requires_grad_(True) for k, v in theta.items()}
    grads = torch.autograd.grad(loss_fn(theta), list(theta.values()), allow_unused=True)
    return {k: (g if g is not None else torch.zeros_like(theta[k])) for k, g in zip(theta, grads)}


def test_without_collected_samples_it_is_the_inner_loss(heads):
    roi_heads, fc = heads
    init = _samples(roi_heads, 8, 0, fc)
    theta = {k: v.detach() for k, v in roi_heads.adaptable_parameters().items()}
    expected = sum(roi_heads.inner_losses(roi_heads.head_forward(init[0], theta), init[1]).values())
    assert float(online_loss_fn(roi_heads, init)(theta)) == pytest.approx(float(expected), rel=1e-6)
    assert float(online_loss_fn(roi_heads, init, None, 0.3)(theta)) == pytest.approx(float(expected), rel=1e-6)


def test_collected_samples_teach_classification_only(heads):
    roi_heads, fc = heads
    init, collected = _samples(roi_heads, 8, 0, fc), _samples(roi_heads, 8, 1, fc)
    theta = {k: v.detach() for k, v in roi_heads.adaptable_parameters().items()}
    share = 0.4
    g_init = _grads(online_loss_fn(roi_heads, init), theta)
    g_both = _grads(online_loss_fn(roi_heads, init, collected, share), theta)
    # Regression: only the first frame's (ground-truth) samples, at weight `share`.
    for k in REG:
        torch.testing.assert_close(g_both[k], share * g_init[k])
    # Classification: the collected samples count too.
    assert not torch.allclose(g_both[CLS[0]], share * g_init[CLS[0]])
    # The loss is the stated mixture.
    init_loss = float(online_loss_fn(roi_heads, init)(theta))
    scores, _ = roi_heads.head_forward(collected[0], theta)
    cls = float(torch.nn.functional.cross_entropy(scores, collected[1][0].gt_classes))
    assert float(online_loss_fn(roi_heads, init, collected, share)(theta)) == \
        pytest.approx(share * init_loss + (1 - share) * cls, rel=1e-6)


def test_first_frame_share_does_not_shrink_with_memory(heads):
    """Ten times more collected samples leave the first-frame weight unchanged."""
    roi_heads, fc = heads
    init = _samples(roi_heads, 8, 0, fc)
    few = _samples(roi_heads, 8, 1, fc)
    many = GuidedRCNN.concat_samples([_samples(roi_heads, 8, s, fc) for s in range(1, 11)])
    theta = {k: v.detach() for k, v in roi_heads.adaptable_parameters().items()}
    g_few = _grads(online_loss_fn(roi_heads, init, few, 0.5), theta)
    g_many = _grads(online_loss_fn(roi_heads, init, many, 0.5), theta)
    for k in REG:
        torch.testing.assert_close(g_few[k], g_many[k])


def test_bad_share_is_refused(heads):
    roi_heads, fc = heads
    with pytest.raises(ValueError, match="INIT_SHARE"):
        online_loss_fn(roi_heads, _samples(roi_heads, 4, 0, fc), None, 0.0)


def test_tracker_updates_with_the_online_loss(tiny_cfg):
    cfg = tiny_cfg("mnv2_fpn", ["MODEL.GUIDED.EXEMPLAR_SIZES", [32], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
                                "TRACKER.INIT_SAMPLES", 4, "TRACKER.INIT_STEPS", 2, "TRACKER.UPDATE_STEPS", 1,
                                "TRACKER.UPDATE_INTERVAL", 2, "TRACKER.ANCHOR_WEIGHT", 1.0,
                                "TRACKER.COLLECT_THRESHOLD", 0.0, "TRACKER.LOST_THRESHOLD", 0.0,
                                "TRACKER.STEP_SIZE", 0.1, "TRACKER.INIT_SHARE", 0.7])
    torch.manual_seed(0)
    tracker = GuidedTracker(cfg, build_model(cfg))
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
    tracker.initialize(frame, [40, 30, 16, 12])
    tracker.track(np.roll(frame, 1, axis=1))
    tracker.track(np.roll(frame, 2, axis=1))
    assert tracker.last_updated and len(tracker.state.memory) == 2
    loss_fn = online_loss_fn(tracker.model.roi_heads, tracker.state.init_samples,
                             GuidedRCNN.concat_samples(list(tracker.state.memory)), 0.7)
    expected, _ = inner_loop(loss_fn, tracker.state.theta0, 1, 0.1, differentiable=False)
    for k, v in expected.items():  # λ = 1: θ_t = f(θ_0; samples)
        torch.testing.assert_close(tracker.state.theta[k], v)
