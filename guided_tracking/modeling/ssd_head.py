"""The SSD head (Liu et al. 2016; paper Fig. 3) and its loss.

Each detection level has its own 3x3 classification conv (A_i x K outputs) and
box conv (A_i x 4), as in SSD: levels may differ in channels (VGG-16's conv4_3,
fc7, conv8_2) and in anchors per location. These convs are θ of the one-stage
tracker (paper 3.5: "the last layers for classification and regression").

``dense_loss`` is SSD's objective on matched anchors: classification with hard
negative mining at ``neg_pos_ratio``:1 (the hardest negatives by loss, per
image) or the focal loss, plus smooth L1 on the positives' deltas, normalised
by the number of positives.
"""
import math
from typing import List, Optional, Tuple

import torch
from fvcore.nn import sigmoid_focal_loss, smooth_l1_loss
from torch import nn
from torch.nn import functional as F

from detectron2.layers import ShapeSpec

__all__ = ["SSDHead", "dense_loss", "LOSS_TYPES"]

LOSS_TYPES = ("ohnm", "focal")


class SSDHead(nn.Module):
    def __init__(self, input_shapes: List[ShapeSpec], num_anchors: List[int], num_classes: int = 1,
                 prior_prob: float = 0.01):
        """
        Args:
            input_shapes: one per level (channels used).
            num_anchors: anchors per location, one per level.
            num_classes: K (1: the target; scores are sigmoid logits).
            prior_prob: initial target probability of every anchor (RetinaNet's
                bias prior: training starts from "background everywhere").
        """
        super().__init__()
        if len(input_shapes) != len(num_anchors):
            raise ValueError(f"SSDHead: {len(input_shapes)} levels but {len(num_anchors)} anchor counts")
        self.num_classes = num_classes
        self.cls_score = nn.ModuleList(
            nn.Conv2d(s.channels, a * num_classes, kernel_size=3, padding=1) for s, a in zip(input_shapes, num_anchors))
        self.bbox_pred = nn.ModuleList(
            nn.Conv2d(s.channels, a * 4, kernel_size=3, padding=1) for s, a in zip(input_shapes, num_anchors))
        for conv in list(self.cls_score) + list(self.bbox_pred):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        for conv in self.cls_score:
            nn.init.constant_(conv.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, features: List[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Per level (N, A_i * K, H_i, W_i) logits and (N, A_i * 4, H_i, W_i) deltas."""
        logits = [conv(x) for conv, x in zip(self.cls_score, features)]
        deltas = [conv(x) for conv, x in zip(self.bbox_pred, features)]
        return logits, deltas


def _hard_negatives(cls_losses: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                    neg_pos_ratio: float) -> torch.Tensor:
    """(N, R) mask of each image's ``neg_pos_ratio * num_pos`` (at least 1) negatives
    with the highest loss (SSD's hard negative mining; a selection, no gradient)."""
    with torch.no_grad():
        num_neg = (positive.sum(dim=1, keepdim=True).clamp(min=1) * neg_pos_ratio).round()
        ranked = torch.where(negative, cls_losses.detach(), cls_losses.new_full((), -1.0))
        order = ranked.argsort(dim=1, descending=True)
        rank = order.argsort(dim=1)
        return negative & (rank < num_neg)


def dense_loss(logits: torch.Tensor, deltas: torch.Tensor, gt_labels: torch.Tensor, target_deltas: torch.Tensor,
               num_classes: int = 1, loss_type: str = "ohnm", neg_pos_ratio: float = 3.0,
               focal_alpha: float = 0.25, focal_gamma: float = 2.0, smooth_l1_beta: float = 0.0,
               regression: bool = True, per_image: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """SSD's loss on all anchors of N images.

    Args:
        logits: (N, R, K); deltas, target_deltas: (N, R, 4).
        gt_labels: (N, R) in {-1 ignore, 0..K-1 class, K background}.
        loss_type: "ohnm" (sigmoid CE, all positives + hard negatives) or "focal".
        regression: also return the box loss (else None).
        per_image: (N,) losses, each normalised by its own positives (the inner
            loop's per-task loss); else scalars normalised by all positives.
    Returns:
        (classification loss, box loss or None).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"MODEL.SSD.LOSS must be one of {LOSS_TYPES}, got {loss_type!r}")
    valid = gt_labels >= 0
    positive = valid & (gt_labels != num_classes)
    negative = gt_labels == num_classes
    targets = F.one_hot(gt_labels.clamp(min=0), num_classes + 1)[..., :num_classes].to(logits.dtype)
    if loss_type == "focal":
        cls = sigmoid_focal_loss(logits, targets, alpha=focal_alpha, gamma=focal_gamma, reduction="none").sum(-1)
        keep = valid
    else:
        cls = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
        keep = positive | _hard_negatives(cls, positive, negative, neg_pos_ratio)
    cls = torch.where(keep, cls, torch.zeros_like(cls))
    box = None
    if regression:
        box = smooth_l1_loss(deltas, target_deltas, smooth_l1_beta, reduction="none").sum(-1)
        box = torch.where(positive, box, torch.zeros_like(box))
    if per_image:
        norm = positive.sum(dim=1).clamp(min=1).to(logits.dtype)
        return cls.sum(dim=1) / norm, (box.sum(dim=1) / norm if box is not None else None)
    norm = positive.sum().clamp(min=1).to(logits.dtype)
    return cls.sum() / norm, (box.sum() / norm if box is not None else None)
