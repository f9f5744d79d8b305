"""Running a tracker over a benchmark (one-pass evaluation): per-sequence tracking,
worker processes, progress, then scoring and ``report.json``.

``run_benchmark`` is the entry point; see ``benchmark.py`` for layouts and the
output folder."""
import inspect
import json
import logging
import math
import os
import pickle
import sys
import time
import traceback

import numpy as np
from tqdm import tqdm

from detectron2.utils import comm

from ..data.datasets import DatasetFormatError
from ..tracking.threads import configure_threads
from ..frames import FrameReadError, load_rgb_frame
from ..io import atomic_write_json
from .longterm import format_longterm_table, score_longterm
from .plotting import plot_curves
from .reports import attribute_report, default_attribute_source, format_attribute_table, load_attributes, print_table
from .results import _is_complete, _read_unreadable, _result_paths, _write_results
from .scoring import score_results
from .sequences import _GOT10K_LAYOUT, InitBoxError, load_benchmark
from .video import draw_box

__all__ = ["run_benchmark", "track_sequence", "progress_bar", "split_tasks"]

logger = logging.getLogger(__name__)

# The tracked-frame count goes to the progress display at most this often: a
# per-frame update would cost a fast tracker (KCF: ~1,000 frames/s) more than it tracks.
_PROGRESS_INTERVAL_S = 0.25


def track_sequence(tracker, img_files, init_box_xywh, frame_callback=None, unreadable_frames=None):
    """One-pass evaluation of ``tracker`` on one sequence (same protocol as got10k's ``Tracker.track``).

    Args:
        tracker: a got10k ``Tracker``.
        img_files (list[str]): frame paths.
        init_box_xywh: (4,) first-frame box.
        frame_callback: optional ``f(frame_id, image, box_xywh)`` called after every frame
            (``image`` None for a frame that could not be read).
        unreadable_frames: optional list receiving the 0-based ids of frames that could
            not be read: the tracker skips them, the previous box is kept and the
            confidence is NaN. An unreadable first frame raises FrameReadError.

    Returns:
        boxes_xywh (N, 4), times_s (N,) (time of ``init``/``update`` only, not of reading
        the frame), confidences (N,) or None when the tracker has no ``last_confidence``.
    """
    num_frames = len(img_files)
    init_box_xywh = np.asarray(init_box_xywh, dtype=np.float64).reshape(4)
    boxes_xywh = np.zeros((num_frames, 4))
    times_s = np.zeros(num_frames)
    confidences = np.full(num_frames, np.nan)
    has_confidence = False
    box_xywh = init_box_xywh
    for frame_id, img_file in enumerate(img_files):
        try:
            image = load_rgb_frame(img_file)
        except FrameReadError as e:
            if frame_id == 0:
                raise
            logger.warning("%s (frame %d): keeping the previous box", e, frame_id + 1)
            boxes_xywh[frame_id] = box_xywh
            has_confidence = True  # NaN marks the frame in the confidence file
            if unreadable_frames is not None:
                unreadable_frames.append(frame_id)
            if frame_callback is not None:
                frame_callback(frame_id, None, box_xywh)
            continue
        start = time.perf_counter()
        if frame_id == 0:
            tracker.init(image, init_box_xywh.copy())
            box_xywh = init_box_xywh
        else:
            box_xywh = np.asarray(tracker.update(image), dtype=np.float64).reshape(4)
        times_s[frame_id] = time.perf_counter() - start
        boxes_xywh[frame_id] = box_xywh
        confidence = getattr(tracker, "last_confidence", None)
        if confidence is not None:
            confidences[frame_id] = float(confidence)
            has_confidence = True
        if frame_callback is not None:
            frame_callback(frame_id, image, box_xywh)
    return boxes_xywh, times_s, (confidences if has_confidence else None)


def _build_tracker(tracker_factory, device):
    if device is None:
        return tracker_factory()
    try:
        inspect.signature(tracker_factory).bind_partial(device=device)
    except TypeError as e:
        raise TypeError(
            f"tracker_factory {tracker_factory!r} does not accept a `device` keyword, which run_benchmark "
            "passes when `devices` is given") from e
    except ValueError:
        pass  # no signature available (builtins): just try the call
    return tracker_factory(device=device)


def _visualizer(visualize_dir, seq_name, anno_xywh):
    """frame_callback writing annotated JPEGs (prediction red, ground truth green)."""
    import cv2

    seq_dir = os.path.join(visualize_dir, seq_name)
    os.makedirs(seq_dir, exist_ok=True)

    def callback(frame_id, image, box_xywh):
        if image is None:  # unreadable frame: nothing to draw on
            return
        frame_bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
        if anno_xywh is not None and frame_id < len(anno_xywh) and np.all(np.isfinite(anno_xywh[frame_id])):
            draw_box(frame_bgr, anno_xywh[frame_id], color=(0, 255, 0))
        draw_box(frame_bgr, box_xywh, color=(0, 0, 255), label=f"#{frame_id}")
        cv2.imwrite(os.path.join(seq_dir, f"{frame_id + 1:08d}.jpg"), frame_bgr)

    return callback


def _run_tasks(tracker_factory, device, tasks, visualize_dir, emit):
    """Track ``tasks`` one after the other with a single tracker; report through ``emit``.

    ``emit(kind, *payload)`` receives ("frames", n), ("done", seq_name) and
    ("failed", seq_name, reason, traceback_text). A failing sequence does not stop the others.
    """
    tracker = None
    for task_id, task in enumerate(tasks):
        seq_name = task["seq_name"]
        try:
            if tracker is None:
                try:
                    tracker = _build_tracker(tracker_factory, device)
                except Exception as e:
                    # Without a tracker nothing else can run: fail the remaining sequences at once.
                    reason, text = "Building the tracker failed: " + _reason(e), traceback.format_exc()
                    for remaining in tasks[task_id:]:
                        emit("failed", remaining["seq_name"], reason, text)
                    return
            progress = _FrameCounter(emit)
            callbacks = [progress]
            if visualize_dir is not None:
                callbacks.append(_visualizer(visualize_dir, seq_name, task.get("anno_xywh")))
            unreadable = []
            boxes_xywh, times_s, confidences = track_sequence(
                tracker, task["img_files"], task["init_box_xywh"],
                frame_callback=lambda *args: [cb(*args) for cb in callbacks], unreadable_frames=unreadable)
            progress.flush()
            _write_results(task["paths"], boxes_xywh, times_s, confidences, unreadable)
            emit("done", seq_name)
        except Exception as e:
            emit("failed", seq_name, _reason(e), traceback.format_exc())


class _FrameCounter:
    """Counts tracked frames and emits them in batches (see _PROGRESS_INTERVAL_S)."""

    def __init__(self, emit):
        self.emit = emit
        self.pending = 0
        self.last_emit = time.monotonic()

    def __call__(self, frame_id, image, box_xywh):
        self.pending += 1
        if time.monotonic() - self.last_emit > _PROGRESS_INTERVAL_S:
            self.flush()

    def flush(self):
        if self.pending:
            self.emit("frames", self.pending)
        self.pending = 0
        self.last_emit = time.monotonic()


def split_tasks(tasks, num_chunks):
    """Balance tasks over ``num_chunks`` by frame count (largest first onto the lightest
    chunk). Deterministic, and chunk r stays chunk r even when empty: rank r of a
    distributed run takes chunk r."""
    chunks = [[] for _ in range(num_chunks)]
    loads = [0] * num_chunks
    for task in sorted(tasks, key=lambda t: (-len(t["img_files"]), t["seq_name"])):
        i = int(np.argmin(loads))
        chunks[i].append(task)
        loads[i] += len(task["img_files"])
    return chunks


def _track_share(tracker_factory, tasks, device, visualize_dir, description):
    """Track this process's ``tasks``; returns ``{seq_name: reason}`` of the failed ones."""
    failures = {}
    total_frames = sum(len(t["img_files"]) for t in tasks)
    with progress_bar(total_frames, description) as progress:
        def handle(kind, *payload):
            if kind == "frames":
                progress.update(payload[0])
            elif kind == "failed":
                seq_name, reason = payload[0], payload[1]
                failures[seq_name] = reason
                logger.error("Sequence %s failed: %s", seq_name, reason)
                if len(payload) > 2:  # the traceback: for --debug, not for the user
                    logger.debug("Sequence %s failed:\n%s", seq_name, payload[2])

        _run_tasks(tracker_factory, device, tasks, visualize_dir, handle)
    return failures


class _LineProgress:
    """Progress for a log file or a pipe: one line every ``interval_s`` seconds
    (frames done, frames/s, ETA) and one at the end, instead of a bar's hundreds
    of carriage-return updates."""

    def __init__(self, total, description, interval_s=30.0):
        self.total, self.description, self.interval_s = total, description, interval_s
        self.done, self.start = 0, time.monotonic()
        self.last = self.start

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            self._line(now)

    def _line(self, now):
        rate = self.done / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_text = f"{int(eta // 60)}m{int(eta % 60):02d}s" if math.isfinite(eta) else "?"
        logger.info(f"{self.description}: {self.done}/{self.total} frames ({100 * self.done / max(self.total, 1):.0f} %), "
                    f"{rate:.1f} frames/s, ETA {eta_text}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._line(time.monotonic())


def progress_bar(total, description):
    """A live tqdm bar on a terminal; periodic log lines on a pipe or file
    (``GUIDED_TRACKING_PROGRESS_S`` sets their interval, default 30 s)."""
    if sys.stderr.isatty():
        return tqdm(total=total, unit="frame", desc=description, dynamic_ncols=True)
    return _LineProgress(total, description, float(os.environ.get("GUIDED_TRACKING_PROGRESS_S", 30)))


def run_benchmark(tracker_factory, benchmark, root, output_dir, tracker_name, num_workers=1, devices=None,
                  visualize=False, strict=False, attributes=None) -> dict:
    """Track every sequence of ``benchmark`` and evaluate the results with got10k.

    Args:
        tracker_factory: picklable callable returning a got10k ``Tracker``; called with
            ``device=...`` when ``devices`` is given (see the module docstring).
        benchmark (str): one of ``BENCHMARKS``.
        root (str): dataset root (layouts in the module docstring).
        output_dir (str): receives ``results/`` and ``reports/``.
        tracker_name (str): names the result/report folders and the plot legends.
        num_workers (int): tracking processes on this machine, started through
            ``engine.launch`` (torch.distributed, gloo) as a multi-machine run is:
            each takes a fixed share of the pending sequences (balanced by frames),
            rank 0 gathers and scores. Inside an initialised process group (e.g.
            ``track_net.py --num-machines``) the group's ranks are used instead.
        devices (list[str] | None): e.g. ``["cuda:0", "cuda:1"]``; local rank i uses ``devices[i % len]``.
        visualize (bool): write annotated frames to ``output_dir/visualize/<benchmark>/<tracker_name>/``.
        strict (bool): stop at the first defect found while loading (default: list each
            sequence that cannot be loaded and track the others).
        attributes: per-sequence attribute labels (a CSV path, UAV123's ``att`` folder or
            ``{seq: {attr, ...}}``; see ``reports.load_attributes``); default: the labels
            the benchmark ships (UAV123). Adds ``"attributes"`` to the report.

    Sequences whose result files are already complete are not tracked again (the
    factory is not even called when nothing is pending): a rerun after any process
    died resumes. A sequence that cannot be loaded, tracked or scored is listed under
    ``"failed"`` and, with the reason in one line (file and line where it is the
    data's fault), under ``"failures"``; the others still run and are scored. A frame
    that cannot be read mid-sequence keeps the previous box (confidence NaN) and is
    listed under ``"unreadable_frames"`` (1-based numbers).

    Returns:
        The report (also written to ``reports/<benchmark>/<tracker_name>/report.json``)::

            {"benchmark", "tracker",
             "overall": {"auc", "precision_20", "op50", "op75", "fps"[, "norm_precision"]},
             "sequences": {seq_name: {same keys}},
             "failed": [seq_name, ...], "failures": {seq_name: reason}, "missing": [...],
             "unreadable_frames": {seq_name: [frame numbers]}, "curves": {"success", "precision"[, ...]},
             "plots": [png paths], "submission": zip path (got10k_test only)
             [, "longterm": VOT-LT scores, when sequences have absent frames]}

        ``overall`` is None when nothing could be scored (and for got10k_test, whose
        ground truth is withheld). GOT-10k val reports AO as ``auc`` and has no
        precision. Ranks other than 0 of a distributed run return ``{}``.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if not tracker_name or os.sep in tracker_name or tracker_name in (".", ".."):
        raise ValueError(f"tracker_name must be a plain folder name, got {tracker_name!r}")
    if devices is not None and len(devices) == 0:
        devices = None
    kwargs = dict(visualize=visualize, strict=strict, attributes=attributes)
    if num_workers > 1 and comm.get_world_size() == 1:
        return _run_in_local_processes(tracker_factory, benchmark, root, output_dir, tracker_name, num_workers,
                                       devices, kwargs)
    device = devices[comm.get_local_rank() % len(devices)] if devices else None
    return _run_on_this_rank(tracker_factory, benchmark, root, output_dir, tracker_name, device, **kwargs)


def _report_path(output_dir, benchmark, tracker_name):
    return os.path.join(os.path.abspath(os.fspath(output_dir)), "reports", benchmark, tracker_name, "report.json")


def _run_in_local_processes(tracker_factory, benchmark, root, output_dir, tracker_name, num_workers, devices, kwargs):
    """``num_workers`` processes of this machine in one gloo group (``engine.launch``),
    each running ``_run_on_this_rank``; returns the report rank 0 wrote."""
    try:
        pickle.dumps(tracker_factory)
    except Exception as e:
        raise TypeError(
            f"tracker_factory {tracker_factory!r} cannot be pickled, which num_workers > 1 requires "
            "(use a module-level function, a class or functools.partial of one)") from e
    from ..engine.launch import launch

    report_path = _report_path(output_dir, benchmark, tracker_name)
    before = os.path.getmtime(report_path) if os.path.isfile(report_path) else None

    def report_written() -> bool:  # by rank 0 of this run, not an earlier one
        return os.path.isfile(report_path) and os.path.getmtime(report_path) != before

    from torch.multiprocessing import ProcessExitedException

    try:
        launch(_rank_main, num_workers,
               args=(tracker_factory, benchmark, root, output_dir, tracker_name, devices, kwargs), device="cpu")
    except ProcessExitedException as e:
        # Ranks leave only after a barrier that follows rank 0's report, yet gloo's
        # teardown still kills a rank now and then ("terminate called without an
        # active exception", SIGABRT; ~1 run in 30 here): with the report written
        # anew the results are complete, so that is worth a warning, not the run.
        if not report_written():
            raise
        logger.warning("%s: a tracking process died while leaving (%s), after the report was written; "
                       "the results are complete", tracker_name, e)
    if not report_written():
        raise RuntimeError(f"the tracking processes ended without writing {report_path}; rerun to resume")
    with open(report_path) as f:
        return json.load(f)


def _rank_main(tracker_factory, benchmark, root, output_dir, tracker_name, devices, kwargs):
    """One rank of a distributed evaluation (spawned by ``launch``)."""
    from detectron2.utils.logger import setup_logger

    # Rank 0 logs to the terminal as a single process would; the others to
    # OUTPUT/log.txt.rank<r> (detectron2's convention).
    setup_logger(os.fspath(output_dir), distributed_rank=comm.get_rank(), name="guided_tracking", abbrev_name="gt")
    configure_threads(comm.get_local_size(), opencv=True)
    device = devices[comm.get_local_rank() % len(devices)] if devices else None
    _run_on_this_rank(tracker_factory, benchmark, root, output_dir, tracker_name, device, **kwargs)


def _run_on_this_rank(tracker_factory, benchmark, root, output_dir, tracker_name, device, visualize=False,
                      strict=False, attributes=None) -> dict:
    """The evaluation as every rank runs it (one process: the only rank): list the
    pending sequences, track this rank's share, rank 0 gathers the failures, scores
    and writes the report (result files are on disk already)."""
    dataset, missing = load_benchmark(benchmark, root, strict=strict)
    output_dir = os.path.abspath(os.fspath(output_dir))
    results_root = os.path.join(output_dir, "results", benchmark)
    reports_root = os.path.join(output_dir, "reports", benchmark)
    result_dir = os.path.join(results_root, tracker_name)
    report_dir = os.path.join(reports_root, tracker_name)
    visualize_dir = os.path.join(output_dir, "visualize", benchmark, tracker_name) if visualize else None

    failures = dict(getattr(dataset, "load_failures", {}))  # sequence -> one line
    tasks, num_complete = [], 0
    for seq_name in dataset.seq_names:
        try:
            task = _make_task(dataset, seq_name, result_dir, benchmark in _GOT10K_LAYOUT, visualize)
        except Exception as e:
            if strict:
                raise
            failures[seq_name] = _reason(e)
            logger.debug("Loading %s failed:\n%s", seq_name, traceback.format_exc())
            continue
        if _is_complete(task["paths"], len(task["img_files"])):
            num_complete += 1
        else:
            tasks.append(task)
    world_size, rank = comm.get_world_size(), comm.get_rank()
    if rank == 0:
        logger.info("%s on %s: %d sequences, %d already tracked, %d to track%s", tracker_name, benchmark,
                    len(dataset.seq_names), num_complete, len(tasks),
                    f" by {world_size} processes" if world_size > 1 else "")
    # Every rank listed the same pending sequences; only now may anyone write a
    # result file (a fast rank's finished files would change a slow rank's list).
    comm.synchronize()
    mine = split_tasks(tasks, world_size)[rank]  # may be empty: this rank still reaches gather
    description = f"{tracker_name} on {benchmark}" + (f" (rank {rank} of {world_size})" if world_size > 1 else "")
    if world_size == 1:
        configure_threads(1, opencv=False)  # OpenCV's own default already uses every core
    tracked_failures = _track_share(tracker_factory, mine, device, visualize_dir, description) if mine else {}
    if world_size > 1:
        # Results are on disk; only the small things travel to rank 0.
        parts = comm.gather(tracked_failures, dst=0)
        if not comm.is_main_process():
            return {}
        tracked_failures = {k: v for part in parts for k, v in part.items()}
    failures.update(tracked_failures)

    if strict and failures:
        raise RuntimeError(f"{len(failures)} sequence(s) failed (--strict): " +
                           "; ".join(f"{k}: {v}" for k, v in sorted(failures.items())))
    scored = [name for name in dataset.seq_names if name not in failures]
    report = {"benchmark": benchmark, "tracker": tracker_name}
    if scored:
        fields, unscored = score_results(benchmark, dataset, scored, results_root, reports_root, tracker_name)
        report.update(fields)
        failures.update(unscored)
        scored = [name for name in scored if name not in unscored]
    else:
        report.update({"overall": None, "sequences": {}, "curves": {}})
    longterm = score_longterm(benchmark, root, dataset, scored, result_dir, benchmark in _GOT10K_LAYOUT) \
        if scored else None
    if longterm:
        report["longterm"] = longterm
    report["failed"] = sorted(failures)
    report["failures"] = {k: failures[k] for k in sorted(failures)}
    report["unreadable_frames"] = {k: v for k in scored if (v := _read_unreadable(
        _result_paths(result_dir, k, benchmark in _GOT10K_LAYOUT)))}
    report["missing"] = list(missing)
    source = attributes if attributes is not None else default_attribute_source(benchmark, root)
    if source and report["overall"]:
        report["attributes"] = attribute_report(report, load_attributes(source) if isinstance(source, str)
                                                else source)
    report["plots"] = plot_curves([report], report_dir) if report["overall"] else []
    atomic_write_json(os.path.join(report_dir, "report.json"), report)
    if report["overall"]:
        print_table({tracker_name: report})
    if report.get("longterm"):
        print(f"\n{tracker_name} on {benchmark}, long-term (absent frames scored as 'no target'):\n"
              + format_longterm_table({tracker_name: report}))
    if report.get("attributes"):
        print(f"\n{tracker_name} on {benchmark}, per attribute:\n" + format_attribute_table(report["attributes"]))
    if report.get("submission"):
        logger.info("GOT-10k test submission archive: %s (upload it to http://got-10k.aitestunion.com/)",
                    report["submission"])
    for seq_name, frames in report["unreadable_frames"].items():
        logger.warning("%s: %d frame(s) could not be read (previous box kept): %s", seq_name, len(frames),
                       ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else ""))
    if failures:
        logger.error("%d of %d sequence(s) could not be tracked or scored:\n%s", len(failures), len(failures) + len(scored),
                     "\n".join(f"  {k}: {v}" for k, v in sorted(failures.items())))
    return report


def _reason(exc: BaseException) -> str:
    """One line for a failed sequence: the message of the data's fault, else type + message."""
    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, (DatasetFormatError, FileNotFoundError, FrameReadError, InitBoxError)):
        return text
    return f"{type(exc).__name__}: {text}"


def _make_task(dataset, seq_name, result_dir, got10k_layout, visualize):
    item = dataset[seq_name]
    img_files, anno = list(item[0]), np.asarray(item[1], dtype=np.float64).reshape(-1, 4)
    if len(img_files) == 0:
        raise FileNotFoundError(f"No frame found for sequence {seq_name!r}")
    problem = dataset.init_box_problem(seq_name) if hasattr(dataset, "init_box_problem") else None
    if problem is None and not np.all(np.isfinite(anno[0])):
        problem = f"sequence {seq_name!r}: the first box {anno[0].tolist()} has NaN values"
    elif problem is None and (anno[0][2] <= 0 or anno[0][3] <= 0):
        problem = f"sequence {seq_name!r}: the first box {anno[0].tolist()} has zero width or height"
    if problem:
        raise InitBoxError(problem)
    task = {
        "seq_name": seq_name,
        "img_files": img_files,
        "init_box_xywh": anno[0].tolist(),
        "paths": _result_paths(result_dir, seq_name, got10k_layout),
    }
    if visualize:
        task["anno_xywh"] = anno
    return task
