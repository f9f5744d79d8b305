"""MetaROIHeads: StandardROIHeads whose head can run from an explicit θ (paper 3.3).

θ (``adaptable_parameters``) is the box predictor's ``cls_score`` and
``bbox_pred`` (optionally also the box head). ``head_forward`` evaluates them
functionally (``torch.func.functional_call``) from a parameter dict, plain or
batched with one copy per task, so the inner loop never mutates the module.
With no parameters given, every path is exactly StandardROIHeads'.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from torch.func import functional_call, vmap
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import cat, cross_entropy
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import Instances

__all__ = ["MetaROIHeads", "ohnm_cross_entropy"]

_ADAPT_CHOICES = ("predictor", "box_head+predictor")


def ohnm_cross_entropy(logits: torch.Tensor, gt_classes: torch.Tensor, neg_pos_ratio: float) -> torch.Tensor:
    """Online hard negative mining (paper 3.2): all positives plus the
    ``neg_pos_ratio * num_pos`` negatives with the highest loss, averaged."""
    losses = F.cross_entropy(logits, gt_classes, reduction="none")
    background = logits.shape[1] - 1
    is_neg = gt_classes == background
    num_pos = int((~is_neg).sum())
    num_neg = min(int(is_neg.sum()), max(1, int(round(neg_pos_ratio * max(num_pos, 1)))))
    neg_losses = torch.where(is_neg, losses, losses.new_full((), -1.0))
    hard_neg = neg_losses.topk(num_neg).indices if num_neg > 0 else neg_losses.new_zeros(0, dtype=torch.long)
    keep = (~is_neg).clone()
    keep[hard_neg] = True
    return losses[keep].sum() / keep.sum().clamp(min=1)


@ROI_HEADS_REGISTRY.register()
class MetaROIHeads(StandardROIHeads):
    @configurable
    def __init__(self, *, adapt: str = "predictor", adapt_regression: bool = True,
                 ohnm_neg_pos_ratio: float = 0.0, **kwargs):
        """
        Args:
            adapt: "predictor" or "box_head+predictor": which layers form θ.
            adapt_regression: include ``bbox_pred`` in θ and the box loss in the
                inner loss (Table 1, "No Reg. Finetuning" when False).
            ohnm_neg_pos_ratio: > 0 enables OHNM in the classification loss.
            kwargs: StandardROIHeads' arguments.
        """
        super().__init__(**kwargs)
        if adapt not in _ADAPT_CHOICES:
            raise ValueError(f"MODEL.META.ADAPT must be one of {_ADAPT_CHOICES}, got {adapt!r}")
        if self.mask_on or self.keypoint_on:
            raise ValueError("MetaROIHeads supports box heads only: set MODEL.MASK_ON and MODEL.KEYPOINT_ON False")
        self.adapt_box_head = adapt == "box_head+predictor"
        self.adapt_regression = adapt_regression
        self.ohnm_neg_pos_ratio = ohnm_neg_pos_ratio

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret.update(
            adapt=cfg.MODEL.META.ADAPT,
            adapt_regression=cfg.MODEL.META.ADAPT_REGRESSION,
            ohnm_neg_pos_ratio=cfg.MODEL.ROI_HEADS.OHNM_NEG_POS_RATIO,
        )
        return ret

    # ------------------------------------------------------------ θ
    def adaptable_parameters(self) -> "OrderedDict[str, torch.nn.Parameter]":
        """θ: names relative to this module (e.g. ``box_predictor.cls_score.weight``)."""
        params = OrderedDict()
        if self.adapt_box_head:
            for name, p in self.box_head.named_parameters():
                params["box_head." + name] = p
        for name, p in self.box_predictor.cls_score.named_parameters():
            params["box_predictor.cls_score." + name] = p
        if self.adapt_regression:
            for name, p in self.box_predictor.bbox_pred.named_parameters():
                params["box_predictor.bbox_pred." + name] = p
        return params

    def _is_batched(self, params: Optional[Dict[str, torch.Tensor]]) -> bool:
        """A batched θ has one more (task) dimension than the module's θ."""
        if not params:
            return False
        name, value = next(iter(params.items()))
        return value.dim() == self.adaptable_parameters()[name].dim() + 1

    # ------------------------------------------------------------ features
    def roi_features(self, features: Dict[str, torch.Tensor], proposals: List[Instances]) -> torch.Tensor:
        """Input of the adapted layers for every proposal: pooled features, run
        through the box head when the box head is not part of θ. Cached by the
        tracker, so online updates never re-run the backbone."""
        x = self.box_pooler([features[f] for f in self.box_in_features], [p.proposal_boxes for p in proposals])
        return x if self.adapt_box_head else self.box_head(x)

    def _head(self, params: Optional[Dict[str, torch.Tensor]], x: torch.Tensor):
        """box head (if in θ) + predictor, from ``params`` where given."""
        if params is None:
            if self.adapt_box_head:
                x = self.box_head(x)
            return self.box_predictor(x)
        head = {k[len("box_head."):]: v for k, v in params.items() if k.startswith("box_head.")}
        pred = {k[len("box_predictor."):]: v for k, v in params.items() if k.startswith("box_predictor.")}
        if self.adapt_box_head:
            x = functional_call(self.box_head, head, (x,)) if head else self.box_head(x)
        return functional_call(self.box_predictor, pred, (x,))

    def head_forward(self, x: torch.Tensor, params: Optional[Dict[str, torch.Tensor]] = None,
                     task_index: Optional[torch.Tensor] = None, num_tasks: int = 1):
        """Predictions (scores, deltas) for ROI inputs ``x`` (N, ...).

        params: None (module weights), a plain θ dict, or a batched θ dict with
        one copy per task along dim 0; then ``task_index`` (N,) gives each ROI's
        task, ROIs of a task being contiguous and tasks in order (detectron2
        concatenates per-image proposals that way).
        """
        if params is None or task_index is None:
            return self._head(params, x)
        if num_tasks == 1:
            return self._head({k: v[0] for k, v in params.items()}, x)
        counts = torch.bincount(task_index, minlength=num_tasks)
        offsets = torch.cumsum(counts, 0) - counts
        slot = torch.arange(x.shape[0], device=x.device) - offsets[task_index]
        # Pad to (T, R_max, ...) so every task runs its own θ in one vmap call.
        padded = x.new_zeros((num_tasks, int(counts.max()) if x.shape[0] else 0) + tuple(x.shape[1:]))
        padded = padded.index_put((task_index, slot), x)
        scores, deltas = vmap(self._head)(params, padded)
        return scores[task_index, slot], deltas[task_index, slot]

    # ------------------------------------------------------------ losses
    def inner_losses(self, predictions, proposals: List[Instances]) -> Dict[str, torch.Tensor]:
        """Support loss of Eq. 1: detectron2's ROI losses (CE + smooth L1), without
        logging to EventStorage (the inner loop runs many times per iteration and
        also at tracking time, outside any storage)."""
        scores, deltas = predictions
        gt_classes = cat([p.gt_classes for p in proposals], dim=0)
        losses = {"loss_cls": cross_entropy(scores, gt_classes, reduction="mean")}
        if self.adapt_regression:
            proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
            gt_boxes = cat([(p.gt_boxes if p.has("gt_boxes") else p.proposal_boxes).tensor for p in proposals], dim=0)
            losses["loss_box_reg"] = self.box_predictor.box_reg_loss(proposal_boxes, gt_boxes, deltas, gt_classes)
        weights = self.box_predictor.loss_weight
        return {k: v * weights.get(k, 1.0) for k, v in losses.items()}

    def sample_loss(self, params: Dict[str, torch.Tensor], samples, regression: bool = True) -> torch.Tensor:
        """Eq. 1's loss of θ = ``params`` on cached (head inputs, labelled
        proposals): ``inner_losses`` (CE + box), or CE alone when not
        ``regression`` (samples labelled by the tracker's own estimate)."""
        inputs, proposals = samples
        predictions = self.head_forward(inputs, params)
        if regression:
            return sum(self.inner_losses(predictions, proposals).values())
        gt_classes = cat([p.gt_classes for p in proposals], dim=0)
        return cross_entropy(predictions[0], gt_classes, reduction="mean")

    def box_losses(self, predictions, proposals: List[Instances]) -> Dict[str, torch.Tensor]:
        """Outer (query) loss: detectron2's losses, with OHNM when enabled."""
        losses = self.box_predictor.losses(predictions, proposals)
        if self.ohnm_neg_pos_ratio > 0:
            gt_classes = cat([p.gt_classes for p in proposals], dim=0)
            losses["loss_cls"] = ohnm_cross_entropy(predictions[0], gt_classes, self.ohnm_neg_pos_ratio) * \
                self.box_predictor.loss_weight.get("loss_cls", 1.0)
        return losses

    # ------------------------------------------------------------ forward
    def _forward_box(self, features, proposals, params=None, task_index=None, num_tasks=1):
        x = self.roi_features(features, proposals)
        predictions = self.head_forward(x, params, task_index, num_tasks)
        if self.training:
            return self.box_losses(predictions, proposals)
        pred_instances, _ = self.box_predictor.inference(predictions, proposals)
        return pred_instances

    def forward(self, images, features, proposals, targets=None, params=None, task_index=None, num_tasks=1):
        """StandardROIHeads.forward, with an optional θ (see ``head_forward``): a
        plain θ is shared by all images; a batched θ gives image i task i's θ."""
        del images
        if self.training:
            assert targets, "'targets' argument is required during training"
            proposals = self.label_and_sample_proposals(proposals, targets)
            if self._is_batched(params) and task_index is None:
                task_index, num_tasks = proposals_task_index(proposals), len(proposals)
            return proposals, self._forward_box(features, proposals, params, task_index, num_tasks)
        if self._is_batched(params) and task_index is None:
            task_index, num_tasks = proposals_task_index(proposals), len(proposals)
        return self._forward_box(features, proposals, params, task_index, num_tasks), {}

    def candidates(self, predictions, proposals: List[Instances]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Pre-NMS boxes (R, 4) and target scores (R,) per image (class 0 = target)."""
        boxes = self.box_predictor.predict_boxes(predictions, proposals)
        scores = self.box_predictor.predict_probs(predictions, proposals)
        return [b[:, :4] for b in boxes], [s[:, 0] for s in scores]


def proposals_task_index(proposals: List[Instances]) -> torch.Tensor:
    """Task (image) index of each ROI when image i is task i."""
    device = proposals[0].proposal_boxes.device
    lengths = torch.tensor([len(p) for p in proposals], device=device)
    return torch.repeat_interleave(torch.arange(len(proposals), device=device), lengths)
