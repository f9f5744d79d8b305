"""What every format loader shares: the record layout, error collection
(``DatasetFormatError``, collector mode), file helpers and annotation parsing."""
import importlib
import json
import logging
import math
import os
import re
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image


logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

# Image extensions accepted by load_folder (the benchmark loaders use *.jpg only,
# like the toolkit).
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
# In collector mode, report at most this many bad lines per file: a file written
# with the wrong separator would otherwise produce thousands of identical lines.
_MAX_LINE_PROBLEMS_PER_FILE = 10


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
