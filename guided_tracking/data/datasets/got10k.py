"""GOT-10k (train / val / test splits, absence and cover labels)."""
import logging
import os
from typing import Dict, List, Optional

import numpy as np

from .common import (
    PathLike, _IMAGE_EXTS, _Problems, _check_count, _list_images, _load_each, _make_record, _read_boxes,
    _read_int_lines, _read_lines, _require_dir, _require_file, _usable,
)

logger = logging.getLogger(__name__)

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
