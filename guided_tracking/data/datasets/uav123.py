"""UAV123 / UAV20L / UAV123@10fps (frame ranges from the toolkit's table)."""
import glob
import logging
import os
from typing import List, Optional, Tuple

from .common import (
    PathLike, _Problems, _check_count, _list_images, _load_each, _load_got10k_json, _make_record,
    _read_boxes, _require_dir, _usable,
)

logger = logging.getLogger(__name__)

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
