"""Is the target in this frame? A calibrated presence probability (long-term tracking).

Two cues of the chosen box B*, per frame:

* the detector's score s of B* (the adapted head's target probability);
* its appearance similarity v with the first-frame target (``verification.py``),
  normalised per sequence: ``v' = (v - v_bg) / (v_fg - v_bg)``, where ``v_fg`` is
  the similarity of the target itself in the augmented first-frame crops and ``v_bg``
  that of the most target-like other boxes there (the 90th percentile of the
  background candidates). Raw similarities sit at different levels on different
  sequences (a gray sequence's boxes all look alike); v' is 1 for "as similar as
  the target under augmentation" and 0 for "as similar as this sequence's clutter".

``p = sigmoid(w_s * logit(s) + w_v * v' + b)``: a logistic model whose weights
(TRACKER.PRESENCE_WEIGHTS) are fitted on labelled tracking frames
(``bench/calibrate_presence.py``: label 1 where B* overlaps the visible target
with IoU >= 0.5), so p is a probability and one threshold
(TRACKER.PRESENCE_THRESHOLD) means the same on every sequence.
"""
import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

__all__ = ["PresenceModel", "SimilarityScale", "fit_presence_weights"]

_EPS = 1e-4


@dataclass(frozen=True)
class SimilarityScale:
    """Per-sequence levels of the verification similarity (first frame)."""

    target: float  # v_fg: the target in the augmented first-frame crops
    background: float  # v_bg: the most target-like other boxes there

    def normalize(self, similarity: float) -> float:
        """v' (module doc); the levels at least 0.02 apart, so v' stays finite."""
        span = max(self.target - self.background, 0.02)
        return (float(similarity) - self.background) / span


@dataclass(frozen=True)
class PresenceModel:
    """p = sigmoid(w_s * logit(s) + w_v * v' + b)."""

    weights: Tuple[float, float, float]

    def features(self, score: float, similarity_normalized: float) -> Tuple[float, float]:
        s = min(max(float(score), _EPS), 1.0 - _EPS)
        return math.log(s / (1.0 - s)), float(similarity_normalized)

    def __call__(self, score: float, similarity_normalized: float) -> float:
        if not (math.isfinite(score) and math.isfinite(similarity_normalized)):
            return 0.0
        x_s, x_v = self.features(score, similarity_normalized)
        w_s, w_v, b = self.weights
        z = w_s * x_s + w_v * x_v + b
        return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0


def fit_presence_weights(scores: Sequence[float], similarities: Sequence[float], labels: Sequence[bool],
                         l2: float = 1e-3, iterations: int = 50) -> Tuple[float, float, float]:
    """Logistic regression (Newton's method, a small L2 penalty) of ``labels`` on
    (logit(score), normalised similarity); returns (w_s, w_v, b)."""
    model = PresenceModel((0.0, 0.0, 0.0))
    x = np.array([model.features(s, v) + (1.0,) for s, v in zip(scores, similarities)], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("fitting the presence model needs frames of both labels (target found and not)")
    w = np.zeros(3)
    penalty = l2 * np.diag([1.0, 1.0, 0.0]) * len(y)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        grad = x.T @ (p - y) + penalty @ w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(3), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return tuple(float(v) for v in w)
