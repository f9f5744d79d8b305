"""Box conventions, one home for training, tracking and evaluation.

* Boxes are ``(x, y, w, h)`` (``box_xywh``) or ``(x0, y0, x1, y1)``
  (``box_xyxy``) in continuous pixel coordinates of the frame they belong to;
  conversions are detectron2's ``BoxMode`` (``XYWH_ABS`` <-> ``XYXY_ABS``).
* Annotation files are used exactly as written, with no 1-based shift: OTB,
  UAV123, LaSOT and GOT-10k boxes are evaluated by the got10k toolkit against the
  files as they are, so shifting them here would bias every reported number (and
  tracker outputs are written in the same convention). Frame *numbers* in files
  and reports are 1-based (``0001.jpg``, ``"unreadable_frames"``); frame *ids* in
  code are 0-based (``frame_id``).
* Frames: the benchmark path reads any image file as 8-bit RGB
  (``guided_tracking.frames.load_rgb_frame``), training reads through detectron2's
  ``read_image`` in INPUT.FORMAT, the video path reads BGR with OpenCV; the
  tracker takes either order (``frame_format``) and converts only its crops.
"""
import numpy as np

from detectron2.structures import BoxMode

__all__ = ["xywh_to_xyxy", "xyxy_to_xywh"]


def xywh_to_xyxy(box_xywh) -> np.ndarray:
    """(4,) x, y, w, h -> (4,) float32 x0, y0, x1, y1 (``BoxMode`` XYWH_ABS -> XYXY_ABS)."""
    box = np.asarray(box_xywh, dtype=np.float32).reshape(1, 4)
    return BoxMode.convert(box, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)[0]


def xyxy_to_xywh(box_xyxy) -> np.ndarray:
    """(4,) x0, y0, x1, y1 -> (4,) float32 x, y, w, h."""
    box = np.asarray(box_xyxy, dtype=np.float32).reshape(1, 4)
    return BoxMode.convert(box, BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)[0]
