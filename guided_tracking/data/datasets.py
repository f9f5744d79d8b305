# -*- coding: utf-8 -*-
"""
Single-object-tracking video datasets as detectron2 dataset dicts.

Every loader returns one dict per sequence, sorted by ``seq_name``::

    {
        "seq_name": str,
        "file_names": [absolute path of each frame, str],
        "boxes_xywh": np.ndarray float32 (N, 4),  # x, y = top-left, w, h in pixels
        "visible": np.ndarray bool (N,),
        "width": int, "height": int,              # of the first frame
        "dataset": str,                           # "got10k", "lasot", "otb", ...
        "anno_file": str,                         # the box file, for error messages
        # optional: "object_class" (GOT-10k / LaSOT), "cover" (GOT-10k cover.label)
    }

Boxes are kept exactly as written in the annotation files (no 1-based shift):
the got10k toolkit evaluates against the files as they are, so shifting here
would bias every reported number. ``visible`` is False where the format's own
convention says the target is absent (GOT-10k ``absence.label``/``cover.label``,
LaSOT ``full_occlusion``/``out_of_view``, UAV123 NaN lines, NfS ``lost`` /
``occluded``) and wherever the box is not a usable box (NaN or zero area).

Layouts follow the ``got10k`` PyPI toolkit (``got10k/datasets/*.py``); its split
and frame-range tables (``lasot.json``, ``uav123.json``, the OTB version lists)
are read from the installed package rather than retyped.

Bad input raises one :class:`DatasetFormatError` naming the file and the 1-based
line. Pass ``errors=[]`` to any loader to collect every problem instead (the
offending sequences are skipped); ``python -m guided_tracking.data.check`` uses
that mode.
"""
import glob
import importlib.util
import json
import logging
import math
import os
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

__all__ = [
    "DatasetFormatError",
    "load_got10k",
    "load_lasot",
    "load_otb",
    "load_uav123",
    "load_nfs",
    "load_folder",
    "LOADERS",
    "register_video_dataset",
    "register_folder_dataset",
    "register_all_video_datasets",
]

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

# Image extensions accepted by load_folder (the benchmark loaders use *.jpg only,
# like the toolkit).
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
# In collector mode, report at most this many bad lines per file: a file written
# with the wrong separator would otherwise produce thousands of identical lines.
_MAX_LINE_PROBLEMS_PER_FILE = 10


# ---------------------------------------------------------------------------
# Errors and problem collection
# ---------------------------------------------------------------------------
class DatasetFormatError(ValueError):
    """An annotation file does not follow its dataset's format.

    ``str(err)`` reads ``"path/to/file.txt:17: what is wrong"``; ``err.path`` and
    ``err.line`` (1-based, or None when the problem is not tied to a line) hold the
    location separately.
    """

    def __init__(self, message: str, path: Optional[str] = None, line: Optional[int] = None):
        super().__init__(message)
        self.path = path
        self.line = line


def _format_error(path: str, line: Optional[int], what: str) -> DatasetFormatError:
    where = f"{path}:{line}" if line is not None else f"{path}"
    return DatasetFormatError(f"{where}: {what}", path=str(path), line=line)


class _Problems:
    """Raise the first problem (``errors is None``) or collect all into ``errors``.

    In collector mode a sequence goes on being checked after a bad file (so that
    all its files get reported) and ``failed`` tells :func:`_load_each` to drop it.
    """

    def __init__(self, errors: Optional[list]):
        self.errors = errors
        self.failed = False

    @property
    def strict(self) -> bool:
        return self.errors is None

    def add(self, exc: Exception) -> None:
        if self.errors is None:
            raise exc
        self.errors.append(exc)

    def add_all(self, excs: List[Exception]) -> None:
        """Report the problems of one file (strict: raise the first)."""
        if not excs:
            return
        if self.errors is None:
            raise excs[0]
        self.errors.extend(excs)
        self.failed = True


def _load_each(items, build: Callable, problems: _Problems) -> List[dict]:
    """Build one record per item; in collector mode a bad sequence is dropped."""
    records = []
    for item in items:
        problems.failed = False
        try:
            record = build(item)
        except (DatasetFormatError, FileNotFoundError) as e:
            problems.add(e)
            continue
        if not problems.failed:
            records.append(record)
    problems.failed = False
    return sorted(records, key=lambda r: r["seq_name"])


# ---------------------------------------------------------------------------
# Small file helpers
# ---------------------------------------------------------------------------
def _require_dir(path: str, hint: str) -> str:
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: directory not found. Expected layout: {hint}")
    return path


def _require_file(path: str, hint: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file not found. Expected layout: {hint}")
    return path


def _natural_key(path: str):
    """Sort ``2.jpg`` before ``10.jpg``; identical to plain sorting for the
    zero-padded names every benchmark uses, so toolkit order is preserved."""
    name = os.path.basename(path)
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _list_images(folder: str, exts: Sequence[str] = (".jpg",)) -> List[str]:
    """Absolute, naturally sorted image paths directly inside ``folder``."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    paths = [
        os.path.join(os.path.abspath(folder), n)
        for n in names
        if os.path.splitext(n)[1].lower() in exts and not n.startswith(".")
    ]
    return sorted(paths, key=_natural_key)


def _read_lines(path: str) -> List[str]:
    """Lines of a text file without trailing blank lines (editors add them)."""
    # utf-8-sig: a byte-order mark (Windows editors write one) is not part of line 1.
    with open(path, "r", encoding="utf-8-sig", errors="replace") as f:
        lines = f.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _image_size(path: str) -> Tuple[int, int]:
    """(width, height) from the image header only (PIL decodes lazily)."""
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (OSError, ValueError) as e:
        raise DatasetFormatError(f"{path}: cannot read the image header ({e})", path=path) from e


def _got10k_package_file(name: str) -> str:
    """Path of a data file shipped in the installed got10k package.

    Found via ``find_spec`` so that nothing of got10k is imported.
    """
    spec = importlib.util.find_spec("got10k")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"the 'got10k' package is needed for its {name} table (pip install got10k)"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", name)
    if not os.path.isfile(path):
        raise ImportError(f"{path} missing from the installed got10k package")
    return path


def _load_got10k_json(name: str) -> dict:
    with open(_got10k_package_file(name), "r") as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# Annotation parsing
# ---------------------------------------------------------------------------
# separator name -> (regex splitting a stripped line, description for messages)
_SEPARATORS = {
    "comma": (re.compile(r"\s*,\s*"), "','"),
    # OTB mixes ',' and tabs across sequences and even within one file
    # (BlurCar1 line 496 uses a space), hence the toolkit's replace(',', ' ').
    "any": (re.compile(r"[\s,]+"), "',', tabs or spaces"),
}


def _read_boxes(
    path: str, separator: str, problems: _Problems, nan_means_absent: bool = False
) -> np.ndarray:
    """Parse one ``x,y,w,h`` box per line into a float32 (N, 4) array.

    Args:
        separator: a key of ``_SEPARATORS``.
        nan_means_absent: the format writes ``NaN,NaN,NaN,NaN`` for an absent
            target (UAV123). Elsewhere a NaN is a format error.

    Problems (wrong field count, non-number, forbidden NaN, negative size, blank
    line in the middle) are reported with their 1-based line number.
    """
    splitter, sep_desc = _SEPARATORS[separator]
    lines = _read_lines(path)
    if not lines:
        problems.add_all([_format_error(path, None, "empty annotation file")])
        return np.zeros((0, 4), dtype=np.float32)
    fast = _read_boxes_fast(lines, separator)
    if fast is not None:
        return fast
    boxes_xywh = np.zeros((len(lines), 4), dtype=np.float32)
    bad: List[Exception] = []
    for i, line in enumerate(lines):
        text = line.strip()
        what = None
        fields = splitter.split(text) if text else []
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = None
        if not text:
            what = "empty line (one box per frame expected; a blank line would shift every later box)"
        elif values is None or len(values) != 4 or any(math.isinf(v) for v in values):
            what = f"expected 4 numbers separated by {sep_desc}, got {text!r}"
        elif any(math.isnan(v) for v in values):
            if not (nan_means_absent and all(math.isnan(v) for v in values)):
                allowed = "only as a whole 'NaN,NaN,NaN,NaN' line" if nan_means_absent else "in this format"
                what = f"NaN is not allowed {allowed}, got {text!r}"
        elif values[2] < 0 or values[3] < 0:
            what = f"negative width/height in box, got {text!r}"
        if what is not None:
            bad.append(_format_error(path, i + 1, what))
            if problems.strict or len(bad) >= _MAX_LINE_PROBLEMS_PER_FILE:
                break
            continue
        boxes_xywh[i] = values
    if len(bad) >= _MAX_LINE_PROBLEMS_PER_FILE and i + 1 < len(lines):
        bad.append(_format_error(path, None, f"lines after {i + 1} not checked (too many bad lines)"))
    problems.add_all(bad)
    return boxes_xywh


def _read_boxes_fast(lines: List[str], separator: str) -> Optional[np.ndarray]:
    """Vectorised parse of a clean comma-separated file (LaSOT has 3.5M lines).

    Returns None at the first sign of anything unusual, so that the line-by-line
    parser produces the exact error message (or handles NaN-means-absent lines).
    """
    if separator != "comma":
        return None
    rows = [line.split(",") for line in lines]
    if any(len(r) != 4 for r in rows):
        return None
    try:
        boxes_xywh = np.array(rows, dtype=np.float32)
    except ValueError:
        return None
    if not np.isfinite(boxes_xywh).all() or (boxes_xywh[:, 2:] < 0).any():
        return None
    return boxes_xywh


def _read_int_lines(path: str, valid: Sequence[int], problems: _Problems) -> np.ndarray:
    """One integer per line (GOT-10k ``*.label`` files)."""
    lines = _read_lines(path)
    out = np.zeros(len(lines), dtype=np.int32)
    bad = []
    for i, line in enumerate(lines):
        text = line.strip()
        try:
            value = int(float(text))
            ok = float(text) == value and value in valid
        except ValueError:
            ok = False
        if not ok:
            bad.append(
                _format_error(path, i + 1, f"expected one integer in {min(valid)}..{max(valid)}, got {text!r}")
            )
            if len(bad) >= _MAX_LINE_PROBLEMS_PER_FILE:
                break
        else:
            out[i] = value
    problems.add_all(bad)
    return out


def _read_flag_line(path: str, problems: _Problems) -> np.ndarray:
    """LaSOT ``full_occlusion.txt`` / ``out_of_view.txt``: ``0,1,0,...``
    (normally on one line; several lines are concatenated)."""
    flags = []
    for i, line in enumerate(_read_lines(path)):
        text = line.strip()
        if not text:
            continue
        # strip(): tolerate a trailing separator, which split would turn into ''.
        for pos, field in enumerate(re.split(r"[\s,]+", text.strip(" ,\t"))):
            if field not in ("0", "1"):
                problems.add_all(
                    [_format_error(path, i + 1, f"expected 0/1 values separated by ',', got {field!r} "
                                                f"at position {pos + 1}")]
                )
            flags.append(field == "1")
    return np.asarray(flags, dtype=bool)


def _check_count(anno_file: str, n_annos: int, frames: List[str], frame_dir: str, problems: _Problems,
                 what: str = "annotation lines") -> None:
    """One annotation per frame; name both counts and the file when they differ."""
    if n_annos == 0 and problems.failed:
        return  # an empty file, already reported as such
    if n_annos != len(frames):
        # Point at the first line without a frame (no line when lines are missing).
        line = len(frames) + 1 if n_annos > len(frames) else None
        gaps = _numbering_gaps(frames)
        gap_text = f"; frame numbers missing: {', '.join(map(str, gaps[:10]))}" + (" ..." if len(gaps) > 10 else "") \
            if gaps else ""
        problems.add_all([
            _format_error(anno_file, line, f"{n_annos} {what} but {len(frames)} frames in {frame_dir}{gap_text}")
        ])


def _numbering_gaps(frames: List[str]) -> List[int]:
    """Numbers missing from numbered frame files (0001.jpg, 0002.jpg, ...), if they are numbered."""
    stems = [os.path.splitext(os.path.basename(f))[0] for f in frames]
    if not stems or not all(st.isdigit() for st in stems):
        return []
    numbers = sorted(int(st) for st in stems)
    present = set(numbers)
    return [n for n in range(numbers[0], numbers[-1] + 1) if n not in present]


def _usable(boxes_xywh: np.ndarray) -> np.ndarray:
    """Frames whose box can be tracked/trained on: finite and of positive area."""
    finite = np.isfinite(boxes_xywh).all(axis=1)
    with np.errstate(invalid="ignore"):
        return finite & (boxes_xywh[:, 2] > 0) & (boxes_xywh[:, 3] > 0)


def _make_record(seq_name: str, file_names: List[str], boxes_xywh: np.ndarray, visible: np.ndarray,
                 dataset: str, anno_file: str, **extra) -> dict:
    if not file_names:
        raise DatasetFormatError(f"{anno_file}: no frames for sequence {seq_name}", path=anno_file)
    width, height = _image_size(file_names[0])
    record = {
        "seq_name": seq_name,
        "file_names": [str(p) for p in file_names],
        "boxes_xywh": np.ascontiguousarray(boxes_xywh, dtype=np.float32),
        "visible": np.ascontiguousarray(visible, dtype=bool),
        "width": width,
        "height": height,
        "dataset": dataset,
        "anno_file": os.path.abspath(anno_file),
    }
    record.update(extra)
    return record


# ---------------------------------------------------------------------------
# GOT-10k
# ---------------------------------------------------------------------------
_GOT10K_HINT = (
    "ROOT/{train,val,test}/list.txt naming one folder per line; each folder holds "
    "00000001.jpg..., groundtruth.txt (x,y,w,h per line; test: first line only), "
    "absence.label and cover.label (train/val), meta_info.ini (optional)"
)


def _parse_meta_info(path: str) -> Dict[str, str]:
    """``meta_info.ini``: a ``[METAINFO]`` header then ``key: value`` lines.

    Optional metadata: malformed lines are ignored rather than reported.
    """
    meta = {}
    for line in _read_lines(path)[1:]:
        key, sep, value = line.partition(": ")
        if sep:
            meta[key.strip()] = value.strip()
    return meta


def _load_got10k_sequence(seq_dir: str, seq_name: str, init_only_ok: bool, dataset: str,
                          problems: _Problems, separator: str = "comma") -> dict:
    """One GOT-10k-style folder: ``00000001.jpg...`` + ``groundtruth.txt``."""
    _require_dir(seq_dir, _GOT10K_HINT)
    anno_file = _require_file(os.path.join(seq_dir, "groundtruth.txt"), _GOT10K_HINT)
    frames = _list_images(seq_dir, (".jpg",) if dataset == "got10k" else _IMAGE_EXTS)
    if not frames:
        raise FileNotFoundError(f"{seq_dir}: no frames (expected 00000001.jpg, ...). Expected layout: {_GOT10K_HINT}")
    boxes_xywh = _read_boxes(anno_file, separator, problems, nan_means_absent=(dataset != "got10k"))
    extra = {}
    if init_only_ok and len(boxes_xywh) == 1 and len(frames) > 1:
        # Test split: only the initial box is public (got10k: anno.ndim == 1).
        first = boxes_xywh[0]
        boxes_xywh = np.full((len(frames), 4), np.nan, dtype=np.float32)
        boxes_xywh[0] = first
        visible = np.zeros(len(frames), dtype=bool)
        visible[0] = _usable(boxes_xywh[:1])[0]
    else:
        _check_count(anno_file, len(boxes_xywh), frames, seq_dir, problems)
        visible = _usable(boxes_xywh)
        absence_file = os.path.join(seq_dir, "absence.label")
        if os.path.isfile(absence_file):
            absent = _read_int_lines(absence_file, (0, 1), problems)
            _check_count(absence_file, len(absent), frames, seq_dir, problems, what="labels")
            if len(absent) == len(visible):  # else reported above; keep checking the other files
                visible &= absent == 0
        cover_file = os.path.join(seq_dir, "cover.label")
        if os.path.isfile(cover_file):
            cover = _read_int_lines(cover_file, range(0, 9), problems)
            _check_count(cover_file, len(cover), frames, seq_dir, problems, what="labels")
            # cover 0 = fully occluded: no pixel of the target to learn from.
            if len(cover) == len(visible):
                visible &= cover > 0
            extra["cover"] = cover
    meta_file = os.path.join(seq_dir, "meta_info.ini")
    if os.path.isfile(meta_file):
        meta = _parse_meta_info(meta_file)
        if "object_class" in meta:
            extra["object_class"] = meta["object_class"]
    return _make_record(seq_name, frames, boxes_xywh, visible, dataset, anno_file, **extra)


def _read_list_file(list_file: str) -> List[str]:
    # strip() per line: list.txt files edited on Windows end lines with '\r'.
    return [line.strip() for line in _read_lines(list_file) if line.strip()]


def load_got10k(root: PathLike, split: Optional[str], *, errors: Optional[list] = None) -> List[dict]:
    """Load a GOT-10k split.

    Args:
        root: folder holding ``train/``, ``val/``, ``test/``.
        split: "train", "val" or "test". ``None`` means ``root`` is itself a split
            folder (holds ``list.txt``); a one-line ``groundtruth.txt`` is then read
            as test-style (initial box only).
        errors: collect problems here instead of raising (sequences with problems
            are skipped).

    Test split: only the first box is public; boxes of the other frames are NaN and
    ``visible`` is True only for frame 0. Train/val: ``visible`` is
    ``absence == 0 and cover > 0`` (and a usable box).
    """
    root = os.fspath(root)
    if split is not None and split not in ("train", "val", "test"):
        raise ValueError(f"GOT-10k split must be 'train', 'val' or 'test', got {split!r}")
    _require_dir(root, _GOT10K_HINT)
    split_dir = os.path.join(root, split) if split is not None else root
    list_file = _require_file(os.path.join(split_dir, "list.txt"), _GOT10K_HINT)
    problems = _Problems(errors)
    init_only_ok = split in ("test", None)
    seq_names = _read_list_file(list_file)
    return _load_each(
        seq_names,
        lambda name: _load_got10k_sequence(os.path.join(split_dir, name), name, init_only_ok, "got10k", problems),
        problems,
    )


# ---------------------------------------------------------------------------
# LaSOT
# ---------------------------------------------------------------------------
_LASOT_HINT = (
    "ROOT/<class>/<class>-<id>/img/00000001.jpg..., groundtruth.txt (x,y,w,h per line), "
    "full_occlusion.txt and out_of_view.txt (0/1 separated by ',')"
)


def _lasot_split_names(split: str) -> List[str]:
    """Protocol-II split, from the got10k package's ``lasot.json`` (280 test names)."""
    splits = _load_got10k_json("lasot.json")
    if split not in splits:
        raise ValueError(f"LaSOT split must be one of {sorted(splits)} or None, got {split!r}")
    return list(splits[split])


def _load_lasot_sequence(seq_dir: str, problems: _Problems, missing_flags: list) -> dict:
    seq_name = os.path.basename(seq_dir)
    anno_file = _require_file(os.path.join(seq_dir, "groundtruth.txt"), _LASOT_HINT)
    img_dir = _require_dir(os.path.join(seq_dir, "img"), _LASOT_HINT)
    frames = _list_images(img_dir)
    boxes_xywh = _read_boxes(anno_file, "comma", problems)
    _check_count(anno_file, len(boxes_xywh), frames, img_dir, problems)
    visible = _usable(boxes_xywh)
    for flag_name in ("full_occlusion.txt", "out_of_view.txt"):
        flag_file = os.path.join(seq_dir, flag_name)
        if not os.path.isfile(flag_file):
            # Not needed by the toolkit's evaluation; absent frames then carry 0-size
            # boxes, which _usable already marks invisible.
            missing_flags.append(flag_file)
            continue
        flags = _read_flag_line(flag_file, problems)
        if len(flags) != len(frames):
            problems.add_all([_format_error(flag_file, 1, f"{len(flags)} flags but {len(frames)} frames in {img_dir}")])
        elif len(flags) == len(visible):
            visible &= ~flags
    return _make_record(seq_name, frames, boxes_xywh, visible, "lasot", anno_file,
                        object_class=seq_name[: seq_name.rfind("-")])


def load_lasot(root: PathLike, split: Optional[str], *, errors: Optional[list] = None) -> List[dict]:
    """Load LaSOT.

    Args:
        root: folder holding the class folders (``airplane/airplane-1/...``).
        split: "test" (the 280 sequences of protocol II), "train" (the other
            1120) or None (every sequence folder present).
        errors: collect problems instead of raising.

    Sequences of the split missing from ``root`` are skipped with one warning.
    ``visible`` is False where ``full_occlusion`` or ``out_of_view`` is 1.
    """
    root = os.fspath(root)
    _require_dir(root, _LASOT_HINT)
    problems = _Problems(errors)
    if split is None:
        seq_dirs = sorted(d for d in glob.glob(os.path.join(root, "*", "*-*"))
                          if os.path.isdir(d) and os.path.basename(d).startswith(
                              os.path.basename(os.path.dirname(d)) + "-"))
    else:
        names = _lasot_split_names(split)
        all_dirs = [os.path.join(root, n[: n.rfind("-")], n) for n in names]
        seq_dirs = [d for d in all_dirs if os.path.isdir(d)]
        n_missing = len(all_dirs) - len(seq_dirs)
        if n_missing:
            logger.warning("LaSOT %s split: %d of %d sequences are not under %s; loading the %d present.",
                           split, n_missing, len(all_dirs), root, len(seq_dirs))
    if not seq_dirs:
        raise FileNotFoundError(
            f"{root}: no LaSOT sequence{'' if split is None else ' of the ' + split + ' split'} found. "
            f"Expected layout: {_LASOT_HINT}"
        )
    missing_flags: List[str] = []
    records = _load_each(seq_dirs, lambda d: _load_lasot_sequence(d, problems, missing_flags), problems)
    if missing_flags:
        logger.warning("LaSOT: %d occlusion/out-of-view flag files missing (e.g. %s); visibility from boxes only.",
                       len(missing_flags), missing_flags[0])
    return records


# ---------------------------------------------------------------------------
# OTB
# ---------------------------------------------------------------------------
_OTB_HINT = "ROOT/<Seq>/img/0001.jpg... and ROOT/<Seq>/groundtruth_rect.txt (or groundtruth_rect.1.txt, .2.txt)"

# Sequences whose annotation covers only part of the image folder, as (first, last)
# 1-based positions in the sorted frame list. Copied from the got10k toolkit
# (got10k/datasets/otb.py, OTB.__getitem__, "special sequences"), which follows the
# official OTB configSeqs.m. Not importable: it is inline code in the toolkit.
# Other OTB sequences whose official range does not start at 1 (BlurCar1 247-988,
# BlurCar3 3-359, BlurCar4 18-397, Board 00001.jpg...) ship only the frames of that
# range, so the sorted folder already is the range; Tiger1's "6-354" of the OTB
# config is an evaluation offset (its folder and annotation both have 354 frames)
# and the toolkit ignores it, as we do.
_OTB_FRAME_RANGES = {
    "david": (300, 770),
    "football1": (1, 74),
    "freeman3": (1, 460),
    "freeman4": (1, 283),
    "diving": (1, 215),
}

_OTB_VERSION_ALIASES = {
    "2013": 2013, "otb2013": 2013, "otb13": 2013, "otb50": "tb50",
    "2015": 2015, "otb2015": 2015, "otb15": 2015, "otb100": "tb100",
    "tb50": "tb50", "tb100": "tb100",
}


def _otb_version_sequences(version) -> List[str]:
    """Sequence names of an OTB version, from the got10k toolkit's lists."""
    key = _OTB_VERSION_ALIASES.get(str(version).lower().replace("-", "").replace("_", ""))
    if key is None:
        raise ValueError(f"OTB version must be 2013, 2015, 'tb50', 'tb100' or None, got {version!r}")
    # The lists are class attributes of got10k's OTB (name-mangled); importing the
    # module is cheap (numpy + six).
    from got10k.datasets.otb import OTB

    return list(OTB._OTB__version_dict[key])


def _otb_anno_files(seq_dir: str, pattern: str = "groundtruth*.txt") -> List[str]:
    """Non-empty annotation files of one OTB folder, sorted like the toolkit.

    Empty files are dropped with a warning (Human4 ships an empty one).
    """
    files = []
    for f in sorted(glob.glob(os.path.join(seq_dir, pattern))):
        if not os.path.isfile(f):
            continue
        if not "".join(_read_lines(f)).strip():
            logger.warning("Ignoring empty annotation file %s", f)
            continue
        files.append(f)
    return files


def _no_annotation_error(seq_dir: str, pattern: str, hint: str) -> Exception:
    """An empty annotation file is reported as empty, a missing one as missing."""
    empty = sorted(glob.glob(os.path.join(seq_dir, pattern)))
    if empty:
        return _format_error(empty[0], None, "empty annotation file (one x,y,w,h box per frame expected)")
    return FileNotFoundError(f"{os.path.join(seq_dir, 'groundtruth_rect.txt')}: file not found. Expected layout: {hint}")


def _otb_targets(seq_dir: str, anno_files: List[str]) -> List[Tuple[str, str]]:
    """(seq_name, anno_file) per target: several annotation files in one folder
    (Jogging, Skating2) become ``Jogging.1``, ``Jogging.2`` (got10k's naming)."""
    base = os.path.basename(os.path.normpath(seq_dir))
    if len(anno_files) == 1:
        return [(base, anno_files[0])]
    return [(f"{base}.{i + 1}", f) for i, f in enumerate(anno_files)]


def _load_otb_target(seq_name: str, anno_file: str, frame_dir: str, dataset: str, problems: _Problems,
                     exts: Sequence[str] = (".jpg",), nan_means_absent: bool = False) -> dict:
    frames = _list_images(frame_dir, exts)
    base = seq_name.split(".")[0].lower()
    if base in _OTB_FRAME_RANGES and dataset == "otb":
        first, last = _OTB_FRAME_RANGES[base]
        frames = frames[first - 1: last]
    boxes_xywh = _read_boxes(anno_file, "any", problems, nan_means_absent=nan_means_absent)
    if not frames:
        raise FileNotFoundError(f"{frame_dir}: no frames. Expected layout: {_OTB_HINT}")
    _check_count(anno_file, len(boxes_xywh), frames, frame_dir, problems)
    return _make_record(seq_name, frames, boxes_xywh, _usable(boxes_xywh), dataset, anno_file)


def _load_otb_folder(seq_dir: str, problems: _Problems) -> List[dict]:
    """All targets of one OTB sequence folder."""
    anno_files = _otb_anno_files(seq_dir)
    if not anno_files:
        problems.add(_no_annotation_error(seq_dir, "groundtruth*.txt", _OTB_HINT))
        return []
    img_dir = os.path.join(seq_dir, "img")
    if not os.path.isdir(img_dir):
        problems.add(FileNotFoundError(f"{img_dir}: directory not found. Expected layout: {_OTB_HINT}"))
        return []
    return _load_each(
        _otb_targets(seq_dir, anno_files),
        lambda t: _load_otb_target(t[0], t[1], img_dir, "otb", problems),
        problems,
    )


def load_otb(root: PathLike, version: Union[int, str, None] = 2015, *, errors: Optional[list] = None) -> List[dict]:
    """Load OTB (OTB-2013, OTB-2015 = TB-100, TB-50).

    Args:
        root: folder holding one folder per sequence (``Crossing/img/0001.jpg``,
            ``Crossing/groundtruth_rect.txt``).
        version: 2013, 2015, "tb50", "tb100" (got10k's lists), or None for every
            sequence folder present.
        errors: collect problems instead of raising.

    Annotations may be separated by commas, tabs or spaces. Multi-target folders
    give one sequence per annotation file (``Jogging.1``, ``Jogging.2``); David,
    Football1, Freeman3, Freeman4 and Diving use only the annotated frame range.
    """
    root = os.fspath(root)
    _require_dir(root, _OTB_HINT)
    problems = _Problems(errors)
    if version is None:
        seq_dirs = sorted(
            os.path.join(root, n) for n in os.listdir(root)
            if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
            and (os.path.isdir(os.path.join(root, n, "img"))
                 or glob.glob(os.path.join(root, n, "groundtruth*.txt")))
        )
    else:
        names = _otb_version_sequences(version)
        seq_dirs = [os.path.join(root, n) for n in names if os.path.isdir(os.path.join(root, n))]
        if len(seq_dirs) < len(names):
            logger.warning("OTB %s: %d of %d sequences are not under %s; loading the %d present.",
                           version, len(names) - len(seq_dirs), len(names), root, len(seq_dirs))
    if not seq_dirs:
        raise FileNotFoundError(f"{root}: no OTB sequence found. Expected layout: {_OTB_HINT}")
    records = []
    for seq_dir in seq_dirs:
        records.extend(_load_otb_folder(seq_dir, problems))
    return sorted(records, key=lambda r: r["seq_name"])


# ---------------------------------------------------------------------------
# UAV123 / UAV20L / UAV123@10fps
# ---------------------------------------------------------------------------
_UAV_HINT = (
    "ROOT/data_seq/UAV123/<seq>/000001.jpg... and ROOT/anno/UAV123/<subseq>.txt (UAV20L: anno/UAV20L, "
    "frames still in data_seq/UAV123; 10 fps: data_seq/UAV123_10fps and anno/UAV123_10fps)"
)

# version -> (annotation folder, frame folder, key of got10k's uav123.json, frame step)
_UAV_VERSIONS = {
    "UAV123": ("UAV123", "UAV123", "UAV123", 1),
    "UAV20L": ("UAV20L", "UAV123", "UAV20L", 1),
    # The 10 fps release keeps every 3rd frame of the 30 fps one and renumbers from 1.
    "UAV123_10FPS": ("UAV123_10fps", "UAV123_10fps", "UAV123", 3),
}


def _uav_version_key(version: str) -> str:
    key = str(version).upper().replace("@", "_")
    if key not in _UAV_VERSIONS:
        raise ValueError(f"UAV version must be 'UAV123', 'UAV20L' or 'UAV123@10fps', got {version!r}")
    return key


def _uav_frame_range(meta: dict, step: int) -> Tuple[int, int]:
    """1-based (first, last) frame numbers; 30 fps frame f is 10 fps frame
    (f - 1) // 3 + 1 (checked against the 10 fps release's configSeqs.m)."""
    first, last = int(meta["start_frame"]), int(meta["end_frame"])
    return (first - 1) // step + 1, (last - 1) // step + 1


def _load_uav_sequence(anno_file: str, frame_root: str, metas: dict, step: int, problems: _Problems,
                       unknown: list) -> dict:
    seq_name = os.path.splitext(os.path.basename(anno_file))[0]
    meta = metas.get(seq_name)
    if meta is None:
        # Not in the toolkit's table: assume a whole folder named like the file.
        unknown.append(seq_name)
        frame_dir = _require_dir(os.path.join(frame_root, seq_name), _UAV_HINT)
        frames = _list_images(frame_dir)
    else:
        frame_dir = _require_dir(os.path.join(frame_root, meta["folder_name"]), _UAV_HINT)
        first, last = _uav_frame_range(meta, step)
        frames = [os.path.join(os.path.abspath(frame_dir), "%06d.jpg" % f) for f in range(first, last + 1)]
        # One listdir per folder instead of a stat per frame.
        present = set(os.listdir(frame_dir))
        missing = [os.path.basename(p) for p in frames if os.path.basename(p) not in present]
        if missing:
            raise FileNotFoundError(
                f"{frame_dir}: {len(missing)} frames of {seq_name} ({first:06d}.jpg..{last:06d}.jpg) missing, "
                f"first {missing[0]}. Expected layout: {_UAV_HINT}"
            )
    # NaN lines are the toolkit's convention for "target fully occluded or out of view".
    boxes_xywh = _read_boxes(anno_file, "comma", problems, nan_means_absent=True)
    _check_count(anno_file, len(boxes_xywh), frames, frame_dir, problems)
    return _make_record(seq_name, frames, boxes_xywh, _usable(boxes_xywh), "uav123", anno_file)


def load_uav123(root: PathLike, version: str = "UAV123", *, errors: Optional[list] = None) -> List[dict]:
    """Load UAV123, UAV20L or UAV123@10fps.

    Args:
        root: folder holding ``data_seq/`` and ``anno/``.
        version: "UAV123", "UAV20L" or "UAV123@10fps" (also "UAV123_10fps").
        errors: collect problems instead of raising.

    Sub-sequences (``bird1_1``, ``bird1_2``...) take their frame ranges from
    got10k's ``uav123.json``. NaN lines mark an absent target (visible False).
    """
    root = os.fspath(root)
    anno_sub, frame_sub, table_key, step = _UAV_VERSIONS[_uav_version_key(version)]
    _require_dir(root, _UAV_HINT)
    anno_dir = _require_dir(os.path.join(root, "anno", anno_sub), _UAV_HINT)
    frame_root = _require_dir(os.path.join(root, "data_seq", frame_sub), _UAV_HINT)
    metas = _load_got10k_json("uav123.json")[table_key]
    anno_files = sorted(glob.glob(os.path.join(anno_dir, "*.txt")))
    if not anno_files:
        raise FileNotFoundError(f"{anno_dir}: no annotation files. Expected layout: {_UAV_HINT}")
    n_missing = len(set(metas) - {os.path.splitext(os.path.basename(f))[0] for f in anno_files})
    if n_missing:
        logger.warning("%s: %d of %d sequences have no annotation under %s; loading the %d present.",
                       version, n_missing, len(metas), anno_dir, len(anno_files))
    problems = _Problems(errors)
    unknown: List[str] = []
    records = _load_each(anno_files, lambda f: _load_uav_sequence(f, frame_root, metas, step, problems, unknown),
                         problems)
    if unknown:
        logger.warning("%s: %d annotation files not in got10k's table (e.g. %s); used their whole frame folder.",
                       version, len(unknown), unknown[0])
    return records


# ---------------------------------------------------------------------------
# NfS (Need for Speed)
# ---------------------------------------------------------------------------
_NFS_HINT = (
    "ROOT/<seq>/30/<seq>/00001.jpg... with ROOT/<seq>/30/<seq>.txt or ROOT/<seq>/240/<seq>.txt, lines "
    "'track_id xmin ymin xmax ymax frame_num lost occluded generated \"label\"'"
)


def _read_nfs_annotation(path: str, problems: _Problems) -> Tuple[np.ndarray, np.ndarray]:
    """(boxes_xyxy (N, 4), flagged (N,) bool: lost or occluded) of an NfS file."""
    lines = _read_lines(path)
    if not lines:
        problems.add_all([_format_error(path, None, "empty annotation file")])
    boxes_xyxy = np.zeros((len(lines), 4), dtype=np.float32)
    flagged = np.zeros(len(lines), dtype=bool)
    bad = []
    for i, line in enumerate(lines):
        text = line.strip()
        # The label is last and quoted; maxsplit keeps a label with spaces in one field.
        fields = text.split(None, 9)
        try:
            numbers = [float(v) for v in fields[:8]]
        except ValueError:
            numbers = []
        if len(numbers) < 5 or not np.isfinite(numbers).all():
            bad.append(_format_error(
                path, i + 1, "expected 'track_id xmin ymin xmax ymax frame_num lost occluded generated \"label\"' "
                             f"separated by spaces, got {text!r}"))
        elif numbers[3] < numbers[1] or numbers[4] < numbers[2]:
            bad.append(_format_error(path, i + 1, f"xmax < xmin or ymax < ymin (negative width/height), got {text!r}"))
        else:
            boxes_xyxy[i] = numbers[1:5]
            if len(numbers) >= 8:
                flagged[i] = numbers[6] != 0 or numbers[7] != 0
        if bad and (problems.strict or len(bad) >= _MAX_LINE_PROBLEMS_PER_FILE):
            break
    problems.add_all(bad)
    return boxes_xyxy, flagged


def _load_nfs_sequence(seq_dir: str, fps: int, problems: _Problems) -> dict:
    # got10k globs <seq>/<fps>/*.txt; the 30 fps folder's file holds 240 fps lines.
    anno_files = sorted(glob.glob(os.path.join(seq_dir, str(fps), "*.txt")))
    if not anno_files:
        anno_files = sorted(glob.glob(os.path.join(seq_dir, "240", "*.txt")))
    if not anno_files:
        raise FileNotFoundError(
            f"{os.path.join(seq_dir, str(fps), os.path.basename(seq_dir) + '.txt')}: file not found. "
            f"Expected layout: {_NFS_HINT}")
    anno_file = anno_files[0]
    seq_name = os.path.splitext(os.path.basename(anno_file))[0]
    frame_dir = _require_dir(os.path.join(seq_dir, str(fps), seq_name), _NFS_HINT)
    frames = _list_images(frame_dir)
    if not frames:
        raise FileNotFoundError(f"{frame_dir}: no frames. Expected layout: {_NFS_HINT}")
    boxes_xyxy, flagged = _read_nfs_annotation(anno_file, problems)
    if not len(boxes_xyxy):
        return {}  # empty file, already reported (collector mode drops the sequence)
    # Reconcile counts exactly as got10k/datasets/nfs.py does: a ~8x longer
    # annotation is the 240 fps one, keep every 8th line; then a difference of
    # one frame is trimmed from the longer side.
    n_annos = len(boxes_xyxy)
    if n_annos != len(frames):
        if abs(n_annos / len(frames) - 8) < 1:
            boxes_xyxy, flagged = boxes_xyxy[0::8], flagged[0::8]
        diff = abs(len(frames) - len(boxes_xyxy))
        if 0 < diff <= 1:
            n = min(len(frames), len(boxes_xyxy))
            boxes_xyxy, flagged, frames = boxes_xyxy[:n], flagged[:n], frames[:n]
    if len(boxes_xyxy) != len(frames):
        problems.add_all([_format_error(
            anno_file, None,
            f"{n_annos} annotation lines ({len(boxes_xyxy)} after 240->{fps} fps subsampling) "
            f"but {len(frames)} frames in {frame_dir}")])
    boxes_xywh = boxes_xyxy.copy()
    boxes_xywh[:, 2:] -= boxes_xywh[:, :2]  # no +1, like the toolkit
    visible = _usable(boxes_xywh) & ~flagged
    return _make_record(seq_name, frames, boxes_xywh, visible, "nfs", anno_file)


def load_nfs(root: PathLike, fps: int = 30, *, errors: Optional[list] = None) -> List[dict]:
    """Load NfS (Need for Speed) at 30 or 240 fps.

    Args:
        root: folder holding one folder per sequence (``Gymnastics/30/Gymnastics/``).
        fps: 30 (the usual benchmark) or 240.
        errors: collect problems instead of raising.

    240 fps annotations are subsampled to 30 fps by keeping every 8th line, as the
    toolkit does; ``lost`` or ``occluded`` frames are not visible. Boxes are
    converted from ``xmin ymin xmax ymax`` to ``x y w h``.
    """
    if fps not in (30, 240):
        raise ValueError(f"NfS fps must be 30 or 240, got {fps!r}")
    root = os.fspath(root)
    _require_dir(root, _NFS_HINT)
    seq_dirs = sorted(
        os.path.join(root, n) for n in os.listdir(root)
        if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
    )
    if not seq_dirs:
        raise FileNotFoundError(f"{root}: no NfS sequence found. Expected layout: {_NFS_HINT}")
    problems = _Problems(errors)
    return _load_each(seq_dirs, lambda d: _load_nfs_sequence(d, fps, problems), problems)


# ---------------------------------------------------------------------------
# Generic folder (OTB or GOT-10k layout, detected per sequence)
# ---------------------------------------------------------------------------
_FOLDER_HINT = (
    "ROOT/<seq>/img/*.jpg + ROOT/<seq>/groundtruth_rect.txt (OTB), ROOT/<seq>/*.jpg + groundtruth_rect.txt, "
    "or ROOT/<seq>/00000001.jpg + groundtruth.txt (GOT-10k, optional ROOT/list.txt)"
)


def _folder_layout(seq_dir: str) -> Optional[str]:
    """'otb' (img/ subfolder), 'flat' (frames + groundtruth_rect*.txt), 'got10k'
    (frames + groundtruth.txt) or None when the folder is no sequence at all."""
    if os.path.isdir(os.path.join(seq_dir, "img")):
        return "otb"
    if os.path.isfile(os.path.join(seq_dir, "groundtruth.txt")):
        return "got10k"
    if glob.glob(os.path.join(seq_dir, "groundtruth_rect*.txt")):
        return "flat"
    if _list_images(seq_dir, _IMAGE_EXTS):
        return "flat"  # frames without annotation: reported when loading
    return None


def _load_folder_sequence(seq_dir: str, layout: str, problems: _Problems) -> List[dict]:
    if layout == "got10k":
        name = os.path.basename(os.path.normpath(seq_dir))
        return _load_each(
            [seq_dir], lambda d: _load_got10k_sequence(d, name, True, "folder", problems, separator="any"), problems
        )
    frame_dir = os.path.join(seq_dir, "img") if layout == "otb" else seq_dir
    anno_files = _otb_anno_files(seq_dir, "groundtruth_rect*.txt") or _otb_anno_files(seq_dir, "groundtruth.txt")
    if not anno_files:
        problems.add(_no_annotation_error(seq_dir, "groundtruth_rect*.txt", _FOLDER_HINT))
        return []
    # Sequences exported from UAV123 keep its NaN lines for absent targets.
    return _load_each(
        _otb_targets(seq_dir, anno_files),
        lambda t: _load_otb_target(t[0], t[1], frame_dir, "folder", problems, _IMAGE_EXTS, nan_means_absent=True),
        problems,
    )


def load_folder(root: PathLike, *, errors: Optional[list] = None) -> List[dict]:
    """Load any folder of sequences, detecting the layout of each sequence.

    Accepted per sequence folder: OTB (``img/*.jpg`` + ``groundtruth_rect*.txt``),
    flat (``*.jpg`` + ``groundtruth_rect.txt``) or GOT-10k (``00000001.jpg`` +
    ``groundtruth.txt``, optional labels). If ``root/list.txt`` exists it names the
    sequences. ``root`` may also be a single sequence folder. Separators may be
    commas, tabs or spaces; a ``NaN,NaN,NaN,NaN`` line means the target is absent.
    """
    root = os.fspath(root)
    _require_dir(root, _FOLDER_HINT)
    problems = _Problems(errors)
    list_file = os.path.join(root, "list.txt")
    if _folder_layout(root) is not None and not os.path.isfile(list_file):
        # root is one sequence itself (e.g. .../sequences/Crossing).
        seq_dirs = [root]
    elif os.path.isfile(list_file):
        seq_dirs = [os.path.join(root, n) for n in _read_list_file(list_file)]
    else:
        seq_dirs = sorted(os.path.join(root, n) for n in os.listdir(root)
                          if not n.startswith(".") and os.path.isdir(os.path.join(root, n)))
    records = []
    for seq_dir in seq_dirs:
        layout = _folder_layout(seq_dir)
        if layout is None:
            if os.path.isfile(list_file):  # listed explicitly, so it must be a sequence
                problems.add(FileNotFoundError(
                    f"{seq_dir}: listed in {list_file} but holds no sequence. Expected layout: {_FOLDER_HINT}"))
            continue
        records.extend(_load_folder_sequence(seq_dir, layout, problems))
    if not records and (problems.strict or not problems.errors):
        raise FileNotFoundError(f"{root}: no sequence found. Expected layout: {_FOLDER_HINT}")
    return sorted(records, key=lambda r: r["seq_name"])


# name -> loader; the keyword that selects a subset differs per format.
LOADERS: Dict[str, Callable[..., List[dict]]] = {
    "got10k": load_got10k,
    "lasot": load_lasot,
    "otb": load_otb,
    "uav123": load_uav123,
    "nfs": load_nfs,
    "folder": load_folder,
}


# ---------------------------------------------------------------------------
# detectron2 registration
# ---------------------------------------------------------------------------
_DATASETS_ENV = "DETECTRON2_DATASETS"
# name -> (loader, kwargs) of what this module registered, to make re-registration
# with the same arguments a no-op (modules get imported more than once).
_REGISTERED: Dict[str, Tuple[Callable, dict]] = {}


def _catalogs():
    # detectron2 v0.6 needs the numpy/Pillow shims before its data package imports.
    from ..compat import apply_compat

    apply_compat()
    from detectron2.data import DatasetCatalog, MetadataCatalog

    return DatasetCatalog, MetadataCatalog


def _loader_format(loader: Callable, kwargs: dict) -> str:
    if "format" in kwargs:
        return kwargs["format"]
    for name, fn in LOADERS.items():
        if fn is loader:
            return name
    return getattr(loader, "__name__", "custom").replace("load_", "")


def register_video_dataset(name: str, loader: Callable[..., List[dict]], **kwargs) -> None:
    """Register ``loader(**kwargs)`` lazily under ``name`` in detectron2's catalogs.

    Nothing is read from disk until ``DatasetCatalog.get(name)``. The metadata gets
    ``evaluator_type="tracking"``, ``root`` and ``format`` (plus ``split`` /
    ``version`` / ``fps`` when given). Registering a name again with the same
    loader and arguments is a no-op. A name this module registered with other
    arguments is replaced (so ``register_all_video_datasets("/data")`` after the
    import-time registration works); a name registered by other code is an error.
    """
    DatasetCatalog, MetadataCatalog = _catalogs()
    if name in DatasetCatalog.list():
        previous = _REGISTERED.get(name)
        if previous is None:
            raise ValueError(f"dataset {name!r} is already registered by other code")
        if previous[0] is loader and previous[1] == kwargs:
            return
        logger.info("Re-registering dataset %r with %s (was %s)", name, kwargs, previous[1])
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: loader(**kwargs))
    _REGISTERED[name] = (loader, dict(kwargs))
    meta = {"evaluator_type": "tracking", "format": _loader_format(loader, kwargs)}
    if "root" in kwargs:
        # Standard datasets: the folder actually used is root/<first subdir>.
        meta["root"] = os.path.join(os.fspath(kwargs["root"]), *kwargs.get("subdirs", ())[:1])
    for key in ("split", "version", "fps"):
        if kwargs.get(key) is not None:
            meta[key] = kwargs[key]
    MetadataCatalog.get(name).set(**meta)


def register_folder_dataset(name: str, root: PathLike, format: str = "folder", split: Optional[str] = None,
                            **loader_kwargs) -> None:
    """Register an arbitrary folder, e.g. ``register_folder_dataset("mine", "/data/seqs")``.

    Args:
        format: a key of :data:`LOADERS` ("folder", "got10k", "otb", ...).
        split: passed to the GOT-10k / LaSOT loaders (GOT-10k: None means ``root``
            is the split folder itself).
        loader_kwargs: other loader arguments (``version=`` for OTB/UAV123,
            ``fps=`` for NfS).
    """
    if format not in LOADERS:
        raise ValueError(f"format must be one of {sorted(LOADERS)}, got {format!r}")
    kwargs = dict(loader_kwargs, root=os.fspath(root))
    if format in ("got10k", "lasot"):
        kwargs["split"] = split
    elif split is not None:
        raise ValueError(f"split is not used by the {format!r} loader (use version=/fps=)")
    register_video_dataset(name, LOADERS[format], **kwargs)


def _load_standard(format: str, root: str, subdirs: Tuple[str, ...], **loader_kwargs) -> List[dict]:
    """Load a standard dataset from the first of ``root/<subdir>`` that exists."""
    for sub in subdirs:
        path = os.path.join(root, sub)
        if os.path.isdir(path):
            return LOADERS[format](path, **loader_kwargs)
    env = os.environ.get(_DATASETS_ENV)
    env_text = f"${_DATASETS_ENV}={env!r}" if env is not None else f"${_DATASETS_ENV} unset (default 'datasets')"
    tried = " or ".join(os.path.join(root, s) for s in subdirs)
    raise FileNotFoundError(
        f"{tried}: dataset folder not found. Standard datasets live under ${_DATASETS_ENV}/{subdirs[0]} "
        f"(root {root!r}, {env_text}); set {_DATASETS_ENV} or move the data there. "
        f"Expected layout: {_STANDARD_HINTS[format]}"
    )


_STANDARD_HINTS = {
    "got10k": _GOT10K_HINT,
    "lasot": _LASOT_HINT,
    "otb": _OTB_HINT,
    "uav123": _UAV_HINT,
    "nfs": _NFS_HINT,
    "folder": _FOLDER_HINT,
}

# name -> (format, subfolders tried in order, loader kwargs)
_STANDARD_DATASETS = {
    "got10k_train": ("got10k", ("GOT-10k",), {"split": "train"}),
    "got10k_val": ("got10k", ("GOT-10k",), {"split": "val"}),
    "got10k_test": ("got10k", ("GOT-10k",), {"split": "test"}),
    "lasot_train": ("lasot", ("LaSOT", "LaSOTBenchmark"), {"split": "train"}),
    "lasot_test": ("lasot", ("LaSOT", "LaSOTBenchmark"), {"split": "test"}),
    "otb2013": ("otb", ("OTB",), {"version": 2013}),
    "otb2015": ("otb", ("OTB",), {"version": 2015}),
    "uav123": ("uav123", ("UAV123",), {"version": "UAV123"}),
    "uav20l": ("uav123", ("UAV123",), {"version": "UAV20L"}),
    "nfs30": ("nfs", ("NfS",), {"fps": 30}),
    # Videos of guided_tracking.data.synthetic (GOT-10k layout), see train_net.py.
    "synthetic_train": ("got10k", ("synthetic",), {"split": "train"}),
    "synthetic_val": ("got10k", ("synthetic",), {"split": "val"}),
    "synthetic_test": ("got10k", ("synthetic",), {"split": "test"}),
}


def register_all_video_datasets(root: Optional[PathLike] = None) -> None:
    """Register the standard tracking datasets (got10k_train, lasot_test, otb2015,
    uav123, nfs30, ...) under ``root`` or ``$DETECTRON2_DATASETS`` (default
    ``datasets``), each in its conventional subfolder (``GOT-10k``, ``LaSOT`` or
    ``LaSOTBenchmark``, ``OTB``, ``UAV123``, ``NfS``). Lazy: no disk access."""
    if root is None:
        root = os.environ.get(_DATASETS_ENV, "datasets")
    root = os.fspath(root)
    for name, (fmt, subdirs, kwargs) in _STANDARD_DATASETS.items():
        register_video_dataset(name, _load_standard, format=fmt, root=root, subdirs=subdirs, **kwargs)


if __name__.endswith(".data.datasets"):
    # Like detectron2/data/datasets/builtin.py; an import must never fail because
    # detectron2 is missing or a name is taken, so problems are only logged.
    try:
        register_all_video_datasets()
    except Exception as e:  # noqa: BLE001
        logger.warning("Standard tracking datasets not registered: %s", e)
