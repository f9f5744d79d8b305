"""The tracker's online fine-tuning loss (paper 3.4: Eq. 1 on tracking samples).

Two kinds of samples, cached at the adapted layers' input (ROI-head inputs of
the two-stage model, guided feature maps of the one-stage one), so the backbone
never re-runs; the model (``sample_loss``) gives the loss on either:
* first-frame samples (16 augmented crops, paper 3.4) are labelled against the
  given box, the only ground truth: they teach classification AND regression;
* samples collected while tracking are labelled against the tracker's own
  estimate: a wrong estimate would teach the regressor to reproduce its own
  error, so they teach classification only (target vs. distractor), and the
  first-frame samples keep a fixed share of every update's loss however many
  collected samples the memory holds.
"""
from typing import Callable, Dict

import torch

Params = Dict[str, torch.Tensor]

__all__ = ["online_loss_fn"]


def online_loss_fn(learner, init_samples, collected=None, init_share: float = 0.5) -> Callable[[Params], torch.Tensor]:
    """Loss of θ for Eq. 1 at tracking time.

    ``L(θ) = s * L_cls+reg(first frame) + (1 - s) * L_cls(collected)`` with
    ``s = init_share`` (``L_cls+reg(first frame)`` alone when nothing was collected).

    Args:
        learner: anything with ``sample_loss(params, samples, regression)``: a
            guided model (GuidedRCNN, GuidedSSD) or MetaROIHeads.
        init_samples: first-frame samples, labelled against the ground truth.
        collected: samples labelled against the tracker's estimates, or None.
        init_share: weight s of the first-frame loss, in (0, 1].
    """
    if not 0.0 < init_share <= 1.0:
        raise ValueError(f"TRACKER.INIT_SHARE must be in (0, 1], got {init_share}")
    if init_share >= 1.0:
        collected = None

    def loss_fn(theta: Params) -> torch.Tensor:
        init_loss = learner.sample_loss(theta, init_samples, regression=True)
        if collected is None:
            return init_loss
        return init_share * init_loss + (1.0 - init_share) * learner.sample_loss(theta, collected, regression=False)

    return loss_fn
