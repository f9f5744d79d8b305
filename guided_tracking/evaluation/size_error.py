"""Box size error: how far the predicted box's area is from the ground truth's.

AUC and OP75 mix position and size; the size alone is what drifts when the
tracker's scale estimate is biased (it re-crops at its own estimate, so a bias
compounds). ``|log(area_pred / area_gt)|`` is 0 for the right size and symmetric
in growing vs. shrinking: 0.3 is about 1.35x too large or too small in area.
"""
import numpy as np

__all__ = ["abs_log_area_ratios", "median_abs_log_area_ratio"]


def abs_log_area_ratios(pred_xywh, gt_xywh, skip_first: bool = True) -> np.ndarray:
    """``|log(area_pred / area_gt)|`` per frame where both areas are finite and > 0.

    Args:
        pred_xywh, gt_xywh: ``(N, 4)`` boxes ``(x, y, w, h)``; the shorter sets N.
        skip_first: leave out frame 1, where the tracker is given the ground truth.
    """
    pred = np.asarray(pred_xywh, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    n = min(len(pred), len(gt))
    start = 1 if skip_first else 0
    area_p = pred[start:n, 2] * pred[start:n, 3]
    area_g = gt[start:n, 2] * gt[start:n, 3]
    ok = np.isfinite(area_p) & np.isfinite(area_g) & (area_p > 0) & (area_g > 0)
    return np.abs(np.log(area_p[ok] / area_g[ok]))


def median_abs_log_area_ratio(pred_xywh, gt_xywh, skip_first: bool = True) -> float:
    """Median of :func:`abs_log_area_ratios` (NaN when no frame qualifies)."""
    ratios = abs_log_area_ratios(pred_xywh, gt_xywh, skip_first)
    return float(np.median(ratios)) if ratios.size else float("nan")
