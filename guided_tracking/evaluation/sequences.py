"""Benchmark datasets without downloads: got10k's classes for OTB, UAV123, NfS,
GOT-10k and LaSOT (download and print paths disabled), and any folder of
sequences through ``guided_tracking.data.datasets.load_folder``, whose defects
are collected per sequence instead of stopping the run (``load_failures``)."""
import contextlib
import io
import json
import logging
import os

import numpy as np
from got10k.datasets import GOT10k, LaSOT, NfS, OTB, UAV123

__all__ = ["BENCHMARKS", "InitBoxError", "load_benchmark", "absence_mask"]

logger = logging.getLogger(__name__)

BENCHMARKS = ("otb2013", "otb2015", "uav123", "uav20l", "nfs", "got10k_val", "got10k_test", "lasot", "folder")

_EXPECTED_LAYOUT = {
    "otb2013": "<root>/<Seq>/img/0001.jpg and <root>/<Seq>/groundtruth_rect.txt (e.g. <root>/Basketball/...)",
    "otb2015": "<root>/<Seq>/img/0001.jpg and <root>/<Seq>/groundtruth_rect.txt (e.g. <root>/Basketball/...)",
    "uav123": "<root>/data_seq/UAV123/<seq>/000001.jpg and <root>/anno/UAV123/<seq>.txt",
    "uav20l": "<root>/data_seq/UAV123/<seq>/000001.jpg and <root>/anno/UAV20L/<seq>.txt",
    "nfs": "<root>/<seq>/30/<seq>/00001.jpg and <root>/<seq>/30/<seq>.txt",
    "got10k_val": "<root>/val/list.txt and <root>/val/<seq>/{00000001.jpg, groundtruth.txt, meta_info.ini, "
                  "cover.label, absence.label, cut_by_image.label}",
    "got10k_test": "<root>/test/list.txt and <root>/test/<seq>/{00000001.jpg, groundtruth.txt}",
    "lasot": "<root>/<class>/<class>-<n>/img/00000001.jpg and <root>/<class>/<class>-<n>/groundtruth.txt",
    "folder": "<root>/<seq>/img/*.jpg + groundtruth_rect.txt (OTB layout) or "
              "<root>/<seq>/00000001.jpg + groundtruth.txt (GOT-10k layout)",
}
_GOT10K_LAYOUT = ("got10k_val", "got10k_test")


class InitBoxError(ValueError):
    """A sequence's first box cannot start tracking (NaN, zero size, outside the frame)."""


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
        "uav20l": [os.path.join(root, "anno", "UAV20L")],
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
    if benchmark in ("uav123", "uav20l"):
        dataset = _UAV123(root, benchmark.upper())
    elif benchmark == "nfs":
        dataset = _NfS(root, fps=30)
    elif benchmark in _GOT10K_LAYOUT:
        dataset = _GOT10k(root, subset=benchmark.split("_")[1])
    else:  # lasot
        dataset = _LaSOT(root, subset="test")
    present = [name for name, d in zip(dataset.seq_names, dataset.seq_dirs) if os.path.isdir(d)]
    missing = [name for name in dataset.seq_names if name not in set(present)]
    return (_SequenceSubset(dataset, present) if missing else dataset), missing


def absence_mask(benchmark, root, seq_name, anno_xywh) -> np.ndarray:
    """(N,) True on frames where the target is absent: a NaN or empty ground-truth
    row (OTB-layout NaN lines, UAV123 / UAV20L, folders), GOT-10k's ``absence.label``,
    LaSOT's ``full_occlusion.txt`` or ``out_of_view.txt`` flags. Long-term metrics
    (``longterm.py``) score those frames as "no target"."""
    anno = np.asarray(anno_xywh, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        absent = ~(np.all(np.isfinite(anno), axis=1) & (anno[:, 2] > 0) & (anno[:, 3] > 0))
    if benchmark in _GOT10K_LAYOUT:
        files = [os.path.join(root, benchmark.split("_")[1], seq_name, "absence.label")]
    elif benchmark == "lasot":
        seq_dir = os.path.join(root, seq_name[: seq_name.rfind("-")], seq_name)
        files = [os.path.join(seq_dir, "full_occlusion.txt"), os.path.join(seq_dir, "out_of_view.txt")]
    else:
        files = []
    for path in files:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8-sig") as f:
            flags = np.array([v == "1" for v in f.read().replace(",", " ").split()], dtype=bool)
        if len(flags) == len(absent):
            absent |= flags
        else:
            logger.warning("%s: %d flags for %d frames; not used", path, len(flags), len(absent))
    return absent
