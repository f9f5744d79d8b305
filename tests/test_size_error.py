import math

import numpy as np
import pytest

from guided_tracking.evaluation.size_error import abs_log_area_ratios, median_abs_log_area_ratio


def test_hand_computed_ratios():
    gt = np.array([[0, 0, 10, 10], [5, 5, 10, 10], [5, 5, 10, 20], [0, 0, 10, 10]], dtype=float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 20, 10], [5, 5, 10, 10], [3, 3, 10, 10]], dtype=float)
    # frame 1 skipped: 2x larger, 2x smaller, exact -> log 2, log 2, 0
    np.testing.assert_allclose(abs_log_area_ratios(pred, gt), [math.log(2), math.log(2), 0.0])
    assert median_abs_log_area_ratio(pred, gt) == pytest.approx(math.log(2))
    assert abs_log_area_ratios(pred, gt, skip_first=False).shape == (4,)


def test_invalid_frames_are_left_out():
    gt = np.array([[0, 0, 10, 10], [0, 0, np.nan, 10], [0, 0, 10, 10], [0, 0, 0, 10]], dtype=float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 20, 20], [0, 0, 10, 10], [0, 0, 1, 1]])
    np.testing.assert_allclose(abs_log_area_ratios(pred, gt), [math.log(4)])  # 5th pred: no gt row
    assert math.isnan(median_abs_log_area_ratio(pred[:2], gt[:2]))
