"""RPN with the 3:1 positive/negative objectness weighting of paper 3.2.

The paper emphasises recall at the RPN stage and leaves discrimination to the
ROI heads, so positive anchors weigh ``positive_weight`` times the negatives.
Everything else is detectron2's RPN.
"""
import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY
from detectron2.modeling.proposal_generator.rpn import RPN

__all__ = ["GuidedRPN"]


@PROPOSAL_GENERATOR_REGISTRY.register()
class GuidedRPN(RPN):
    @configurable
    def __init__(self, *, positive_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.positive_weight = positive_weight

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["positive_weight"] = cfg.MODEL.RPN.POSITIVE_WEIGHT
        return ret

    def losses(self, anchors, pred_objectness_logits, gt_labels, pred_anchor_deltas, gt_boxes):
        losses = super().losses(anchors, pred_objectness_logits, gt_labels, pred_anchor_deltas, gt_boxes)
        if self.positive_weight == 1.0:
            return losses
        labels = torch.stack(gt_labels)
        valid = labels >= 0
        target = labels[valid].to(torch.float32)
        weight = 1.0 + (self.positive_weight - 1.0) * target
        objectness = F.binary_cross_entropy_with_logits(
            cat(pred_objectness_logits, dim=1)[valid], target, weight=weight, reduction="sum")
        normalizer = self.batch_size_per_image * len(gt_labels)
        losses["loss_rpn_cls"] = objectness / normalizer * self.loss_weight.get("loss_rpn_cls", 1.0)
        return losses
