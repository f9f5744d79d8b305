"""Anchored updating (paper 3.4, Eq. 4).

θ_t = λ f(θ_0; S_t) + (1 − λ) f(θ_{t−1}; S_t)

1. ``anchored_update`` with a toy, non-linear f against hand-computed values
   (a linear f could not tell "adapt, then mix" from "mix, then adapt").
2. The tracker's real path: with the sample set fixed, θ_t after an update frame
   equals the mix of two separate ``model.adapt`` calls of N_τ steps.
"""
import numpy as np
import pytest
import torch

from guided_tracking.tracking import GuidedTracker, anchored_update
from guided_tracking.tracking.anchored import mix_params
from guided_tracking.modeling.maml import inner_loop
from guided_tracking.modeling.guided_rcnn import GuidedRCNN
from guided_tracking.tracking.online import online_loss_fn

from detectron2.modeling import build_model

ALPHA = 0.1


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    """torch and OpenCV single-threaded for this module (see conftest.single_threaded)."""
    yield


class ToyAdapt:
    """f(θ) = θ − α·g(θ) with g(θ) = θ² (element-wise); records its inputs."""

    def __init__(self):
        self.calls = []

    def __call__(self, params):
        self.calls.append({k: v.clone() for k, v in params.items()})
        return {k: v - ALPHA * v ** 2 for k, v in params.items()}


THETA0 = {"w": torch.tensor([1.0, 2.0], dtype=torch.float64), "b": torch.tensor([0.5], dtype=torch.float64)}
THETA_PREV = {"w": torch.tensor([3.0, -1.0], dtype=torch.float64), "b": torch.tensor([-2.0], dtype=torch.float64)}
# By hand: f(θ0) = [1 - 0.1, 2 - 0.4], [0.5 - 0.025] = [0.9, 1.6], [0.475]
#          f(θprev) = [3 - 0.9, -1 - 0.1], [-2 - 0.4] = [2.1, -1.1], [-2.4]
F_THETA0 = {"w": [0.9, 1.6], "b": [0.475]}
F_THETA_PREV = {"w": [2.1, -1.1], "b": [-2.4]}
EXPECTED = {
    0.0: F_THETA_PREV,
    0.5: {"w": [1.5, 0.25], "b": [-0.9625]},
    1.0: F_THETA0,
    0.25: {"w": [0.25 * 0.9 + 0.75 * 2.1, 0.25 * 1.6 - 0.75 * 1.1], "b": [0.25 * 0.475 - 0.75 * 2.4]},
}


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 0.25])
def test_eq4_hand_computed(lam):
    f = ToyAdapt()
    theta0 = {k: v.clone() for k, v in THETA0.items()}
    theta_prev = {k: v.clone() for k, v in THETA_PREV.items()}
    out = anchored_update(f, theta0, theta_prev, lam)
    assert set(out) == {"w", "b"}
    for key, expected in EXPECTED[lam].items():
        np.testing.assert_allclose(out[key].numpy(), expected, rtol=0, atol=1e-12)
    # Inputs are not modified in place.
    for key in THETA0:
        assert torch.equal(theta0[key], THETA0[key]) and torch.equal(theta_prev[key], THETA_PREV[key])


@pytest.mark.parametrize("lam, branches", [(0.0, ["prev"]), (1.0, ["anchor"]), (0.5, ["anchor", "prev"])])
def test_only_weighted_branches_are_adapted(lam, branches):
    """λ = 0 / 1 adapt one branch only (no wasted inner loop); 0 < λ < 1 both, from θ_0 and θ_{t−1}."""
    f = ToyAdapt()
    anchored_update(f, THETA0, THETA_PREV, lam)
    seen = ["anchor" if torch.equal(c["w"], THETA0["w"]) else "prev" for c in f.calls]
    assert seen == branches


def test_mix_params():
    a = {"x": torch.tensor([2.0, 4.0])}
    b = {"x": torch.tensor([0.0, 8.0])}
    np.testing.assert_allclose(mix_params(a, b, 0.25)["x"].numpy(), [0.5, 7.0])


# ---------------------------------------------------------------------------
# The tracker's real path
# ---------------------------------------------------------------------------
def _frames(num, size_wh=(96, 80), seed=0):
    """Noise background with a textured rectangle drifting right/down; BGR uint8."""
    rng = np.random.default_rng(seed)
    w, h = size_wh
    background = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    texture = rng.integers(100, 255, (20, 16, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(num):
        x, y = 30 + i, 25 + i // 2
        frame = background.copy()
        frame[y:y + 20, x:x + 16] = texture
        frames.append(frame)
        boxes.append(np.array([x, y, 16, 20], dtype=np.float64))
    return frames, boxes


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_tracker_update_is_eq4_of_separate_adapt_calls(tiny_cfg, lam):
    steps, interval = 2, 3
    cfg = tiny_cfg("mnv2_fpn", [
        "MODEL.GUIDED.EXEMPLAR_SIZES", [32], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
        "TRACKER.INIT_SAMPLES", 4, "TRACKER.INIT_STEPS", 3,
        "TRACKER.UPDATE_STEPS", steps, "TRACKER.UPDATE_INTERVAL", interval, "TRACKER.ANCHOR_WEIGHT", lam,
        "TRACKER.COLLECT_THRESHOLD", 0.0, "TRACKER.LOST_THRESHOLD", 0.0, "TRACKER.STEP_SIZE", 0.2,
    ])
    torch.manual_seed(0)
    model = build_model(cfg)
    tracker = GuidedTracker(cfg, model)
    frames, boxes = _frames(2 * interval + 1)
    tracker.initialize(frames[0], boxes[0])
    state = tracker.state
    model_theta0 = {k: v.detach() for k, v in model.theta0().items()}
    for key, value in model_theta0.items():
        assert torch.equal(state.theta0[key], value)

    # θ_1 = f^{N_1}(θ_0; first-frame samples)
    theta1, _ = model.adapt(*state.init_samples, model_theta0, 3, differentiable=False, step_size=0.2)
    for key in theta1:
        torch.testing.assert_close(state.theta[key], theta1[key], rtol=1e-5, atol=1e-6)
        assert not torch.equal(state.theta[key], state.theta0[key])  # adaptation did something

    for t in range(1, 2 * interval + 1):
        theta_prev = {k: v.clone() for k, v in state.theta.items()}
        tracker.track(frames[t])
        assert tracker.last_updated == (t % interval == 0)
        if not tracker.last_updated:
            for key in theta_prev:  # no update: θ unchanged
                assert torch.equal(state.theta[key], theta_prev[key])
            continue
        # The sample set of this update: first-frame samples + memory (incl. this
        # frame's), with the online loss of tracking/online.py.
        assert len(state.memory) == t
        collected = GuidedRCNN.concat_samples(list(state.memory))
        assert collected[0].shape[0] == sum(len(p) for p in collected[1])
        loss_fn = online_loss_fn(model.roi_heads, state.init_samples, collected, tracker.init_share)
        from_anchor, _ = inner_loop(loss_fn, state.theta0, steps, 0.2, differentiable=False)
        from_prev, _ = inner_loop(loss_fn, theta_prev, steps, 0.2, differentiable=False)
        for key in from_anchor:
            expected = lam * from_anchor[key] + (1 - lam) * from_prev[key]
            torch.testing.assert_close(state.theta[key], expected, rtol=1e-5, atol=1e-6)
        # The anchor itself never moves.
        for key, value in model_theta0.items():
            assert torch.equal(state.theta0[key], value)
