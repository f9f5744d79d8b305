"""The tracker's online fine-tuning loss (paper 3.4: Eq. 1 on tracking samples).

Two kinds of samples, cached as ROI-head inputs (the backbone never re-runs):
* first-frame samples (16 augmented crops, paper 3.4) are labelled against the
  given box, the only ground truth: they teach classification AND regression;
* samples collected while tracking are labelled against the tracker's own
  estimate: a wrong estimate would teach the regressor to reproduce its own
  error, so they teach classification only (target vs. distractor), and the
  first-frame samples keep a fixed share of every update's loss however many
  collected samples the memory holds.
"""
from typing import Callable, Dict, List, Optional, Tuple

import torch

from detectron2.layers import cat, cross_entropy
from detectron2.structures import Instances

Params = Dict[str, torch.Tensor]
Samples = Tuple[torch.Tensor, List[Instances]]  # (ROI-head inputs, labelled proposals)

__all__ = ["online_loss_fn", "concat_samples"]


def concat_samples(samples: List[Samples]) -> Optional[Samples]:
    """One (inputs, proposals) pair from several, or None for an empty list."""
    if not samples:
        return None
    return torch.cat([s[0] for s in samples]), [p for s in samples for p in s[1]]


def online_loss_fn(roi_heads, init_samples: Samples, collected: Optional[Samples] = None,
                   init_share: float = 0.5) -> Callable[[Params], torch.Tensor]:
    """Loss of θ for Eq. 1 at tracking time.

    ``L(θ) = s * L_cls+reg(first frame) + (1 - s) * L_cls(collected)`` with
    ``s = init_share`` (``L_cls+reg(first frame)`` alone when nothing was collected).

    Args:
        roi_heads: the model's MetaROIHeads (``head_forward``, ``inner_losses``).
        init_samples: first-frame samples, labelled against the ground truth.
        collected: samples labelled against the tracker's estimates, or None.
        init_share: weight s of the first-frame loss, in (0, 1].
    """
    if not 0.0 < init_share <= 1.0:
        raise ValueError(f"TRACKER.INIT_SHARE must be in (0, 1], got {init_share}")
    init_inputs, init_proposals = init_samples
    if init_share >= 1.0:
        collected = None
    if collected is not None:
        inputs = collected[0]
        # Labels are fixed for all inner steps: concatenated once, not per step.
        gt_classes = cat([p.gt_classes for p in collected[1]], dim=0)

    def loss_fn(theta: Params) -> torch.Tensor:
        init_loss = sum(roi_heads.inner_losses(roi_heads.head_forward(init_inputs, theta), init_proposals).values())
        if collected is None:
            return init_loss
        scores, _ = roi_heads.head_forward(inputs, theta)
        cls_loss = cross_entropy(scores, gt_classes, reduction="mean")
        return init_share * init_loss + (1.0 - init_share) * cls_loss

    return loss_fn
