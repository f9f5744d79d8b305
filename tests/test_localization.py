"""Target localisation from pre-NMS detections (paper Sec. 3.4, Eq. 5)."""
import math

import numpy as np
import pytest
import torch

from guided_tracking.data.crop import CropGeometry
from guided_tracking.tracking.localization import (
    SIGMA,
    SIZE_LR,
    Localization,
    clamp_target_side,
    hann_window_at,
    localize,
    normalized_scale_aspect_penalty,
    penalized_scores,
    scale_aspect_penalty,
    update_state,
)

OUT = 480


def _box(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_constants_from_paper():
    assert SIGMA == 0.55 and SIZE_LR == 0.275


def test_eq5_hand_computed():
    # prev 10x10: r = 1, s = 10. Candidate with r' = 1.5 and s' = 12 -> d_r = 1.5, d_s = 1.2.
    w, h = math.sqrt(144 * 1.5), math.sqrt(144 / 1.5)
    # Same changes in the other direction: r' = 1 / 1.5, s' = 10 / 1.2.
    s2 = 10 / 1.2
    w2, h2 = s2 * math.sqrt(1 / 1.5), s2 / math.sqrt(1 / 1.5)
    p = scale_aspect_penalty(torch.tensor([[w, h], [w2, h2], [10.0, 10.0]], dtype=torch.float64), (10.0, 10.0))
    expected = math.exp(-abs(1.5 + 1.2 - 1) / 0.55)  # = exp(-1.7 / 0.55)
    assert expected == pytest.approx(0.0454606078, rel=1e-9)
    np.testing.assert_allclose(p.numpy(), [expected, expected, math.exp(-1 / 0.55)], rtol=1e-9)
    # Normalised by the no-change value: no change -> 1, the rest scaled by exp(1 / sigma).
    pn = normalized_scale_aspect_penalty(np.array([[w, h], [10.0, 10.0]]), (10.0, 10.0))
    np.testing.assert_allclose(pn.numpy(), [math.exp(-0.7 / 0.55), 1.0], rtol=1e-9)


def test_cosine_window_values():
    centers = torch.tensor([[240.0, 240.0], [0.0, 240.0], [480.0, 480.0], [120.0, 240.0], [-50.0, 240.0]])
    np.testing.assert_allclose(hann_window_at(centers, OUT).numpy(), [1.0, 0.0, 0.0, 0.5, 0.0], atol=1e-6)


def test_pscore_hand_computed():
    boxes = torch.tensor([_box(240, 240, 100, 100), _box(120, 240, 100, 100)], dtype=torch.float64)
    scores = torch.tensor([0.8, 0.8], dtype=torch.float64)
    pscore, p_sr = penalized_scores(boxes, scores, (100.0, 100.0), OUT, window_influence=0.4)
    np.testing.assert_allclose(p_sr.numpy(), [1.0, 1.0], rtol=1e-9)
    # 0.8 * 1 * 0.6 + window * 0.4, window = 1 at the centre, hann(0.25) * hann(0.5) = 0.5 off-centre.
    np.testing.assert_allclose(pscore.numpy(), [0.88, 0.68], rtol=1e-9)


def test_centre_candidate_beats_far_one_with_same_score():
    boxes = np.array([_box(60, 60, 100, 100), _box(240, 240, 100, 100), _box(420, 240, 100, 100)])
    loc = localize(boxes, np.array([0.9, 0.9, 0.9]), (100.0, 100.0), OUT)
    assert isinstance(loc, Localization)
    assert loc.index == 1 and loc.center_xy_crop == (240.0, 240.0)
    assert loc.score == pytest.approx(0.9) and loc.pscore > 0.9


def test_shape_change_penalised_over_slightly_lower_score():
    # Same position; the higher-scored candidate doubles the scale and changes the aspect ratio.
    boxes = np.array([_box(240, 240, 200, 100), _box(240, 240, 100, 100)])
    loc = localize(boxes, np.array([0.95, 0.8]), (100.0, 100.0), OUT)
    assert loc.index == 1


def test_size_smoothing_hand_computed():
    boxes = torch.tensor([_box(250, 230, 120, 120)], dtype=torch.float64)
    scores = torch.tensor([0.9], dtype=torch.float64)
    linear = localize(boxes, scores, (100.0, 100.0), OUT, damped=False, log_space=False)
    assert linear.center_xy_crop == (250.0, 230.0)
    np.testing.assert_allclose(linear.size_wh_crop, [105.5, 105.5])  # 0.725 * 100 + 0.275 * 120
    # Log space (default): 100 * (120 / 100) ** 0.275.
    undamped = localize(boxes, scores, (100.0, 100.0), OUT, damped=False)
    np.testing.assert_allclose(undamped.size_wh_crop, [100.0 * 1.2 ** 0.275] * 2, rtol=1e-12)
    damped = localize(boxes, scores, (100.0, 100.0), OUT, log_space=False)
    # lr_eff = 0.275 * p_sr_norm * score, p_sr_norm = exp(-(1 + 1.2 - 2) / 0.55) (d_r = 1, d_s = 1.2)
    assert 0.275 * math.exp(-0.2 / 0.55) * 0.9 == pytest.approx(0.1720481223)
    np.testing.assert_allclose(damped.size_wh_crop, [103.4409624456, 103.4409624456], rtol=1e-9)
    # Non-square: both sides move with the same rate towards B*'s sides.
    loc = localize(np.array([_box(240, 240, 80, 120)]), np.array([1.0]), (100.0, 100.0), OUT, damped=False,
                   log_space=False)
    np.testing.assert_allclose(loc.size_wh_crop, [0.725 * 100 + 0.275 * 80, 0.725 * 100 + 0.275 * 120])


def test_log_space_size_update_is_symmetric():
    """Growing toward 2x and shrinking toward 0.5x move the size by the same factor;
    a linear blend moves twice as far (in log size) toward growth."""
    def size(side, log_space):
        loc = localize(np.array([_box(240, 240, side, side)]), np.array([1.0]), (100.0, 100.0), OUT,
                       damped=False, log_space=log_space)
        return loc.size_wh_crop[0]

    assert math.log(size(200, True) / 100) == pytest.approx(-math.log(size(50, True) / 100))
    assert math.log(size(200, False) / 100) > 1.5 * -math.log(size(50, False) / 100)


def test_max_scale_step_limits_change_per_frame():
    boxes = np.array([_box(240, 240, 400, 400), _box(240, 240, 10, 10)])
    grow = localize(boxes[:1], np.array([1.0]), (100.0, 100.0), OUT, damped=False, max_scale_step=0.1)
    shrink = localize(boxes[1:], np.array([1.0]), (100.0, 100.0), OUT, damped=False, max_scale_step=0.1)
    np.testing.assert_allclose(grow.size_wh_crop, [110.0, 110.0])
    np.testing.assert_allclose(shrink.size_wh_crop, [100.0 / 1.1, 100.0 / 1.1])
    free = localize(boxes[:1], np.array([1.0]), (100.0, 100.0), OUT, damped=False)
    assert free.size_wh_crop[0] == pytest.approx(100.0 * 4.0 ** 0.275)


def test_clamp_target_side_keeps_centre_and_aspect():
    # Side sqrt(40 * 160) = 80 against an initial side of 10 with bounds (0.2, 5): capped at 50.
    x, y, w, h = clamp_target_side((0.0, 0.0, 40.0, 160.0), 10.0, (0.2, 5.0))
    assert math.sqrt(w * h) == pytest.approx(50.0)
    assert w / h == pytest.approx(0.25)
    assert (x + w / 2, y + h / 2) == pytest.approx((20.0, 80.0))
    assert clamp_target_side((5.0, 5.0, 1.0, 1.0), 10.0, (0.2, 5.0))[2] == pytest.approx(2.0)
    assert clamp_target_side((5.0, 5.0, 12.0, 12.0), 10.0, (0.2, 5.0)) == (5.0, 5.0, 12.0, 12.0)


def test_empty_and_nan_candidates():
    assert localize(np.zeros((0, 4)), np.zeros((0,)), (50.0, 50.0), OUT) is None
    assert localize(torch.zeros((0, 4)), torch.zeros((0,)), (50.0, 50.0), OUT) is None
    boxes = np.array([_box(240, 240, 50, 50), _box(60, 60, 50, 50), _box(230, 240, 50, 50)])
    assert localize(boxes, np.array([np.nan, np.nan, np.nan]), (50.0, 50.0), OUT) is None
    # The NaN-scored candidate sits at the centre and would otherwise win; the 0.4 one near the
    # centre beats the 0.5 one near the corner.
    loc = localize(boxes, np.array([np.nan, 0.5, 0.4]), (50.0, 50.0), OUT)
    assert loc.index == 2 and math.isfinite(loc.pscore)
    boxes[2, 0] = np.nan  # a NaN box is ignored as well
    assert localize(boxes, np.array([np.nan, 0.5, 0.4]), (50.0, 50.0), OUT).index == 1


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    centers = rng.uniform(50, 430, size=(64, 2))
    sizes = rng.uniform(20, 150, size=(64, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    scores = rng.uniform(0, 1, size=64)
    a = localize(boxes, scores, (80.0, 60.0), OUT)
    boxes_t, scores_t = torch.as_tensor(boxes, dtype=torch.float32), torch.as_tensor(scores, dtype=torch.float32)
    b = localize(boxes_t, scores_t, (80.0, 60.0), OUT)
    assert a.index == b.index
    np.testing.assert_allclose(a.size_wh_crop, b.size_wh_crop, rtol=1e-5)


def test_update_state_maps_back_to_image():
    # Search crop of side 200 centred at (100, 100): scale 480 / 200 = 2.4.
    geom = CropGeometry((100.0, 100.0), 200.0, OUT)
    loc = Localization((264.0, 240.0), (96.0, 48.0), 0.9, 0.9, 0)
    box = update_state((80.0, 80.0, 40.0, 40.0), loc, geom, (640, 480))
    np.testing.assert_allclose(box, (90.0, 90.0, 40.0, 20.0))  # centre (110, 100), size (40, 20)


def test_update_state_clips_centre_and_size():
    geom = CropGeometry((10.0, 10.0), 200.0, OUT)  # crop origin (-90, -90)
    # B* at the crop's top-left corner -> centre (-90, -90) in the image -> clipped to (0, 0).
    loc = Localization((0.0, 0.0), (2400.0, 2.4), 0.9, 0.9, 0)  # 1000 x 1 px in the image
    x, y, w, h = update_state((0.0, 0.0, 20.0, 20.0), loc, geom, (320, 240), min_size_px=10.0)
    assert (x + w / 2, y + h / 2) == (0.0, 0.0)
    assert (w, h) == (320.0, 10.0)
    # No candidate: keep the previous box; NaN result: keep the previous values.
    assert update_state((5.0, 6.0, 20.0, 30.0), None, geom, (320, 240)) == (5.0, 6.0, 20.0, 30.0)
    nan_loc = Localization((float("nan"), 240.0), (float("nan"), 48.0), 0.9, 0.9, 0)
    box = update_state((5.0, 6.0, 20.0, 30.0), nan_loc, geom, (320, 240))
    assert all(math.isfinite(v) for v in box)
    assert box[0] + box[2] / 2 == pytest.approx(15.0) and box[2] == 20.0
    # Even a NaN previous state yields a finite box inside the image.
    box = update_state((float("nan"),) * 4, None, geom, (320, 240))
    assert box == (155.0, 115.0, 10.0, 10.0)
