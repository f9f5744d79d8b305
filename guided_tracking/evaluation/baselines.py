"""OpenCV's CSRT and KCF correlation-filter trackers as got10k ``Tracker``s.

They are reference points for the detector-based trackers and sanity checks for
the evaluation code: they need no GPU and no weights. Both need the
opencv-contrib build; depending on its version the factories live in ``cv2``
(``cv2.TrackerCSRT_create``) or only in ``cv2.legacy``.

``BASELINES`` maps a lowercase name to a class; the classes take an optional
(ignored) ``device`` keyword so they can be handed to ``run_benchmark`` as a
tracker factory with or without ``devices``.
"""
import cv2
import numpy as np
from got10k.trackers import Tracker

__all__ = ["OpenCVTracker", "CSRT", "KCF", "BASELINES", "opencv_tracker_factory"]


def opencv_tracker_factory(kind: str):
    """Return OpenCV's ``Tracker<kind>_create`` (e.g. kind="CSRT"), preferring the non-legacy API."""
    attr = f"Tracker{kind}_create"
    for namespace in (cv2, getattr(cv2, "legacy", None)):
        if namespace is not None and hasattr(namespace, attr):
            return getattr(namespace, attr)
    raise ImportError(
        f"cv2.{attr} (and cv2.legacy.{attr}) not found in OpenCV {cv2.__version__}: the {kind} tracker needs "
        "opencv-contrib-python(-headless), installed alone (a second OpenCV wheel shadows contrib's cv2)")


class OpenCVTracker(Tracker):
    """got10k ``Tracker`` around an OpenCV single-object tracker.

    When OpenCV reports a failure (``ok`` False) the previous box is kept, as in
    the OTB protocol a tracker must output a box on every frame.
    ``last_confidence`` is 1.0 on frames OpenCV tracked and 0.0 on failures:
    CSRT/KCF expose no score.
    """

    def __init__(self, kind: str, name: str = None, device=None):
        # ``device`` is accepted for run_benchmark's factory protocol; OpenCV runs on the CPU.
        super().__init__(name=name or kind, is_deterministic=True)
        self.kind = kind
        self._create = opencv_tracker_factory(kind)
        self._tracker = None
        self.box_xywh = None
        self.last_confidence = None

    def init(self, image, box):
        frame_bgr = _to_bgr(image)
        box_xywh = np.asarray(box, dtype=np.float64).reshape(4)
        # A fresh OpenCV object per sequence: OpenCV trackers cannot be re-initialized reliably.
        self._tracker = self._create()
        self._tracker.init(frame_bgr, _to_cv_rect(box_xywh, frame_bgr.shape))
        self.box_xywh = box_xywh
        self.last_confidence = 1.0

    def update(self, image):
        ok, rect = self._tracker.update(_to_bgr(image))
        if ok:
            self.box_xywh = np.asarray(rect, dtype=np.float64).reshape(4)
        self.last_confidence = 1.0 if ok else 0.0
        return self.box_xywh.copy()


class CSRT(OpenCVTracker):
    """OpenCV's CSRT (discriminative correlation filter with channel and spatial reliability)."""

    def __init__(self, device=None):
        super().__init__("CSRT", device=device)


class KCF(OpenCVTracker):
    """OpenCV's KCF (kernelized correlation filter)."""

    def __init__(self, device=None):
        super().__init__("KCF", device=device)


BASELINES = {"csrt": CSRT, "kcf": KCF}


def _to_bgr(image):
    frame_rgb = np.asarray(image)
    if frame_rgb.ndim == 2:
        return cv2.cvtColor(frame_rgb, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(frame_rgb[..., :3]), cv2.COLOR_RGB2BGR)


def _to_cv_rect(box_xywh, frame_shape):
    """Integer (x, y, w, h) inside the frame: the non-legacy ``init`` only takes an int Rect,
    and CSRT/KCF fail on empty or out-of-frame boxes."""
    height, width = frame_shape[:2]
    x, y = int(round(box_xywh[0])), int(round(box_xywh[1]))
    w, h = max(1, int(round(box_xywh[2]))), max(1, int(round(box_xywh[3])))
    x = min(max(x, 0), width - 1)
    y = min(max(y, 0), height - 1)
    return x, y, min(w, width - x), min(h, height - y)
