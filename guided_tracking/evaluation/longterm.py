"""Long-term tracking metrics: precision, recall and F-score over confidence thresholds
(VOT-LT; Lukežič et al., "Now you see me: evaluating performance in long-term
visual tracking", 2018).

A long-term tracker reports, every frame, a box and a confidence that the target is
there. At a threshold τ, a frame whose confidence is below τ counts as "target
absent" (no prediction). With Ω the IoU of prediction and ground truth (0 when
either is missing):

* precision Pr(τ) = mean of Ω over the frames with a prediction (N_p(τ) of them);
* recall    Re(τ) = mean of Ω over the frames where the target is visible (N_g);
* F(τ) = 2 Pr Re / (Pr + Re).

Per sequence the curves are computed over the same thresholds; the data set's
curves are the means over sequences (as VOT-LT), and its F-score is the maximum
of F(τ) over τ, reported with the τ that gives it, the precision and recall there.
A tracker that always reports the target (confidence constant) has Pr equal to
its mean IoU over *all* frames, absent ones counting 0, and Re equal to its mean
IoU over visible frames.
"""
import os
from typing import Dict, Optional, Sequence

import numpy as np

__all__ = ["frame_ious", "visible_frames", "pr_re_curves", "longterm_scores", "thresholds_for",
           "score_longterm", "format_longterm_table"]

DEFAULT_NUM_THRESHOLDS = 100


def frame_ious(boxes_xywh: np.ndarray, anno_xywh: np.ndarray) -> np.ndarray:
    """(N,) IoU of each frame's prediction with its ground truth; 0 where the
    ground truth is missing (NaN / non-positive size) or the prediction is invalid."""
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    anno = np.asarray(anno_xywh, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != len(anno):
        raise ValueError(f"{len(boxes)} predicted boxes for {len(anno)} annotated frames")
    valid = visible_frames(anno) & np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    ious = np.zeros(len(boxes))
    b, a = boxes[valid], anno[valid]
    x0 = np.maximum(b[:, 0], a[:, 0])
    y0 = np.maximum(b[:, 1], a[:, 1])
    x1 = np.minimum(b[:, 0] + b[:, 2], a[:, 0] + a[:, 2])
    y1 = np.minimum(b[:, 1] + b[:, 3], a[:, 1] + a[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    ious[valid] = inter / (b[:, 2] * b[:, 3] + a[:, 2] * a[:, 3] - inter)
    return ious


def visible_frames(anno_xywh: np.ndarray) -> np.ndarray:
    """(N,) True where the ground truth has a box (finite, positive size)."""
    anno = np.asarray(anno_xywh, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(anno), axis=1) & (anno[:, 2] > 0) & (anno[:, 3] > 0)


def thresholds_for(confidences: Sequence[np.ndarray], num: int = DEFAULT_NUM_THRESHOLDS) -> np.ndarray:
    """Thresholds τ spanning the confidences of all sequences (VOT-LT takes up to
    100 of their quantiles), ascending; the first lets every frame through."""
    values = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in confidences] or [np.zeros(0)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.array([-np.inf])
    return np.unique(np.concatenate([[-np.inf], np.quantile(values, np.linspace(0, 1, num))]))


def pr_re_curves(ious: np.ndarray, confidences: np.ndarray, visible: np.ndarray,
                 thresholds: np.ndarray, first_frame: bool = False):
    """Pr(τ) and Re(τ) of one sequence, each (T,). ``first_frame`` False leaves out
    frame 1 (given, not tracked). A NaN confidence (unreadable frame) is "absent"."""
    start = 0 if first_frame else 1
    ious, visible = np.asarray(ious, float)[start:], np.asarray(visible, bool)[start:]
    conf = np.asarray(confidences, float)[start:]
    conf = np.where(np.isfinite(conf), conf, -np.inf)
    predicted = conf[None, :] >= np.asarray(thresholds, float)[:, None]  # (T, N)
    n_pred = predicted.sum(axis=1)
    hit = np.where(predicted, ious[None, :], 0.0)
    # No prediction at all: precision is undefined; VOT-LT's convention is 1 (nothing wrong was said).
    precision = np.where(n_pred > 0, hit.sum(axis=1) / np.maximum(n_pred, 1), 1.0)
    n_vis = int(visible.sum())
    recall = (hit * visible[None, :]).sum(axis=1) / n_vis if n_vis else np.zeros(len(thresholds))
    return precision, recall


def longterm_scores(sequences: Dict[str, dict], thresholds: Optional[np.ndarray] = None) -> dict:
    """The long-term scores of a tracker.

    Args:
        sequences: {name: {"boxes_xywh": (N, 4), "anno_xywh": (N, 4) (NaN = absent),
            "confidences": (N,) or None (None: always present, confidence 1)}}.
        thresholds: τ values; default ``thresholds_for`` all confidences.

    Returns:
        {"f_score", "precision", "recall", "threshold" (at the best F),
         "curve": {"thresholds", "precision", "recall", "f"},
         "sequences": {name: {"f_score", "precision", "recall", "absent_frames"}}}
        where a sequence's own numbers are taken at the data set's best τ.
    """
    conf = {k: (np.ones(len(v["boxes_xywh"])) if v.get("confidences") is None else np.asarray(v["confidences"], float))
            for k, v in sequences.items()}
    if thresholds is None:
        thresholds = thresholds_for(list(conf.values()))
    curves = {}
    for name, v in sequences.items():
        vis = visible_frames(v["anno_xywh"])
        curves[name] = pr_re_curves(frame_ious(v["boxes_xywh"], v["anno_xywh"]), conf[name], vis, thresholds)
    precision = np.mean([c[0] for c in curves.values()], axis=0)
    recall = np.mean([c[1] for c in curves.values()], axis=0)
    f = _f(precision, recall)
    best = int(np.argmax(f))
    per_seq = {}
    for name, (pr, re) in curves.items():
        per_seq[name] = {"f_score": float(_f(pr[best], re[best])), "precision": float(pr[best]),
                         "recall": float(re[best]),
                         "absent_frames": int((~visible_frames(sequences[name]["anno_xywh"])).sum())}
    return {"f_score": float(f[best]), "precision": float(precision[best]), "recall": float(recall[best]),
            "threshold": float(thresholds[best]),
            "curve": {"thresholds": [float(t) for t in thresholds], "precision": precision.tolist(),
                      "recall": recall.tolist(), "f": f.tolist()},
            "sequences": per_seq}


def _f(precision, recall):
    precision, recall = np.asarray(precision, float), np.asarray(recall, float)
    denom = precision + recall
    return np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)


def score_longterm(benchmark: str, root: str, dataset, seq_names, result_dir: str, got10k_layout: bool):
    """The long-term scores of the result files in ``result_dir`` when any of
    ``seq_names`` has frames without the target (``sequences.absence_mask``), else
    None. A tracker without a confidence file reports the target in every frame."""
    from .results import _result_paths
    from .sequences import absence_mask

    sequences, any_absent = {}, False
    for name in seq_names:
        anno = np.asarray(dataset[name][1], dtype=np.float64).reshape(-1, 4).copy()
        absent = absence_mask(benchmark, root, name, anno)
        any_absent |= bool(absent.any())
        anno[absent] = np.nan
        paths = _result_paths(result_dir, name, got10k_layout)
        boxes = np.loadtxt(paths["boxes"], delimiter=",", ndmin=2)
        conf = np.loadtxt(paths["confidence"], ndmin=1) if os.path.isfile(paths["confidence"]) else None
        sequences[name] = {"boxes_xywh": boxes, "anno_xywh": anno, "confidences": conf}
    return longterm_scores(sequences) if any_absent else None


def format_longterm_table(reports: Dict[str, dict]) -> str:
    """A table of the long-term scores of ``{tracker: report}`` (those that have them)."""
    from tabulate import tabulate

    rows = [[name, r["longterm"]["f_score"], r["longterm"]["precision"], r["longterm"]["recall"],
             r["longterm"]["threshold"], sum(s["absent_frames"] for s in r["longterm"]["sequences"].values())]
            for name, r in reports.items() if r.get("longterm")]
    return tabulate(rows, headers=["Tracker", "LT F-score", "LT Pr", "LT Re", "τ at max F", "absent frames"],
                    tablefmt="pipe", floatfmt=".3f")
