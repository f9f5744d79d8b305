"""LaSOT (the 280-sequence test split, or all; occlusion / out-of-view flags)."""
import glob
import logging
import os
from typing import List, Optional

from .common import (
    PathLike, _Problems, _check_count, _format_error, _list_images, _load_each, _load_got10k_json,
    _make_record, _read_boxes, _read_flag_line, _require_dir, _require_file, _usable,
)

logger = logging.getLogger(__name__)

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
