"""GuidedSSD: the paper's one-stage tracker (paper 3.5, Fig. 3), trained with MAML.

A single-shot detector on the guided features: per-level SSD predictors
(``ssd_head.SSDHead``) over anchors of every level, SSD's loss (hard negative
mining at 3:1, or focal). θ = the head's classification (and box) convs, adapted
by the same batched inner loop as the two-stage model (Eq. 1-3).

Built on detectron2's RetinaNet (a DenseDetector) for what a one-stage detector
needs and detectron2 already does: anchor generation, IoU matching with
low-quality matches, Box2BoxTransform, decoding and NMS. RetinaNet's own head
(4 shared convs per branch at every level) is replaced by SSD's single conv per
level, which is both the paper's detector and the fast one: per location it
costs A x (K + 4) outputs of one 3x3 conv instead of eight 3x3 C->C convs.
Config keys: MODEL.RETINANET.* (features, matcher, focal, test), MODEL.SSD.* (loss),
MODEL.META.* (MAML), as for GuidedRCNN.
"""
import logging
from typing import Dict, List, Optional

import torch
from torch.func import functional_call, vmap

from detectron2.config import configurable
from detectron2.layers import cat, nms
from detectron2.modeling import META_ARCH_REGISTRY, RetinaNet, build_backbone
from detectron2.modeling.anchor_generator import build_anchor_generator
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.modeling.matcher import Matcher
from detectron2.modeling.meta_arch.dense_detector import permute_to_N_HWA_K
from detectron2.structures import Boxes, ImageList, Instances

from .guided_meta import GuidedMetaLearner, meta_args_from_config
from .maml import batch_params, inner_loop
from .ssd_head import SSDHead, dense_loss

__all__ = ["GuidedSSD"]

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class GuidedSSD(GuidedMetaLearner, RetinaNet):
    @configurable
    def __init__(self, *, inner_steps: int = 1, inner_lr: float = 0.05, first_order: bool = False,
                 learn_inner_lr: bool = False, meta_enabled: bool = True, inner_grad_clip: float = 0.0,
                 adapt_regression: bool = True, loss_type: str = "ohnm", neg_pos_ratio: float = 3.0, **kwargs):
        """
        Args:
            inner_steps, inner_lr, first_order, learn_inner_lr, meta_enabled, inner_grad_clip:
                MAML settings (``GuidedMetaLearner._init_meta``).
            adapt_regression: the box convs are part of θ and the box loss of the
                inner loss (Table 1 "No Reg. Finetuning" when False).
            loss_type: "ohnm" (SSD: sigmoid CE on positives + hard negatives) or "focal".
            neg_pos_ratio: hard negatives per positive ("ohnm").
            kwargs: RetinaNet's arguments; ``head`` must be an SSDHead, the
                backbone a GuidedBackbone.
        """
        super().__init__(**kwargs)
        if not isinstance(self.head, SSDHead):
            raise ValueError("GuidedSSD needs an SSDHead")
        if self.num_classes != 1:
            raise ValueError(f"GuidedSSD detects one target: MODEL.RETINANET.NUM_CLASSES must be 1, "
                             f"got {self.num_classes}")
        self.adapt_regression = adapt_regression
        self.loss_type, self.neg_pos_ratio = loss_type, neg_pos_ratio
        self._init_meta(inner_steps, inner_lr, first_order, learn_inner_lr, meta_enabled, inner_grad_clip)

    @classmethod
    def from_config(cls, cfg):
        r = cfg.MODEL.RETINANET
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        missing = [f for f in r.IN_FEATURES if f not in shapes]
        if missing:
            raise ValueError(f"MODEL.RETINANET.IN_FEATURES names {missing}; the backbone outputs {list(shapes)}")
        feature_shapes = [shapes[f] for f in r.IN_FEATURES]
        anchor_generator = build_anchor_generator(cfg, feature_shapes)
        head = SSDHead(feature_shapes, anchor_generator.num_cell_anchors, r.NUM_CLASSES, r.PRIOR_PROB)
        return {
            "backbone": backbone,
            "head": head,
            "head_in_features": r.IN_FEATURES,
            "anchor_generator": anchor_generator,
            "box2box_transform": Box2BoxTransform(weights=r.BBOX_REG_WEIGHTS),
            "anchor_matcher": Matcher(r.IOU_THRESHOLDS, r.IOU_LABELS, allow_low_quality_matches=True),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "num_classes": r.NUM_CLASSES,
            "focal_loss_alpha": r.FOCAL_LOSS_ALPHA,
            "focal_loss_gamma": r.FOCAL_LOSS_GAMMA,
            "smooth_l1_beta": r.SMOOTH_L1_LOSS_BETA,
            "test_score_thresh": r.SCORE_THRESH_TEST,
            "test_topk_candidates": r.TOPK_CANDIDATES_TEST,
            "test_nms_thresh": r.NMS_THRESH_TEST,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "input_format": cfg.INPUT.FORMAT,
            "adapt_regression": cfg.MODEL.META.ADAPT_REGRESSION,
            "loss_type": cfg.MODEL.SSD.LOSS,
            "neg_pos_ratio": cfg.MODEL.SSD.NEG_POS_RATIO,
            **meta_args_from_config(cfg),
        }

    # ------------------------------------------------------------ θ and the head
    def adaptable_parameters(self) -> Dict[str, torch.nn.Parameter]:
        """θ: the classification convs (+ box convs), names relative to ``head``."""
        return {name: p for name, p in self.head.named_parameters()
                if name.startswith("cls_score.") or (self.adapt_regression and name.startswith("bbox_pred."))}

    def head_forward(self, features: List[torch.Tensor], params: Optional[Dict[str, torch.Tensor]] = None,
                     batched: bool = False):
        """Logits (N, R, K) and deltas (N, R, 4), levels concatenated in anchor order.

        params: None (the module's θ), a plain θ shared by all images, or (``batched``)
        one θ per image along dim 0, run in one vmap call."""
        if params is None:
            logits, deltas = self.head(features)
        elif not batched:
            logits, deltas = functional_call(self.head, params, (features,))
        else:
            def one(theta, *maps):
                lo, de = functional_call(self.head, theta, ([m.unsqueeze(0) for m in maps],))
                return [x.squeeze(0) for x in lo], [x.squeeze(0) for x in de]

            logits, deltas = vmap(one)(params, *features)
        return (cat([permute_to_N_HWA_K(x, self.num_classes) for x in logits], dim=1),
                cat([permute_to_N_HWA_K(x, 4) for x in deltas], dim=1))

    def _features(self, features: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        return [features[f] for f in self.head_in_features]

    # ------------------------------------------------------------ labels and loss
    @torch.no_grad()
    def anchor_targets(self, anchors: List[Boxes], gt_instances: List[Instances]):
        """RetinaNet's matching -> labels (N, R) in {-1, 0, K} and target deltas (N, R, 4)."""
        labels, matched_boxes = self.label_anchors(anchors, gt_instances)
        all_anchors = Boxes.cat(anchors).tensor
        deltas = torch.stack([self.box2box_transform.get_deltas(all_anchors, m) for m in matched_boxes])
        # Background anchors of an image without a box were matched to zeros (log 0);
        # they carry no box loss, but must not put inf into it.
        return torch.stack(labels), torch.nan_to_num(deltas, nan=0.0, posinf=0.0, neginf=0.0)

    def _loss(self, logits, deltas, labels, target_deltas, regression=True, per_image=False):
        return dense_loss(logits, deltas, labels, target_deltas, self.num_classes, self.loss_type,
                          self.neg_pos_ratio, self.focal_loss_alpha, self.focal_loss_gamma, self.smooth_l1_beta,
                          regression=regression, per_image=per_image)

    def _support_loss(self, theta, features, labels, target_deltas) -> torch.Tensor:
        """Sum over tasks of each task's own mean loss (so task b's gradient is its own)."""
        logits, deltas = self.head_forward(features, theta, batched=True)
        cls, box = self._loss(logits, deltas, labels, target_deltas, self.adapt_regression, per_image=True)
        return (cls + box).sum() if box is not None else cls.sum()

    # ------------------------------------------------------------ training
    def forward(self, batched_inputs: List[Dict]):
        """Training: list of triplets -> loss dict. Inference: see ``inference``."""
        if not self.training:
            return self.inference(batched_inputs)
        num_tasks = len(batched_inputs)
        features, _, gt = self.encode_triplets(batched_inputs)
        features = self._features(features)
        anchors = self.anchor_generator(features)
        labels, target_deltas = self.anchor_targets(anchors, gt)
        support, query = slice(0, num_tasks), slice(num_tasks, 2 * num_tasks)
        q_features = [f[query] for f in features]
        if self.inner_steps > 0:
            s_features = [f[support] for f in features]
            s_labels, s_deltas = labels[support], target_deltas[support]
            grad_norms = []
            params, support_losses = inner_loop(
                lambda theta: self._support_loss(theta, s_features, s_labels, s_deltas),
                batch_params(self.theta0(), num_tasks), self.inner_steps, self.step_size(),
                first_order=self.first_order, max_grad_norm=self.inner_grad_clip, batched=True,
                grad_norms=grad_norms)
            with torch.no_grad():
                after = self._support_loss(params, s_features, s_labels, s_deltas)
            self._log({"meta/support_loss_before": support_losses[0] / num_tasks,
                       "meta/support_loss_after": after / num_tasks,
                       "meta/inner_grad_norm": torch.stack(grad_norms).max()})
            logits, deltas = self.head_forward(q_features, params, batched=True)
        else:
            logits, deltas = self.head_forward(q_features)
        loss_cls, loss_box = self._loss(logits, deltas, labels[query], target_deltas[query])
        losses = {"loss_cls": loss_cls, "loss_box_reg": loss_box}
        self._log({"meta/query_loss": sum(v.detach() for v in losses.values())})
        return losses

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def detect(self, images: ImageList, features: Dict[str, torch.Tensor],
               params: Optional[Dict[str, torch.Tensor]] = None, instances: bool = True):
        """Detections on guided features with θ = ``params`` (plain, shared by
        all images) or the module's own θ_0.

        Returns (results, None): per image a dict with the pre-NMS ``candidates``
        (the MODEL.RETINANET.TOPK_CANDIDATES_TEST highest-scoring anchors,
        decoded) and, if ``instances``, the post-NMS ``instances``, in the
        coordinates of ``images`` (the tracker needs only the candidates).
        """
        features = self._features(features)
        anchors = Boxes.cat(self.anchor_generator(features)).tensor
        logits, deltas = self.head_forward(features, params)
        scores = logits[..., 0].sigmoid()
        k = min(self.test_topk_candidates, scores.shape[1])
        results = []
        for i, size in enumerate(images.image_sizes):
            top_scores, index = scores[i].topk(k)
            boxes = Boxes(self.box2box_transform.apply_deltas(deltas[i, index], anchors[index]))
            boxes.clip(size)
            cand = Instances(size, pred_boxes=boxes.tensor, scores=top_scores)
            if not instances:
                results.append({"candidates": cand})
                continue
            keep = nms(boxes.tensor, top_scores, self.test_nms_thresh)
            keep = keep[top_scores[keep] > self.test_score_thresh][: self.max_detections_per_image]
            inst = Instances(size, pred_boxes=boxes[keep], scores=top_scores[keep],
                             pred_classes=torch.zeros_like(keep))
            results.append({"instances": inst, "candidates": cand})
        return results, None

    # ------------------------------------------------------------ tracking interface
    @torch.no_grad()
    def tracking_samples(self, images: ImageList, features: Dict[str, torch.Tensor], boxes_xyxy,
                         aux=None, rois_per_image: Optional[int] = None, negatives=None):
        """Labelled samples for online fine-tuning: the head's input maps (cached:
        updates never re-run the backbone) and every anchor's label and target
        deltas against ``boxes_xyxy`` (one box per image). Every anchor off the
        target is a negative and hard negative mining picks the highest-scoring
        ones (the distractors) in the loss, so ``rois_per_image`` and
        ``negatives`` (the two-stage model's explicit distractor ROIs) do not apply."""
        del aux, rois_per_image, negatives
        features = self._features(features)
        gt = self.target_instances(images.image_sizes, boxes_xyxy)
        labels, target_deltas = self.anchor_targets(self.anchor_generator(features), gt)
        return [f.detach() for f in features], labels, target_deltas

    def sample_loss(self, params: Dict[str, torch.Tensor], samples, regression: bool = True) -> torch.Tensor:
        """SSD's loss of θ = ``params`` on ``tracking_samples`` (classification
        only when not ``regression`` or when the box convs are not in θ)."""
        features, labels, target_deltas = samples
        logits, deltas = self.head_forward(features, params)
        cls, box = self._loss(logits, deltas, labels, target_deltas, regression and self.adapt_regression)
        return cls + box if box is not None else cls

    @staticmethod
    def concat_samples(samples: List) -> Optional[tuple]:
        """One sample set from several (levels concatenated image-wise), or None."""
        if not samples:
            return None
        features = [torch.cat(level) for level in zip(*(s[0] for s in samples))]
        return features, torch.cat([s[1] for s in samples]), torch.cat([s[2] for s in samples])
