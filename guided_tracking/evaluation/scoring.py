"""Scoring result files with got10k's own experiments (OTB, UAV123, NfS, LaSOT,
GOT-10k), without their plots or prints; per-sequence and overall numbers."""
import contextlib
import io
import logging
import math
import os

import numpy as np
from got10k.experiments import ExperimentGOT10k, ExperimentOTB, ExperimentUAV123
from got10k.utils.metrics import center_error, rect_iou

from .sequences import _GOT10K_LAYOUT, _SequenceSubset

logger = logging.getLogger(__name__)


class _NoPlotMixin:
    def plot_curves(self, *args, **kwargs):
        # got10k plots at 300 dpi from its performance.json and changes global
        # rcParams; plot_curves() below draws the same curves from report.json.
        pass


class _OTBEval(_NoPlotMixin, ExperimentOTB):
    """got10k's OTB experiment on a dataset we built (ExperimentOTB.__init__ would download)."""

    def __init__(self, dataset, result_dir, report_dir):
        self.dataset = dataset
        self.result_dir = result_dir
        self.report_dir = report_dir
        self.nbins_iou = 21
        self.nbins_ce = 51


class _UAVEval(_OTBEval):
    """OTB metrics skipping frames without ground truth (NaN rows), as got10k's UAV123 experiment."""

    _calc_metrics = ExperimentUAV123._calc_metrics


class _LaSOTEval(_OTBEval):
    """OTB metrics on LaSOT plus normalized precision (got10k 0.1.3 has no LaSOT experiment).

    Frames without a target (NaN or non-positive ground-truth size) are skipped.
    """

    nbins_nce = 51  # thresholds 0..0.5 on the size-normalized center error, as in later got10k

    def _valid(self, anno):
        return np.all(np.isfinite(anno), axis=1) & (anno[:, 2] > 0) & (anno[:, 3] > 0)

    def _calc_metrics(self, boxes, anno):
        valid = self._valid(anno)
        return _ious_and_errors(boxes[valid], anno[valid])

    def normalized_precision(self, tracker_name):
        """Per-sequence and overall normalized precision (area under the 0..0.5 curve)."""
        thresholds = np.linspace(0, 0.5, self.nbins_nce)
        curves = {}
        for s, seq_name in enumerate(self.dataset.seq_names):
            anno = self.dataset[s][1]
            boxes = np.loadtxt(os.path.join(self.result_dir, tracker_name, f"{seq_name}.txt"), delimiter=",")
            boxes[0] = anno[0]  # as ExperimentOTB.report
            valid = self._valid(anno)
            errors = _normalized_center_error(boxes[valid], anno[valid])
            curves[seq_name] = np.mean(errors[:, None] <= thresholds[None, :], axis=0)
        overall = np.mean(list(curves.values()), axis=0)
        return {name: float(np.mean(c)) for name, c in curves.items()}, overall


def _ious_and_errors(boxes, anno):
    return rect_iou(boxes, anno), center_error(boxes, anno)


def _normalized_center_error(boxes_xywh, anno_xywh):
    # got10k >= 0.1.4's normalized_center_error (not in 0.1.3): center offset
    # divided per axis by the ground-truth width/height (at least 1 pixel).
    centers = boxes_xywh[:, :2] + (boxes_xywh[:, 2:] - 1) / 2
    centers_gt = anno_xywh[:, :2] + (anno_xywh[:, 2:] - 1) / 2
    return np.sqrt(np.sum(((centers - centers_gt) / np.maximum(anno_xywh[:, 2:], 1.0)) ** 2, axis=-1))


class _GOT10kEval(_NoPlotMixin, ExperimentGOT10k):
    """got10k's GOT-10k experiment on a dataset we built."""

    def __init__(self, dataset, subset, result_dir, report_dir):
        self.dataset = dataset
        self.subset = subset
        self.result_dir = result_dir
        self.report_dir = report_dir
        self.nbins_iou = 101
        self.repetitions = 1


def _make_experiment(benchmark, dataset, results_root, reports_root):
    if benchmark in _GOT10K_LAYOUT:
        return _GOT10kEval(dataset, benchmark.split("_")[1], results_root, reports_root)
    if benchmark == "lasot":
        return _LaSOTEval(dataset, results_root, reports_root)
    if benchmark in ("uav123", "uav20l", "folder"):
        return _UAVEval(dataset, results_root, reports_root)
    return _OTBEval(dataset, results_root, reports_root)  # OTB, NfS (got10k's NfS experiment is plain OTB)


def _clean(value):
    """JSON-friendly float: None for missing values (NaN, got10k's -1 speed)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _curve_value(curve, threshold):
    thresholds = np.linspace(0, 1, len(curve))
    return _clean(curve[int(np.argmin(np.abs(thresholds - threshold)))])


def _otb_scores(perf):
    return {
        "auc": _clean(perf["success_score"]),
        "precision_20": _clean(perf["precision_score"]),
        "op50": _clean(perf["success_rate"]),
        "op75": _curve_value(perf["success_curve"], 0.75),
        "fps": _clean(perf["speed_fps"]) if perf["speed_fps"] > 0 else None,
    }


def _got10k_scores(perf):
    # GOT-10k's protocol: AO (reported as "auc", to which it converges), SR0.5 and
    # SR0.75 over frames where the target is visible. It has no precision metric.
    curve = perf.get("succ_curve")
    return {
        "auc": _clean(perf["ao"]),
        "precision_20": None,
        "op50": _clean(perf["sr"]),
        "op75": _curve_value(curve, 0.75) if curve is not None else None,
        "fps": _clean(perf["speed_fps"]) if perf["speed_fps"] > 0 else None,
    }


def score_results(benchmark, dataset, seq_names, results_root, reports_root, tracker_name):
    """Score ``seq_names`` with got10k's report(), one sequence never spoiling the others.

    Returns ``(report fields, unscored)``: ``unscored`` maps each sequence that could
    not be scored to one line saying why (a one-frame sequence has nothing tracked
    after its given first box; got10k cannot read its one-row result file either),
    and the report covers every other sequence. When got10k fails on the whole set,
    each sequence is scored alone to find the ones it fails on."""
    unscored = {}
    for name in seq_names:
        if len(dataset[name][0]) < 2:
            unscored[name] = ("one frame only: nothing is tracked after the given first box, so there is "
                              "nothing to score")
    todo = [n for n in seq_names if n not in unscored]
    if not todo:
        return {"overall": None, "sequences": {}, "curves": {}}, unscored
    try:
        return _evaluate(benchmark, dataset, todo, results_root, reports_root, tracker_name), unscored
    except Exception as e:  # isolate the sequence(s) got10k fails on
        logger.debug("Scoring all %d sequences failed (%s); scoring each alone", len(todo), e)
    good = []
    for name in todo:
        try:
            _evaluate(benchmark, dataset, [name], results_root, reports_root, tracker_name)
            good.append(name)
        except Exception as e:
            unscored[name] = f"its results could not be scored: {type(e).__name__}: {str(e).strip()[:200]}"
    if not good:
        return {"overall": None, "sequences": {}, "curves": {}}, unscored
    return _evaluate(benchmark, dataset, good, results_root, reports_root, tracker_name), unscored


def _evaluate(benchmark, dataset, seq_names, results_root, reports_root, tracker_name):
    """Score ``seq_names`` with got10k's report(); returns the ``report.json`` fields."""
    experiment = _make_experiment(benchmark, _SequenceSubset(dataset, seq_names), results_root, reports_root)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        performance = experiment.report([tracker_name])
    logger.debug("got10k says:\n%s", captured.getvalue())
    if benchmark == "got10k_test":
        zip_path = os.path.join(results_root, f"{tracker_name}.zip")
        return {"overall": None, "sequences": {}, "curves": {}, "submission": zip_path}

    perf = performance[tracker_name]
    if benchmark == "got10k_val":
        overall = _got10k_scores(perf["overall"])
        sequences = {name: _got10k_scores(p) for name, p in perf["seq_wise"].items()}
        curves = {"success": perf["overall"]["succ_curve"]}
    else:
        overall = _otb_scores(perf["overall"])
        sequences = {name: _otb_scores(p) for name, p in perf["seq_wise"].items()}
        curves = {"success": perf["overall"]["success_curve"], "precision": perf["overall"]["precision_curve"]}
    if benchmark == "lasot":
        per_seq, curve = experiment.normalized_precision(tracker_name)
        overall["norm_precision"] = _clean(np.mean(curve))
        for name, score in per_seq.items():
            sequences[name]["norm_precision"] = _clean(score)
        curves["norm_precision"] = curve.tolist()
    return {"overall": overall, "sequences": sequences, "curves": curves}
