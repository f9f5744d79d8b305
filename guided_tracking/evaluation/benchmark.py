"""One-pass evaluation (OPE) of any got10k ``Tracker`` on tracking benchmarks.

``run_benchmark`` tracks every sequence of a benchmark (optionally split over
worker processes), writes got10k-format result files, then scores them with
got10k's own evaluation code and writes ``report.json`` plus success/precision
plots. Supported benchmarks (``BENCHMARKS``):

=============  ==============================================================
otb2013/2015   ``<root>/<Seq>/img/0001.jpg`` + ``<root>/<Seq>/groundtruth_rect.txt``
uav123         ``<root>/data_seq/UAV123/<seq>/000001.jpg`` + ``<root>/anno/UAV123/<seq>.txt``
nfs            ``<root>/<seq>/30/<seq>/00001.jpg`` + ``<root>/<seq>/30/<seq>.txt`` (30 fps, the paper's setting)
got10k_val     ``<root>/val/list.txt``, ``<root>/val/<seq>/00000001.jpg``, ``groundtruth.txt``,
               ``meta_info.ini``, ``cover.label``, ``absence.label``, ``cut_by_image.label``
got10k_test    ``<root>/test/list.txt``, ``<root>/test/<seq>/00000001.jpg`` + first-frame ``groundtruth.txt``
lasot          ``<root>/<class>/<class>-<n>/img/00000001.jpg`` + ``groundtruth.txt`` (280-sequence test split)
folder         any directory of sequences in OTB or GOT-10k layout
               (read by ``guided_tracking.data.datasets.load_folder``)
=============  ==============================================================

Nothing is ever downloaded: got10k's dataset classes are built with their download
path disabled, and a missing root raises ``FileNotFoundError`` naming the path and
the expected layout.

Output layout (``output_dir``)::

    results/<benchmark>/<tracker_name>/<seq>.txt              boxes x,y,w,h (OTB, UAV123, NfS, LaSOT, folder)
    results/<benchmark>/<tracker_name>/times/<seq>_time.txt   seconds per frame
    results/<benchmark>/<tracker_name>/<seq>_confidence.txt   if the tracker has ``last_confidence``
    results/got10k_*/<tracker_name>/<seq>/<seq>_001.txt       GOT-10k layout (one repetition, see below)
    results/got10k_*/<tracker_name>/<seq>/<seq>_time.txt, <seq>_confidence.txt
    results/got10k_test/<tracker_name>.zip                    submission archive (got10k's own report())
    reports/<benchmark>/<tracker_name>/report.json            our summary (see ``run_benchmark``)
    reports/<benchmark>/<tracker_name>/performance.json       got10k's raw report
    reports/<benchmark>/<tracker_name>/*_plot.png             success / precision plots

GOT-10k's protocol runs stochastic trackers 3 times (``<seq>_001..003.txt``); got10k
itself records a single repetition for deterministic trackers, and so do we.

Tracker factories: ``tracker_factory`` is a picklable callable returning a fresh
``got10k.trackers.Tracker`` (e.g. ``functools.partial(build_tracker, cfg_path, opts)``
or a class). It is called once per worker process. When ``devices`` is given, worker
``i`` calls ``tracker_factory(device=devices[i % len(devices)])``, so the factory must
then accept a ``device`` keyword; without ``devices`` it is called with no argument.
"""
import argparse
import contextlib
import functools
import importlib
import inspect
import io
import json
import logging
import math
import multiprocessing as mp
import os
import pickle
import queue as queue_lib
import sys
import time
import traceback

import numpy as np
from got10k.datasets import GOT10k, LaSOT, NfS, OTB, UAV123
from got10k.experiments import ExperimentGOT10k, ExperimentOTB, ExperimentUAV123
from got10k.utils.metrics import center_error, rect_iou
from PIL import Image
from tqdm import tqdm

from ..tracking.threads import available_cores, configure_threads
from .io import atomic_savetxt, atomic_write_json, count_rows
from .reports import attribute_report, default_attribute_source, format_attribute_table, load_attributes

__all__ = [
    "BENCHMARKS",
    "FrameReadError",
    "load_rgb_frame",
    "load_benchmark",
    "track_sequence",
    "run_benchmark",
    "load_report",
    "print_table",
    "plot_curves",
    "main",
]

logger = logging.getLogger(__name__)

BENCHMARKS = ("otb2013", "otb2015", "uav123", "nfs", "got10k_val", "got10k_test", "lasot", "folder")

_EXPECTED_LAYOUT = {
    "otb2013": "<root>/<Seq>/img/0001.jpg and <root>/<Seq>/groundtruth_rect.txt (e.g. <root>/Basketball/...)",
    "otb2015": "<root>/<Seq>/img/0001.jpg and <root>/<Seq>/groundtruth_rect.txt (e.g. <root>/Basketball/...)",
    "uav123": "<root>/data_seq/UAV123/<seq>/000001.jpg and <root>/anno/UAV123/<seq>.txt",
    "nfs": "<root>/<seq>/30/<seq>/00001.jpg and <root>/<seq>/30/<seq>.txt",
    "got10k_val": "<root>/val/list.txt and <root>/val/<seq>/{00000001.jpg, groundtruth.txt, meta_info.ini, "
                  "cover.label, absence.label, cut_by_image.label}",
    "got10k_test": "<root>/test/list.txt and <root>/test/<seq>/{00000001.jpg, groundtruth.txt}",
    "lasot": "<root>/<class>/<class>-<n>/img/00000001.jpg and <root>/<class>/<class>-<n>/groundtruth.txt",
    "folder": "<root>/<seq>/img/*.jpg + groundtruth_rect.txt (OTB layout) or "
              "<root>/<seq>/00000001.jpg + groundtruth.txt (GOT-10k layout)",
}
_GOT10K_LAYOUT = ("got10k_val", "got10k_test")
# Worker start method. "spawn" because CUDA cannot be used in a forked child of a
# process that already initialized it; each spawned worker re-imports the package
# (seconds), so CPU-only callers such as the tests may switch to "fork".
START_METHOD = "spawn"
# Workers report their tracked-frame count at most this often: per-frame messages
# would make the queue, not the tracker, the bottleneck for fast trackers.
_PROGRESS_INTERVAL_S = 0.25


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------
class FrameReadError(IOError):
    """A frame file is missing, truncated or not an image."""


def load_rgb_frame(path) -> Image.Image:
    """Read an image file as an 8-bit RGB ``PIL.Image``.

    Grayscale, palette, RGBA/LA and CMYK frames are converted to RGB; 16-bit frames
    are rescaled to 8 bit (PIL's own ``convert`` would clip them at 255).

    Raises:
        FrameReadError: naming ``path`` when the file cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            # Decode now, inside the try: PIL opens lazily, so a truncated file
            # would otherwise fail later, deep inside the tracker.
            image.load()
            return _to_rgb8(image)
    except (OSError, ValueError, SyntaxError) as e:
        raise FrameReadError(f"Cannot read frame {path}: {e}") from e


def _to_rgb8(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image).astype(np.float64)
        # "I" is also used for 8-bit data stored in 32-bit ints: only rescale
        # when the values actually exceed the 8-bit range.
        if image.mode != "I" or values.max(initial=0) > 255:
            values = values / 257.0  # 65535 -> 255
        gray = np.clip(np.round(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    return image.convert("RGB")


# ---------------------------------------------------------------------------
# Datasets (got10k's classes with every download / print path disabled)
# ---------------------------------------------------------------------------
class _OTB(OTB):
    """got10k's OTB without its download path and per-sequence print() warnings."""

    def _check_integrity(self, root_dir, version):
        pass  # done by _check_root, which reports missing sequences once


class _UAV123(UAV123):
    """got10k's UAV123; its integrity check wants > 3 entries in the root, ours checks the layout."""

    def _check_integrity(self, root_dir, version):
        pass


class _NfS(NfS):
    """got10k's NfS; its integrity check lists the root before checking it exists."""

    def _check_integrity(self, root_dir):
        pass


class _GOT10k(GOT10k):
    """got10k's GOT10k without per-sequence print() warnings (missing folders are reported by us)."""

    def _check_integrity(self, root_dir, subset):
        pass


class _LaSOT(LaSOT):
    """got10k's LaSOT with a working constructor.

    got10k 0.1.3's ``LaSOT.__init__`` cannot run: it calls ``_check_integrity`` with
    an extra argument and applies ``os.path.basename`` to a generator. This sets the
    attributes the inherited ``__getitem__`` needs, from got10k's own split file.
    """

    def __init__(self, root_dir, subset="test"):
        import got10k.datasets.lasot as lasot_module

        self.root_dir = root_dir
        self.subset = subset
        self.return_meta = False
        with open(os.path.join(os.path.dirname(lasot_module.__file__), "lasot.json")) as f:
            self.seq_names = json.load(f)[subset]
        self.seq_dirs = [os.path.join(root_dir, n[: n.rfind("-")], n, "img") for n in self.seq_names]
        self.anno_files = [os.path.join(os.path.dirname(d), "groundtruth.txt") for d in self.seq_dirs]


class _FolderDataset:
    """got10k-style dataset over ``load_folder`` sequences.

    Frames marked not visible get a NaN ground-truth row so that got10k's
    UAV123-style metrics (which skip NaN rows) leave them out.
    """

    def __init__(self, sequences, load_failures=None):
        self.sequences = {seq["seq_name"]: seq for seq in sequences}
        self.seq_names = list(self.sequences)
        self.load_failures = dict(load_failures or {})

    def init_box_problem(self, name):
        """What is wrong with a sequence's first box, naming its file and line, or None."""
        seq = self.sequences[name]
        box = np.asarray(seq["boxes_xywh"][0], dtype=np.float64)
        where = f"{seq.get('anno_file', name)}:1"
        if not np.all(np.isfinite(box)):
            return f"{where}: the first box {box.tolist()} has NaN values (the target must be given in frame 1)"
        if box[2] <= 0 or box[3] <= 0:
            return f"{where}: the first box {box.tolist()} has zero width or height"
        width, height = seq.get("width"), seq.get("height")
        if width and height and (box[0] >= width or box[1] >= height or box[0] + box[2] <= 0 or box[1] + box[3] <= 0):
            return f"{where}: the first box {box.tolist()} lies outside the {width}x{height} first frame"
        return None

    def __getitem__(self, index):
        name = index if isinstance(index, str) else self.seq_names[index]
        seq = self.sequences[name]
        anno = np.asarray(seq["boxes_xywh"], dtype=np.float64).reshape(-1, 4).copy()
        visible = seq.get("visible")
        if visible is not None:
            anno[~np.asarray(visible, dtype=bool)] = np.nan
        return list(seq["file_names"]), anno

    def __len__(self):
        return len(self.seq_names)


def _failures_by_sequence(errors, root):
    """{sequence folder name: one line} from the loader's collected problems."""
    failures = {}
    root = os.path.abspath(root)
    for e in errors:
        path = getattr(e, "path", None) or str(e).split(": ", 1)[0]
        rel = os.path.relpath(os.path.abspath(path), root)
        name = rel.split(os.sep)[0] if not rel.startswith("..") and rel != "." else os.path.basename(root)
        text = str(e).splitlines()[0]
        if name not in failures:
            failures[name] = text
        elif not failures[name].endswith(_MORE_PROBLEMS):
            failures[name] += _MORE_PROBLEMS
    return failures


_MORE_PROBLEMS = " (and more problems in this sequence)"


class _SequenceSubset:
    """A view of a got10k dataset restricted to some sequence names.

    got10k's ``report()`` iterates over ``self.dataset``; handing it this view makes
    it score only the sequences that were tracked successfully.
    """

    def __init__(self, dataset, seq_names):
        self._dataset = dataset
        self.seq_names = list(seq_names)

    @property
    def return_meta(self):
        return getattr(self._dataset, "return_meta", False)

    @return_meta.setter
    def return_meta(self, value):  # ExperimentGOT10k.report switches meta loading on
        self._dataset.return_meta = value

    def __getitem__(self, index):
        name = index if isinstance(index, str) else self.seq_names[index]
        return self._dataset[name]

    def __len__(self):
        return len(self.seq_names)


def _missing_root_error(benchmark, root, what):
    return FileNotFoundError(
        f"{benchmark}: {what}. Expected layout: {_EXPECTED_LAYOUT[benchmark]}. "
        "Nothing is downloaded: put the data there or pass the right root."
    )


def _check_root(benchmark, root):
    """Raise a clear FileNotFoundError when the files a dataset class reads first are absent."""
    if not os.path.isdir(root):
        raise _missing_root_error(benchmark, root, f"dataset root {root!r} does not exist or is not a directory")
    required = {
        "uav123": [os.path.join(root, "anno", "UAV123")],
        "got10k_val": [os.path.join(root, "val", "list.txt")],
        "got10k_test": [os.path.join(root, "test", "list.txt")],
    }.get(benchmark, [])
    for path in required:
        if not os.path.exists(path):
            raise _missing_root_error(benchmark, root, f"{path!r} not found")


def load_benchmark(benchmark, root, strict=False):
    """Build the got10k dataset object of ``benchmark`` without any download.

    Returns:
        (dataset, missing): ``dataset`` has ``seq_names`` and ``__getitem__(name) ->
        (img_files, anno_xywh)``; ``missing`` lists the benchmark's sequences whose
        folder is absent under ``root`` (they are left out of ``dataset``).

    A ``folder`` dataset collects what is wrong with each sequence instead of
    stopping at the first defect: ``dataset.load_failures`` maps each sequence
    that cannot be loaded to one line naming the file (and line) and the
    problem; ``strict`` raises the first one instead.

    Raises:
        FileNotFoundError: the root, a required index file, or every sequence is missing.
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    root = os.fspath(root)
    _check_root(benchmark, root)
    # got10k's classes print() warnings; keep them out of stdout, in the debug log.
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        dataset, missing = _build_dataset(benchmark, root, strict)
    if captured.getvalue().strip():
        logger.debug("got10k says:\n%s", captured.getvalue())
    if missing:
        logger.warning("%s: %d sequence(s) missing under %s (e.g. %s); they are not evaluated",
                       benchmark, len(missing), root, ", ".join(missing[:5]))
    if len(dataset.seq_names) == 0 and not getattr(dataset, "load_failures", None):
        raise _missing_root_error(benchmark, root, f"no sequence found under {root!r}")
    return dataset, missing


def _build_dataset(benchmark, root, strict=False):
    if benchmark == "folder":
        # Imported lazily: guided_tracking.data pulls in the detectron2 data stack.
        from guided_tracking.data.datasets import load_folder

        if strict:
            return _FolderDataset(load_folder(root)), []
        errors = []
        try:
            sequences = load_folder(root, errors=errors)
        except FileNotFoundError:
            if not errors:
                raise
            sequences = []
        return _FolderDataset(sequences, _failures_by_sequence(errors, root)), []
    if benchmark in ("otb2013", "otb2015"):
        version = int(benchmark[3:])
        dataset = _OTB(root, version, download=False)
        # got10k globs the sequences it finds: compute what it silently dropped.
        expected = OTB._OTB__version_dict[version]
        return dataset, [s for s in expected if not os.path.isdir(os.path.join(root, s))]
    if benchmark == "uav123":
        dataset = _UAV123(root, "UAV123")
    elif benchmark == "nfs":
        dataset = _NfS(root, fps=30)
    elif benchmark in _GOT10K_LAYOUT:
        dataset = _GOT10k(root, subset=benchmark.split("_")[1])
    else:  # lasot
        dataset = _LaSOT(root, subset="test")
    present = [name for name, d in zip(dataset.seq_names, dataset.seq_dirs) if os.path.isdir(d)]
    missing = [name for name in dataset.seq_names if name not in set(present)]
    return (_SequenceSubset(dataset, present) if missing else dataset), missing


# ---------------------------------------------------------------------------
# Result files
# ---------------------------------------------------------------------------
def _result_paths(result_dir, seq_name, got10k_layout):
    """Paths got10k's experiments read (boxes, times) plus our confidence file."""
    if got10k_layout:
        seq_dir = os.path.join(result_dir, seq_name)
        return {
            "boxes": os.path.join(seq_dir, f"{seq_name}_001.txt"),
            "times": os.path.join(seq_dir, f"{seq_name}_time.txt"),
            # Not matched by got10k's "<seq>_[0-9]*.txt" repetition glob.
            "confidence": os.path.join(seq_dir, f"{seq_name}_confidence.txt"),
            "unreadable": os.path.join(seq_dir, f"{seq_name}_unreadable.txt"),
        }
    return {
        "boxes": os.path.join(result_dir, f"{seq_name}.txt"),
        "times": os.path.join(result_dir, "times", f"{seq_name}_time.txt"),
        "confidence": os.path.join(result_dir, f"{seq_name}_confidence.txt"),
        "unreadable": os.path.join(result_dir, "unreadable", f"{seq_name}_unreadable.txt"),
    }


def _is_complete(paths, num_frames):
    return (count_rows(paths["boxes"], 4) == num_frames
            and count_rows(paths["times"], 1) == num_frames)


def _write_results(paths, boxes_xywh, times_s, confidences, unreadable_frame_ids=()):
    # The box file is written last: it is what marks a sequence as done.
    atomic_savetxt(paths["times"], times_s, fmt="%.8f")
    if confidences is not None:
        atomic_savetxt(paths["confidence"], confidences, fmt="%.5f")
    if unreadable_frame_ids:  # 1-based frame numbers, one per line
        atomic_savetxt(paths["unreadable"], np.asarray(unreadable_frame_ids) + 1, fmt="%d")
    elif os.path.exists(paths["unreadable"]):
        os.remove(paths["unreadable"])
    atomic_savetxt(paths["boxes"], boxes_xywh, fmt="%.3f", delimiter=",")


def _read_unreadable(paths):
    """1-based numbers of the frames that could not be read, [] when none."""
    if not os.path.isfile(paths["unreadable"]):
        return []
    return [int(v) for v in np.atleast_1d(np.loadtxt(paths["unreadable"], dtype=np.int64))]


# ---------------------------------------------------------------------------
# Tracking
# ---------------------------------------------------------------------------
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

    from .video import draw_box

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


def _worker_main(worker_id, tracker_factory, device, tasks, visualize_dir, num_processes, message_queue):
    """Entry point of a spawned worker process."""
    # N workers each using every core oversubscribe the CPU: split the cores. Not
    # OpenCV's after fork: reconfiguring the thread pool inherited from a parent
    # that already used it deadlocks (pthread_cond_destroy inside cv2).
    configure_threads(num_processes, opencv=START_METHOD != "fork")

    def emit(kind, *payload):
        message_queue.put((kind, worker_id) + payload)

    try:
        _run_tasks(tracker_factory, device, tasks, visualize_dir, emit)
    finally:
        message_queue.put(("exit", worker_id))


def _split_tasks(tasks, num_chunks):
    """Balance tasks over ``num_chunks`` by frame count (largest first onto the lightest chunk)."""
    chunks = [[] for _ in range(num_chunks)]
    loads = [0] * num_chunks
    for task in sorted(tasks, key=lambda t: -len(t["img_files"])):
        i = int(np.argmin(loads))
        chunks[i].append(task)
        loads[i] += len(task["img_files"])
    return [c for c in chunks if c]


def _run_pending(tracker_factory, tasks, num_workers, devices, visualize_dir, description):
    """Track ``tasks``; returns ``{seq_name: reason}`` of the failed ones."""
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

        num_workers = min(num_workers, len(tasks))
        if num_workers <= 1:
            configure_threads(1, opencv=False)  # OpenCV's own default already uses every core
            device = devices[0] if devices else None
            _run_tasks(tracker_factory, device, tasks, visualize_dir, handle)
        else:
            _run_in_workers(tracker_factory, tasks, num_workers, devices, visualize_dir, handle)
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


def _run_in_workers(tracker_factory, tasks, num_workers, devices, visualize_dir, handle):
    """Track ``tasks`` in ``num_workers`` processes; their messages go to ``handle`` (see _run_tasks)."""
    try:
        pickle.dumps(tracker_factory)
    except Exception as e:
        raise TypeError(
            f"tracker_factory {tracker_factory!r} cannot be pickled, which num_workers > 1 requires "
            "(use a module-level function, a class or functools.partial of one)") from e
    context = mp.get_context(START_METHOD)
    message_queue = context.Queue()
    chunks = _split_tasks(tasks, num_workers)
    logger.info(f"{len(chunks)} tracking processes, {max(1, available_cores() // len(chunks))} thread(s) each "
                f"({available_cores()} cores)")
    unfinished = {i: {t["seq_name"] for t in chunk} for i, chunk in enumerate(chunks)}
    processes, finished = [], False
    try:
        for i, chunk in enumerate(chunks):
            device = devices[i % len(devices)] if devices else None
            process = context.Process(
                target=_worker_main, name=f"tracking-worker-{i}",
                args=(i, tracker_factory, device, chunk, visualize_dir, len(chunks), message_queue))
            process.start()
            processes.append(process)
        running = set(range(len(processes)))
        while running:
            try:
                message = message_queue.get(timeout=1.0)
            except queue_lib.Empty:
                for i in list(running):
                    if not processes[i].is_alive():
                        _drain(message_queue, handle, unfinished, running)
                        if i in running:  # died without saying goodbye (segfault, OOM kill)
                            running.discard(i)
                            for seq_name in sorted(unfinished[i]):
                                handle("failed", seq_name,
                                       f"worker process {i} died (exit code {processes[i].exitcode}) "
                                       "before finishing this sequence")
                continue
            _dispatch(message, handle, unfinished, running)
        finished = True
    finally:
        for process in processes:
            if finished:  # every worker said goodbye: let it flush and exit
                process.join(timeout=5)
            if process.is_alive():  # interrupted (Ctrl-C, error in this loop) or stuck
                process.terminate()
                process.join()


def _dispatch(message, handle, unfinished, running):
    kind, worker_id, payload = message[0], message[1], message[2:]
    if kind == "exit":
        running.discard(worker_id)
        return
    if kind in ("done", "failed"):
        unfinished[worker_id].discard(payload[0])
    handle(kind, *payload)


def _drain(message_queue, handle, unfinished, running):
    while True:
        try:
            message = message_queue.get(timeout=0.2)
        except queue_lib.Empty:
            return
        _dispatch(message, handle, unfinished, running)


# ---------------------------------------------------------------------------
# Evaluation with got10k's experiments
# ---------------------------------------------------------------------------
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
    if benchmark in ("uav123", "folder"):
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


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------
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
        num_workers (int): processes tracking sequences in parallel (spawn context).
        devices (list[str] | None): e.g. ``["cuda:0", "cuda:1"]``; worker i uses ``devices[i % len]``.
        visualize (bool): write annotated frames to ``output_dir/visualize/<benchmark>/<tracker_name>/``.
        strict (bool): stop at the first defect found while loading (default: list each
            sequence that cannot be loaded and track the others).
        attributes: per-sequence attribute labels (a CSV path, UAV123's ``att`` folder or
            ``{seq: {attr, ...}}``; see ``reports.load_attributes``); default: the labels
            the benchmark ships (UAV123). Adds ``"attributes"`` to the report.

    Sequences whose result files are already complete are not tracked again (the
    factory is not even called when nothing is pending). A sequence that cannot be
    loaded or tracked is listed under ``"failed"`` and, with the reason in one line
    (file and line where it is the data's fault), under ``"failures"``; the others
    still run. A frame that cannot be read mid-sequence keeps the previous box
    (confidence NaN) and is listed under ``"unreadable_frames"`` (1-based numbers).

    Returns:
        The report (also written to ``reports/<benchmark>/<tracker_name>/report.json``)::

            {"benchmark", "tracker",
             "overall": {"auc", "precision_20", "op50", "op75", "fps"[, "norm_precision"]},
             "sequences": {seq_name: {same keys}},
             "failed": [seq_name, ...], "failures": {seq_name: reason}, "missing": [...],
             "unreadable_frames": {seq_name: [frame numbers]}, "curves": {"success", "precision"[, ...]},
             "plots": [png paths], "submission": zip path (got10k_test only)}

        ``overall`` is None when nothing could be scored (and for got10k_test, whose
        ground truth is withheld). GOT-10k val reports AO as ``auc`` and has no precision.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if not tracker_name or os.sep in tracker_name or tracker_name in (".", ".."):
        raise ValueError(f"tracker_name must be a plain folder name, got {tracker_name!r}")
    if devices is not None and len(devices) == 0:
        devices = None
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
    logger.info("%s on %s: %d sequences, %d already tracked, %d to track", tracker_name, benchmark,
                len(dataset.seq_names), num_complete, len(tasks))
    if tasks:
        failures.update(_run_pending(tracker_factory, tasks, num_workers, devices, visualize_dir,
                                     f"{tracker_name} on {benchmark}"))

    if strict and failures:
        raise RuntimeError(f"{len(failures)} sequence(s) failed (--strict): " +
                           "; ".join(f"{k}: {v}" for k, v in sorted(failures.items())))
    scored = [name for name in dataset.seq_names if name not in failures]
    report = {"benchmark": benchmark, "tracker": tracker_name}
    if scored:
        report.update(_evaluate(benchmark, dataset, scored, results_root, reports_root, tracker_name))
    else:
        report.update({"overall": None, "sequences": {}, "curves": {}})
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
    if report.get("attributes"):
        print(f"\n{tracker_name} on {benchmark}, per attribute:\n" + format_attribute_table(report["attributes"]))
    if report.get("submission"):
        logger.info("GOT-10k test submission archive: %s (upload it to http://got-10k.aitestunion.com/)",
                    report["submission"])
    for seq_name, frames in report["unreadable_frames"].items():
        logger.warning("%s: %d frame(s) could not be read (previous box kept): %s", seq_name, len(frames),
                       ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else ""))
    if failures:
        logger.error("%d of %d sequence(s) could not be tracked:\n%s", len(failures), len(failures) + len(scored),
                     "\n".join(f"  {k}: {v}" for k, v in sorted(failures.items())))
    return report


def _reason(exc: BaseException) -> str:
    """One line for a failed sequence: the message of the data's fault, else type + message."""
    from guided_tracking.data.datasets import DatasetFormatError

    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, (DatasetFormatError, FileNotFoundError, FrameReadError, InitBoxError)):
        return text
    return f"{type(exc).__name__}: {text}"


class InitBoxError(ValueError):
    """A sequence's first box cannot start tracking (NaN, zero size, outside the frame)."""


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


# ---------------------------------------------------------------------------
# Reports: loading, tables, plots
# ---------------------------------------------------------------------------
def load_report(report):
    """A report dict from a ``report.json`` path (dicts are returned as they are)."""
    if isinstance(report, dict):
        return report
    with open(report) as f:
        return json.load(f)


def _named_reports(reports):
    if isinstance(reports, dict) and "overall" not in reports:
        return {name: load_report(r) for name, r in reports.items()}
    if isinstance(reports, (str, os.PathLike, dict)):
        reports = [reports]
    named = {}
    for r in reports:
        r = load_report(r)
        named[r.get("tracker", f"tracker{len(named)}")] = r
    return named


_TABLE_COLUMNS = (("auc", "AUC"), ("precision_20", "P@20"), ("norm_precision", "NormP"),
                  ("op50", "OP50"), ("op75", "OP75"), ("fps", "FPS"))


def print_table(reports, per_sequence=False, file=None):
    """Print (and return) a table comparing reports.

    Args:
        reports: ``{tracker_name: report_dict_or_path}`` or a list of reports/paths.
        per_sequence (bool): print the AUC of every sequence for every tracker instead.
    """
    from tabulate import tabulate

    named = _named_reports(reports)
    if per_sequence:
        seq_names = sorted({s for r in named.values() for s in r.get("sequences", {})})
        rows = [[s] + [(r.get("sequences", {}).get(s) or {}).get("auc") for r in named.values()]
                for s in seq_names]
        text = tabulate(rows, headers=["AUC per sequence"] + list(named), tablefmt="pipe", floatfmt=".3f",
                        missingval="-")
    else:
        keys = [(k, title) for k, title in _TABLE_COLUMNS
                if any((r.get("overall") or {}).get(k) is not None for r in named.values())]
        rows = []
        for name, r in named.items():
            overall = r.get("overall") or {}
            rows.append([name, r.get("benchmark", "")] + [overall.get(k) for k, _ in keys]
                        + [len(r.get("sequences", {})), len(r.get("failed", []))])
        text = tabulate(rows, headers=["Tracker", "Benchmark"] + [t for _, t in keys] + ["Seqs", "Failed"],
                        tablefmt="pipe", floatfmt=".3f", missingval="-")
    print(text, file=file or sys.stdout)
    return text


def plot_curves(reports, out_dir):
    """Success / precision (/ normalized precision) plots comparing several reports.

    Args:
        reports: list of ``report.json`` paths or report dicts, or ``{name: report}``.
        out_dir (str): where ``success_plot.png``, ``precision_plot.png`` (and
            ``norm_precision_plot.png`` for LaSOT) are written.

    Returns:
        list[str]: the PNG files written (a curve missing from every report is skipped).
    """
    # Figure + Agg canvas, not pyplot: no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    named = _named_reports(reports)
    benchmark = ", ".join(sorted({r.get("benchmark", "") for r in named.values()} - {""}))
    specs = [  # curve key, score key, x thresholds, x label, y label, title, file
        ("success", "auc", lambda n: np.linspace(0, 1, n), "Overlap threshold", "Success rate",
         "Success plot", "success_plot.png"),
        ("precision", "precision_20", np.arange, "Location error threshold (pixels)", "Precision",
         "Precision plot", "precision_plot.png"),
        ("norm_precision", "norm_precision", lambda n: np.linspace(0, 0.5, n), "Normalized location error threshold",
         "Normalized precision", "Normalized precision plot", "norm_precision_plot.png"),
    ]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for curve_key, score_key, thresholds, xlabel, ylabel, title, file_name in specs:
        entries = [(name, r["curves"][curve_key], (r.get("overall") or {}).get(score_key))
                   for name, r in named.items() if (r.get("curves") or {}).get(curve_key)]
        if not entries:
            continue
        entries.sort(key=lambda e: -(e[2] if e[2] is not None else -1))  # legend ordered by score
        figure = Figure(figsize=(6, 4.5))
        FigureCanvasAgg(figure)
        ax = figure.add_subplot(1, 1, 1)
        for i, (name, curve, score) in enumerate(entries):
            label = f"{name} [{score:.3f}]" if score is not None else name
            ax.plot(thresholds(len(curve)), curve, ["-", "--", "-.", ":"][i // 10 % 4], label=label)
        ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1), title=f"{title} ({benchmark})" if benchmark else title)
        ax.set_xlim(0, thresholds(len(entries[0][1]))[-1])
        ax.grid(True)
        ax.legend(loc="lower left" if curve_key == "success" else "lower right", fontsize=8)
        path = os.path.join(out_dir, file_name)
        figure.savefig(path, dpi=100, bbox_inches="tight")
        written.append(path)
    return written


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def _resolve_tracker(spec):
    """A tracker factory from a baseline name ("csrt", "kcf", "nano") or "module:callable"."""
    from .baselines import BASELINES, baseline_factory

    if spec.lower() in BASELINES:
        return baseline_factory(spec)[1]
    if ":" not in spec:
        raise ValueError(f"--tracker expects one of {sorted(BASELINES)} or 'module:callable', got {spec!r}")
    module_name, attr = spec.split(":", 1)
    return functools.reduce(getattr, attr.split("."), importlib.import_module(module_name))


def main(argv=None) -> int:
    """``python -m guided_tracking.evaluation.benchmark``; exit status 1 when a sequence failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    parser.add_argument("--root", required=True, help="dataset root")
    parser.add_argument("--tracker", default="csrt",
                        help="baseline name (csrt, kcf, nano: NanoTrack v2 from $GUIDED_TRACKING_NANOTRACK_DIR) "
                             "or 'module:callable' returning a got10k Tracker")
    parser.add_argument("--name", help="tracker name used in result folders (default: from --tracker)")
    parser.add_argument("--output", default="output/evaluation")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--devices", help="comma separated, e.g. cuda:0,cuda:1 (passed as device=...)")
    parser.add_argument("--visualize", action="store_true", help="write annotated frames")
    parser.add_argument("--per-sequence", action="store_true", help="print the AUC of every sequence")
    args = parser.parse_args(argv)

    from detectron2.utils.logger import setup_logger

    setup_logger(name="guided_tracking", abbrev_name="gt")
    try:
        factory = _resolve_tracker(args.tracker)
    except (KeyError, FileNotFoundError, ImportError, ValueError) as e:
        parser.error(f"--tracker {args.tracker}: {e.args[0] if e.args else e}")
    name = args.name or (args.tracker.upper() if ":" not in args.tracker else args.tracker.rsplit(":", 1)[1])
    devices = args.devices.split(",") if args.devices else None
    report = run_benchmark(factory, args.benchmark, args.root, args.output, name, num_workers=args.num_workers,
                           devices=devices, visualize=args.visualize)
    if args.per_sequence and report["overall"]:  # run_benchmark printed the overall table
        print_table({name: report}, per_sequence=True)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    # Run the importable module's main(), not this __main__ copy: worker processes
    # must unpickle guided_tracking.evaluation.benchmark._worker_main.
    from guided_tracking.evaluation.benchmark import main as _main

    sys.exit(_main())
