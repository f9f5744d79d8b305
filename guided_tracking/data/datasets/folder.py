"""Any folder of sequences in OTB or GOT-10k layout, detected per sequence."""
import glob
import logging
import os
from typing import List, Optional

from .common import PathLike, _IMAGE_EXTS, _Problems, _list_images, _load_each, _require_dir
from .got10k import _load_got10k_sequence, _read_list_file
from .otb import _load_otb_target, _no_annotation_error, _otb_anno_files, _otb_targets

logger = logging.getLogger(__name__)

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
    classes = read_index_classes(os.path.join(root, "INDEX.tsv"))
    for record in records:
        if record["seq_name"] in classes:
            record.setdefault("object_class", classes[record["seq_name"]])
    return sorted(records, key=lambda r: r["seq_name"])


def read_index_classes(path: str) -> dict:
    """``{sequence: object_class}`` from a folder's optional ``INDEX.tsv`` (a header
    line naming the columns ``sequence`` and ``object_class``, tab-separated), as
    the real data sets here ship it; {} when it is missing or has no such columns
    (the classes only serve same-class negatives in training)."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\r\n").split("\t") for line in f if line.strip()]
    if not rows or "sequence" not in rows[0] or "object_class" not in rows[0]:
        logger.warning(f"{path}: no 'sequence' and 'object_class' columns in its header; object classes not read")
        return {}
    seq_col, class_col = rows[0].index("sequence"), rows[0].index("object_class")
    return {r[seq_col]: r[class_col] for r in rows[1:] if len(r) > max(seq_col, class_col) and r[class_col]}
