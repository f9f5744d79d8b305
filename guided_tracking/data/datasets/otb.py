"""OTB-2013 / OTB-2015 (several targets per folder, official frame ranges)."""
import glob
import logging
import os
from typing import List, Optional, Sequence, Tuple, Union

from .common import (
    PathLike, _Problems, _check_count, _format_error, _list_images, _load_each, _make_record, _read_boxes,
    _read_lines, _require_dir, _usable,
)

logger = logging.getLogger(__name__)

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
