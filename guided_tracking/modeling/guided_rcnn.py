"""GuidedRCNN: a GeneralizedRCNN trained with MAML on exemplar/support/query triplets.

``model(triplets) -> loss dict`` runs, per training iteration (paper 3.1-3.3, Fig. 2):
guidance from the exemplars -> guided features of support and query frames ->
inner loop (Eq. 1) on the support frames' ROI losses, one θ per triplet ->
query losses (RPN + ROI with the adapted θ_N), whose gradient is Eq. 3. So
detectron2's trainer drives MAML unchanged.
"""
import logging
from typing import Dict, List, Optional

import torch

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import ImageList, Instances
from detectron2.utils.events import get_event_storage

from .guided_backbone import GuidedBackbone
from .maml import MetaStepSizes, batch_params, inner_loop
from .meta_roi_heads import MetaROIHeads, proposals_task_index
from .tgm import Guidance

__all__ = ["GuidedRCNN"]

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class GuidedRCNN(GeneralizedRCNN):
    @configurable
    def __init__(self, *, inner_steps: int = 1, inner_lr: float = 0.05, first_order: bool = False,
                 learn_inner_lr: bool = False, meta_enabled: bool = True, **kwargs):
        """
        Args:
            inner_steps: N of Eq. 1 during training.
            inner_lr: α of Eq. 1.
            first_order: first-order MAML (no second derivatives).
            learn_inner_lr: learn a per-element α (Meta-SGD).
            meta_enabled: False trains a plain guided detector (no inner loop).
            kwargs: GeneralizedRCNN's arguments; the backbone must be a
                GuidedBackbone and the ROI heads MetaROIHeads.
        """
        super().__init__(**kwargs)
        if not isinstance(self.backbone, GuidedBackbone):
            raise ValueError("GuidedRCNN needs MODEL.BACKBONE.NAME: GuidedBackbone "
                             "(and the wrapped backbone in MODEL.GUIDED.BACKBONE_NAME)")
        if not isinstance(self.roi_heads, MetaROIHeads):
            raise ValueError("GuidedRCNN needs MODEL.ROI_HEADS.NAME: MetaROIHeads")
        self.inner_steps = inner_steps if meta_enabled else 0
        self.inner_lr = inner_lr
        self.first_order = first_order
        self.step_sizes = None
        if learn_inner_lr:
            shapes = {n: p.shape for n, p in self.roi_heads.adaptable_parameters().items()}
            self.step_sizes = MetaStepSizes(shapes, inner_lr)

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        m = cfg.MODEL.META
        ret.update(inner_steps=m.INNER_STEPS, inner_lr=m.INNER_LR, first_order=m.FIRST_ORDER,
                   learn_inner_lr=m.LEARN_INNER_LR, meta_enabled=m.ENABLED)
        return ret

    # ------------------------------------------------------------ building blocks
    def normalize(self, images: List[torch.Tensor]) -> ImageList:
        """Normalise and pad raw CHW images (in INPUT.FORMAT) to an ImageList."""
        images = [(x.to(self.device) - self.pixel_mean) / self.pixel_std for x in images]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def encode_targets(self, exemplars: List[torch.Tensor], exemplar_boxes_xyxy: torch.Tensor) -> Dict[str, Guidance]:
        """Guidance per level for T targets: exemplars are raw (3, S, S) crops at
        the largest exemplar size, boxes (T, 4) in their pixels. Once per target."""
        images = torch.stack([(x.to(self.device) - self.pixel_mean) / self.pixel_std for x in exemplars])
        return self.backbone.encode(images, exemplar_boxes_xyxy.to(self.device, torch.float32))

    def guided_features(self, images: ImageList, guidance: Dict[str, Guidance],
                        task_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Backbone + TGMs; image i is guided by target ``task_ids[i]`` (default i)."""
        if task_ids is not None:
            guidance = GuidedBackbone.index_guidance(guidance, task_ids.to(self.device))
        return self.backbone.forward_guided(images.tensor, guidance)

    def theta0(self) -> Dict[str, torch.Tensor]:
        """θ_0: the meta-learned initialisation of the adapted head parameters."""
        return dict(self.roi_heads.adaptable_parameters())

    def step_size(self):
        return self.step_sizes.as_dict() if self.step_sizes is not None else self.inner_lr

    def adapt(self, roi_inputs: torch.Tensor, proposals: List[Instances], params: Dict[str, torch.Tensor],
              steps: int, task_index: Optional[torch.Tensor] = None, num_tasks: int = 1,
              differentiable: bool = True, step_size=None):
        """Eq. 1 for ``steps`` steps on labelled ROIs (``proposals`` carry gt).

        ``params`` batched with ``num_tasks`` copies when ``task_index`` is given;
        each task then gets its own θ from the mean loss over its own ROIs.
        Returns (θ_steps, per-step losses).
        """
        roi_heads = self.roi_heads
        grad_scale = None
        if task_index is not None and num_tasks > 1:
            # The loss below averages over all N ROIs; task b's gradient is n_b / N
            # of its own mean-loss gradient, so scale it back by N / n_b.
            counts = torch.bincount(task_index, minlength=num_tasks).clamp(min=1)
            grad_scale = task_index.numel() / counts.to(roi_inputs.dtype)

        def loss_fn(theta):
            predictions = roi_heads.head_forward(roi_inputs, theta, task_index, num_tasks)
            return sum(roi_heads.inner_losses(predictions, proposals).values())

        return inner_loop(loss_fn, params, steps, self.step_size() if step_size is None else step_size,
                          first_order=self.first_order, grad_scale=grad_scale, differentiable=differentiable)

    # ------------------------------------------------------------ training
    def forward(self, batched_inputs: List[Dict]):
        """Training: list of triplets -> loss dict. Inference: see ``inference``."""
        if not self.training:
            return self.inference(batched_inputs)
        num_tasks = len(batched_inputs)
        guidance = self.encode_targets([t["exemplar"] for t in batched_inputs],
                                       torch.stack([torch.as_tensor(t["exemplar_box"]) for t in batched_inputs]))
        frames = [t["support"] for t in batched_inputs] + [t["query"] for t in batched_inputs]
        images = self.normalize([f["image"] for f in frames])
        gt = [f["instances"].to(self.device) for f in frames]
        task_ids = torch.arange(num_tasks, device=self.device).repeat(2)
        features = self.guided_features(images, guidance, task_ids)

        def split(part):
            sl = slice(0, num_tasks) if part == "support" else slice(num_tasks, 2 * num_tasks)
            return (ImageList(images.tensor[sl], images.image_sizes[sl]),
                    {k: v[sl] for k, v in features.items()}, gt[sl])

        s_images, s_feats, s_gt = split("support")
        q_images, q_feats, q_gt = split("query")

        roi_heads = self.roi_heads
        params = batch_params(self.theta0(), num_tasks)
        if self.inner_steps > 0:
            # RPN runs on the support frames only for their proposals: its losses
            # there are not part of the meta-objective (Eq. 2 is on the query).
            with torch.no_grad():
                s_proposals, _ = self.proposal_generator(s_images, s_feats, s_gt)
            s_proposals = roi_heads.label_and_sample_proposals(s_proposals, s_gt)
            s_index = proposals_task_index(s_proposals)
            s_inputs = roi_heads.roi_features(s_feats, s_proposals)
            params, support_losses = self.adapt(s_inputs, s_proposals, params, self.inner_steps, s_index, num_tasks)
            with torch.no_grad():
                after = sum(roi_heads.inner_losses(
                    roi_heads.head_forward(s_inputs, params, s_index, num_tasks), s_proposals).values())
            self._log({"meta/support_loss_before": support_losses[0], "meta/support_loss_after": after})

        q_proposals, rpn_losses = self.proposal_generator(q_images, q_feats, q_gt)
        _, roi_losses = roi_heads(q_images, q_feats, q_proposals, q_gt, params=params)
        losses = {**rpn_losses, **roi_losses}
        self._log({"meta/query_loss": sum(v.detach() for v in losses.values())})
        return losses

    @staticmethod
    def _log(values: Dict[str, torch.Tensor]):
        try:
            storage = get_event_storage()
        except AssertionError:  # outside a trainer: nothing to log to
            return
        storage.put_scalars(**{k: float(v) for k, v in values.items()}, smoothing_hint=True)

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def detect(self, images: ImageList, features: Dict[str, torch.Tensor],
               params: Optional[Dict[str, torch.Tensor]] = None):
        """Detections on guided features with θ = ``params`` (plain dict, shared by
        all images) or the module's own θ_0.

        Returns (results, proposals): per image a dict with post-NMS ``instances``
        and pre-NMS ``candidates`` (Instances with pred_boxes, scores), in the
        coordinates of ``images``; proposals are the RPN's.
        """
        proposals, _ = self.proposal_generator(images, features, None)
        roi_heads = self.roi_heads
        predictions = roi_heads.head_forward(roi_heads.roi_features(features, proposals), params)
        instances, _ = roi_heads.box_predictor.inference(predictions, proposals)
        boxes, scores = roi_heads.candidates(predictions, proposals)
        results = []
        for inst, b, s, size in zip(instances, boxes, scores, images.image_sizes):
            cand = Instances(size)
            cand.pred_boxes = b
            cand.scores = s
            results.append({"instances": inst, "candidates": cand})
        return results, proposals

    @torch.no_grad()
    def inference(self, batched_inputs: List[Dict]):
        """Each input: ``image`` (search crop) + ``exemplar`` + ``exemplar_box``, or
        ``guidance`` (cached, one target); optional ``params`` (adapted θ)."""
        outputs = []
        for x in batched_inputs:
            guidance = x.get("guidance")
            if guidance is None:
                guidance = self.encode_targets([x["exemplar"]], torch.as_tensor(x["exemplar_box"])[None])
            images = self.normalize([x["image"]])
            features = self.guided_features(images, guidance)
            results, _ = self.detect(images, features, x.get("params"))
            outputs.append(results[0])
        return outputs
