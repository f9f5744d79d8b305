"""Need for Speed (30 fps frames, 240 fps annotations subsampled; lost / occluded flags)."""
import glob
import logging
import os
from typing import List, Optional, Tuple

import numpy as np

from .common import (
    PathLike, _MAX_LINE_PROBLEMS_PER_FILE, _Problems, _format_error, _list_images, _load_each, _make_record,
    _read_lines, _require_dir, _usable,
)

logger = logging.getLogger(__name__)

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
