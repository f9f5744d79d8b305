"""got10k toolkit adapter: any got10k experiment can run the guided tracker."""
import numpy as np
from got10k.trackers import Tracker

from .tracker import GuidedTracker

__all__ = ["Got10kGuidedTracker"]


class Got10kGuidedTracker(Tracker):
    """``init(image, box)`` / ``update(image) -> box`` with PIL RGB images and
    (x, y, w, h) boxes, as got10k hands them; ``last_confidence`` per frame.
    ``init_bgr`` / ``update_bgr`` take OpenCV's BGR arrays (the video path)."""

    def __init__(self, tracker: GuidedTracker, name: str = "GuidedRCNN"):
        super().__init__(name=name, is_deterministic=True)
        self.tracker = tracker
        self.last_confidence = float("nan")

    # The frame is handed over in its own colour order: the tracker converts
    # only its crops, not the whole frame.
    def init(self, image, box):
        self.init_array(np.asarray(image), box, "RGB")

    def update(self, image):
        return self.update_array(np.asarray(image), "RGB")

    def init_bgr(self, frame_bgr: np.ndarray, box):
        self.init_array(frame_bgr, box, "BGR")

    def update_bgr(self, frame_bgr: np.ndarray):
        return self.update_array(frame_bgr, "BGR")

    def init_array(self, image: np.ndarray, box, frame_format: str):
        self.tracker.initialize(image, box, frame_format=frame_format)
        self.last_confidence = self.tracker.last_confidence

    def update_array(self, image: np.ndarray, frame_format: str):
        box = self.tracker.track(image, frame_format=frame_format)
        self.last_confidence = self.tracker.last_confidence
        return box
