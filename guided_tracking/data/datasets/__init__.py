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
from .common import DatasetFormatError
from .folder import load_folder
from .got10k import load_got10k
from .lasot import load_lasot
from .nfs import load_nfs
from .otb import load_otb
from .registry import LOADERS, register_all_video_datasets, register_folder_dataset, register_video_dataset
from .uav123 import load_uav123

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
