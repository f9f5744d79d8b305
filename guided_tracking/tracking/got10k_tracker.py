"""got10k toolkit adapter: any got10k experiment can run the guided tracker."""
import numpy as np
from got10k.trackers import Tracker

from .tracker import GuidedTracker

__all__ = ["Got10kGuidedTracker"]


class Got10kGuidedTracker(Tracker):
    """``init(image, box)`` / ``update(image) -> box`` with PIL RGB images and
    (x, y, w, h) boxes, as got10k hands them; ``last_confidence`` per frame."""

    def __init__(self, tracker: GuidedTracker, name: str = "GuidedRCNN"):
        super().__init__(name=name, is_deterministic=True)
        self.tracker = tracker
        self.last_confidence = float("nan")

    @staticmethod
    def _bgr(image) -> np.ndarray:
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] >= 3:
            array = array[:, :, 2::-1]  # RGB(A) -> BGR
        return array

    def init(self, image, box):
        self.tracker.initialize(self._bgr(image), box)
        self.last_confidence = self.tracker.last_confidence

    def update(self, image):
        box = self.tracker.track(self._bgr(image))
        self.last_confidence = self.tracker.last_confidence
        return box
