"""RPN with the 3:1 positive/negative objectness weighting of paper 3.2.

The paper emphasises recall at the RPN stage and leaves discrimination to the
ROI heads, so positive anchors weigh ``positive_weight`` times the negatives.
At inference the per-level top PRE_NMS_TOPK_TEST anchors are chosen before
their boxes are decoded (the same proposals as detectron2's RPN, which decodes
every anchor and fully sorts each level: most of its cost per tracked frame).
Everything else is detectron2's RPN.
"""
import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import cat
from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY
from detectron2.modeling.proposal_generator.proposal_utils import find_top_rpn_proposals
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

    def predict_proposals(self, anchors, pred_objectness_logits, pred_anchor_deltas, image_sizes):
        if self.training:
            return super().predict_proposals(anchors, pred_objectness_logits, pred_anchor_deltas, image_sizes)
        with torch.no_grad():
            top_k = self.pre_nms_topk[False]
            logits, proposals = [], []
            for anchors_i, logits_i, deltas_i in zip(anchors, pred_objectness_logits, pred_anchor_deltas):
                num_images, box_dim = deltas_i.shape[0], deltas_i.shape[2]
                logits_i, index = logits_i.topk(min(top_k, logits_i.shape[1]), dim=1)  # (N, k), sorted
                deltas_i = deltas_i.gather(1, index[..., None].expand(-1, -1, box_dim))
                anchors_i = anchors_i.tensor[index]  # (N, k, B)
                boxes_i = self.box2box_transform.apply_deltas(deltas_i.reshape(-1, box_dim),
                                                              anchors_i.reshape(-1, box_dim))
                logits.append(logits_i)
                proposals.append(boxes_i.view(num_images, -1, box_dim))
            # The levels now hold only their top k: find_top_rpn_proposals keeps
            # them all and does the clipping, size filter and NMS as usual.
            return find_top_rpn_proposals(proposals, logits, image_sizes, self.nms_thresh, top_k,
                                          self.post_nms_topk[False], self.min_box_size, False)
