"""OpenCV's trackers as got10k ``Tracker``s: CSRT and KCF (correlation filters)
and NanoTrack v2 (a light Siamese network trained on large data sets, run by
``cv2.TrackerNano`` from two ONNX files).

They are reference points for the detector-based trackers and sanity checks for
the evaluation code. CSRT and KCF need no weights; both need the opencv-contrib
build, and depending on its version the factories live in ``cv2``
(``cv2.TrackerCSRT_create``) or only in ``cv2.legacy``. NanoTrack needs its ONNX
files, given as a folder (``model_dir``) or by ``$GUIDED_TRACKING_NANOTRACK_DIR``.

``BASELINES`` maps a lowercase name to a class; the classes take an optional
(ignored) ``device`` keyword so they can be handed to ``run_benchmark`` as a
tracker factory with or without ``devices``.
"""
import functools
import os

import cv2
import numpy as np
from got10k.trackers import Tracker

__all__ = ["OpenCVTracker", "CSRT", "KCF", "NanoTrack", "BASELINES", "NANOTRACK_ENV", "find_nanotrack_models",
           "baseline_factory", "opencv_tracker_factory"]

NANOTRACK_ENV = "GUIDED_TRACKING_NANOTRACK_DIR"
NANOTRACK_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")
NANOTRACK_HOWTO = (
    "NanoTrack v2's ONNX files ({}, {}) come from the SiamTrackers repository "
    "(github.com/HonglinChu/SiamTrackers, NanoTrack/models/nanotrackv2/, Apache-2.0); put them in a folder "
    "and pass it as --nanotrack-dir DIR or set ${}").format(*NANOTRACK_FILES, NANOTRACK_ENV)


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

    def __init__(self, kind: str, name: str = None, device=None, create=None):
        # ``device`` is accepted for run_benchmark's factory protocol; OpenCV runs on the CPU.
        super().__init__(name=name or kind, is_deterministic=True)
        self.kind = kind
        self._create = create or opencv_tracker_factory(kind)
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
        self.last_confidence = self._confidence(ok)
        return self.box_xywh.copy()

    def _confidence(self, ok: bool) -> float:
        return 1.0 if ok else 0.0


class CSRT(OpenCVTracker):
    """OpenCV's CSRT (discriminative correlation filter with channel and spatial reliability)."""

    def __init__(self, device=None):
        super().__init__("CSRT", device=device)


class KCF(OpenCVTracker):
    """OpenCV's KCF (kernelized correlation filter)."""

    def __init__(self, device=None):
        super().__init__("KCF", device=device)


def find_nanotrack_models(model_dir: str = None):
    """(backbone, head) ONNX paths in ``model_dir`` (else $GUIDED_TRACKING_NANOTRACK_DIR),
    or FileNotFoundError saying which file is missing and how to get them."""
    model_dir = model_dir or os.environ.get(NANOTRACK_ENV, "")
    if not model_dir:
        raise FileNotFoundError(f"NanoTrack: no model folder given. {NANOTRACK_HOWTO}")
    paths = tuple(os.path.join(os.path.expanduser(model_dir), f) for f in NANOTRACK_FILES)
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"NanoTrack: {path!r} does not exist. {NANOTRACK_HOWTO}")
    return paths


def _create_nanotrack(backbone_path: str, head_path: str):
    params = cv2.TrackerNano_Params()
    params.backbone = backbone_path
    params.neckhead = head_path
    return cv2.TrackerNano_create(params)


class NanoTrack(OpenCVTracker):
    """NanoTrack v2 through OpenCV's ``TrackerNano`` (ONNX backbone + head).

    ``last_confidence`` is NanoTrack's own tracking score."""

    def __init__(self, model_dir: str = None, device=None):
        if not hasattr(cv2, "TrackerNano_create"):
            raise ImportError(f"cv2.TrackerNano_create not found in OpenCV {cv2.__version__} (needs OpenCV >= 4.7)")
        create = functools.partial(_create_nanotrack, *find_nanotrack_models(model_dir))
        super().__init__("NanoTrack", device=device, create=create)

    def _confidence(self, ok: bool) -> float:
        return float(self._tracker.getTrackingScore()) if ok else 0.0


BASELINES = {"csrt": CSRT, "kcf": KCF, "nano": NanoTrack}


def baseline_factory(key: str, nanotrack_dir: str = None):
    """``(name, factory)`` for ``--baselines`` key (csrt, kcf, nano): a picklable
    callable building the tracker in a benchmark worker. Checks NanoTrack's files
    here, so a missing file fails before any sequence runs."""
    key = key.strip().lower()
    if key not in BASELINES:
        raise KeyError(f"unknown baseline tracker {key!r}; choose from {sorted(BASELINES)}")
    cls = BASELINES[key]
    if cls is NanoTrack:
        if not hasattr(cv2, "TrackerNano_create"):
            raise ImportError(f"cv2.TrackerNano_create not found in OpenCV {cv2.__version__} (NanoTrack needs "
                              "OpenCV >= 4.7)")
        model_dir = os.path.dirname(find_nanotrack_models(nanotrack_dir)[0])
        return cls.__name__, functools.partial(cls, model_dir)
    return cls.__name__, cls


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
