"""GuidedRCNN: a GeneralizedRCNN trained with MAML on exemplar/support/query triplets.

``model(triplets) -> loss dict`` runs, per training iteration (paper 3.1-3.3, Fig. 2):
guidance from the exemplars -> guided features of support and query frames ->
inner loop (Eq. 1) on the support frames' ROI losses, one θ per triplet ->
query losses (RPN + ROI with the adapted θ_N), whose gradient is Eq. 3. So
detectron2's trainer drives MAML unchanged.
"""
import logging
from typing import Dict, List, NamedTuple, Optional

import torch

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import EventStorage

from .guided_meta import GuidedMetaLearner, meta_args_from_config
from .maml import batch_params, inner_loop
from .meta_roi_heads import MetaROIHeads, proposals_task_index

__all__ = ["GuidedRCNN", "RCNNDetectAux"]

logger = logging.getLogger(__name__)


class RCNNDetectAux(NamedTuple):
    """What ``detect`` computed that ``tracking_samples`` can reuse."""

    proposals: List[Instances]  # the RPN's, per image
    roi_inputs: torch.Tensor  # head inputs of all proposals, image by image


@META_ARCH_REGISTRY.register()
class GuidedRCNN(GuidedMetaLearner, GeneralizedRCNN):
    @configurable
    def __init__(self, *, inner_steps: int = 1, inner_lr: float = 0.05, first_order: bool = False,
                 learn_inner_lr: bool = False, meta_enabled: bool = True, inner_grad_clip: float = 0.0, **kwargs):
        """
        Args:
            inner_steps, inner_lr, first_order, learn_inner_lr, meta_enabled, inner_grad_clip:
                MAML settings (``GuidedMetaLearner._init_meta``).
            kwargs: GeneralizedRCNN's arguments; the backbone must be a
                GuidedBackbone and the ROI heads MetaROIHeads.
        """
        super().__init__(**kwargs)
        if not isinstance(self.roi_heads, MetaROIHeads):
            raise ValueError("GuidedRCNN needs MODEL.ROI_HEADS.NAME: MetaROIHeads")
        self._init_meta(inner_steps, inner_lr, first_order, learn_inner_lr, meta_enabled, inner_grad_clip)

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        ret.update(meta_args_from_config(cfg))
        return ret

    def adaptable_parameters(self):
        """θ: the ROI head's predictor (names relative to ``roi_heads``)."""
        return self.roi_heads.adaptable_parameters()

    def adapt(self, roi_inputs: torch.Tensor, proposals: List[Instances], params: Dict[str, torch.Tensor],
              steps: int, task_index: Optional[torch.Tensor] = None, num_tasks: int = 1,
              differentiable: bool = True, step_size=None, max_grad_norm: float = 0.0,
              grad_norms: Optional[List[torch.Tensor]] = None):
        """Eq. 1 for ``steps`` steps on labelled ROIs (``proposals`` carry gt).

        ``params`` batched with ``num_tasks`` copies when ``task_index`` is given;
        each task then gets its own θ from the mean loss over its own ROIs.
        ``max_grad_norm`` / ``grad_norms``: as ``inner_loop``'s (per task).
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
                          first_order=self.first_order, grad_scale=grad_scale, differentiable=differentiable,
                          max_grad_norm=max_grad_norm, batched=task_index is not None, grad_norms=grad_norms)

    # ------------------------------------------------------------ training
    def forward(self, batched_inputs: List[Dict]):
        """Training: list of triplets -> loss dict. Inference: see ``inference``."""
        if not self.training:
            return self.inference(batched_inputs)
        num_tasks = len(batched_inputs)
        features, images, gt = self.encode_triplets(batched_inputs)

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
            grad_norms = []
            params, support_losses = self.adapt(s_inputs, s_proposals, params, self.inner_steps, s_index, num_tasks,
                                                max_grad_norm=self.inner_grad_clip, grad_norms=grad_norms)
            with torch.no_grad():
                after = sum(roi_heads.inner_losses(
                    roi_heads.head_forward(s_inputs, params, s_index, num_tasks), s_proposals).values())
            self._log({"meta/support_loss_before": support_losses[0], "meta/support_loss_after": after,
                       "meta/inner_grad_norm": torch.stack(grad_norms).max()})

        q_proposals, rpn_losses = self.proposal_generator(q_images, q_feats, q_gt)
        _, roi_losses = roi_heads(q_images, q_feats, q_proposals, q_gt, params=params)
        losses = {**rpn_losses, **roi_losses}
        self._log({"meta/query_loss": sum(v.detach() for v in losses.values())})
        return losses

    # ------------------------------------------------------------ inference
    @torch.no_grad()
    def detect(self, images: ImageList, features: Dict[str, torch.Tensor],
               params: Optional[Dict[str, torch.Tensor]] = None, instances: bool = True):
        """Detections on guided features with θ = ``params`` (plain dict, shared by
        all images) or the module's own θ_0.

        Returns (results, aux): per image a dict with the pre-NMS ``candidates``
        (Instances with pred_boxes, scores) and, if ``instances``, the post-NMS
        ``instances``, in the coordinates of ``images`` (the tracker needs only
        the candidates: it skips the box predictor's NMS); aux is an
        ``RCNNDetectAux`` for ``tracking_samples``.
        """
        proposals, _ = self.proposal_generator(images, features, None)
        roi_heads = self.roi_heads
        roi_inputs = roi_heads.roi_features(features, proposals)
        predictions = roi_heads.head_forward(roi_inputs, params)
        boxes, scores = roi_heads.candidates(predictions, proposals)
        results = [{"candidates": Instances(size, pred_boxes=b, scores=s)}
                   for b, s, size in zip(boxes, scores, images.image_sizes)]
        if instances:
            for result, inst in zip(results, roi_heads.box_predictor.inference(predictions, proposals)[0]):
                result["instances"] = inst
        return results, RCNNDetectAux(proposals, roi_inputs)

    # ------------------------------------------------------------ tracking interface
    @torch.no_grad()
    def tracking_samples(self, images: ImageList, features: Dict[str, torch.Tensor], boxes_xyxy,
                         aux: Optional[RCNNDetectAux] = None, rois_per_image: Optional[int] = None,
                         negatives: Optional[List[List[int]]] = None):
        """Labelled training samples of the adapted layers for online fine-tuning:
        ROIs of the RPN's proposals (``aux.proposals`` of ``detect`` on the same
        features, else the RPN is run) sampled and labelled against
        ``boxes_xyxy`` (one box per image), with their head inputs, so an update
        never re-runs the backbone or the ROI pooler. The inputs of ROIs that
        ``detect`` already pooled are taken from ``aux.roi_inputs``; only the
        appended ground-truth box is pooled here.
        ``rois_per_image`` overrides MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE.
        ``negatives`` (needs ``aux``): per image, rows of ``detect``'s candidates
        (= its proposals) added as background ROIs besides the sampled ones: the
        distractors the tracker saw, which random sampling would mostly miss.
        Returns (head inputs (R, ...), labelled proposals)."""
        if aux is None:
            proposals, _ = self.proposal_generator(images, features, None)
        else:
            proposals = aux.proposals
        targets = self.target_instances([p.image_size for p in proposals], boxes_xyxy)
        if aux is not None:
            # Tag each proposal with its row in aux.roi_inputs; label_and_sample_proposals
            # carries the field through sampling, the appended gt boxes get -1.
            start, tagged = 0, []
            for p, t in zip(proposals, targets):
                tagged.append(Instances(p.image_size, **p.get_fields(),
                                        roi_index=torch.arange(start, start + len(p), device=self.device)))
                t.roi_index = torch.full((len(t),), -1, dtype=torch.long, device=self.device)
                start += len(p)
            proposals = tagged
        roi_heads = self.roi_heads
        default_rois = roi_heads.batch_size_per_image
        if rois_per_image:  # TRACKER.ROIS_PER_SAMPLE, not the training batch size
            roi_heads.batch_size_per_image = int(rois_per_image)
        try:
            with EventStorage():  # detectron2 logs sampling stats; nothing to log to here
                sampled = roi_heads.label_and_sample_proposals(proposals, targets)
        finally:
            roi_heads.batch_size_per_image = default_rois
        if aux is None:
            return roi_heads.roi_features(features, sampled), sampled
        if negatives is not None:
            sampled = [self._with_negatives(s, p, rows) for s, p, rows in zip(sampled, proposals, negatives)]
        index = torch.cat([s.roi_index for s in sampled])
        inputs = aux.roi_inputs[index.clamp(min=0)]
        fresh = index < 0
        if fresh.any():
            inputs[fresh] = roi_heads.roi_features(features, [s[s.roi_index < 0] for s in sampled])
        for s in sampled:
            s.remove("roi_index")
        return inputs, sampled

    def _with_negatives(self, sampled: Instances, tagged: Instances, rows: List[int]) -> Instances:
        """``sampled`` plus the proposals ``rows`` of ``tagged`` (carrying
        ``roi_index``) labelled background, each once."""
        rows = torch.as_tensor(sorted(set(int(r) for r in rows if 0 <= int(r) < len(tagged))), dtype=torch.long,
                               device=self.device)
        rows = rows[~torch.isin(tagged.roi_index[rows], sampled.roi_index)] if len(rows) else rows
        if not len(rows):
            return sampled
        extra = Instances(sampled.image_size, proposal_boxes=tagged.proposal_boxes[rows],
                          objectness_logits=tagged.objectness_logits[rows],
                          gt_classes=torch.full((len(rows),), self.roi_heads.num_classes, dtype=torch.long,
                                                device=self.device),
                          gt_boxes=tagged.proposal_boxes[rows].clone(), roi_index=tagged.roi_index[rows])
        return Instances.cat([sampled, extra])

    def sample_loss(self, params: Dict[str, torch.Tensor], samples, regression: bool = True) -> torch.Tensor:
        """Loss of θ = ``params`` on ``tracking_samples``: MetaROIHeads'."""
        return self.roi_heads.sample_loss(params, samples, regression)

    @staticmethod
    def concat_samples(samples: List) -> Optional[tuple]:
        """One (inputs, proposals) pair from several, or None for an empty list."""
        if not samples:
            return None
        return torch.cat([s[0] for s in samples]), [p for s in samples for p in s[1]]

    @torch.no_grad()
    def rescore(self, features: Dict[str, torch.Tensor], boxes_xyxy: torch.Tensor, params, image_size):
        """Second head pass at the given boxes (a cascade stage with the same θ):
        the score and box then belong to the box reported, not to the proposal
        it was regressed from. Returns (boxes (R, 4), target scores (R,))."""
        proposals = Instances(image_size)
        proposals.proposal_boxes = Boxes(boxes_xyxy.clone())  # clip() works in place
        proposals.proposal_boxes.clip(image_size)
        roi_heads = self.roi_heads
        predictions = roi_heads.head_forward(roi_heads.roi_features(features, [proposals]), params)
        boxes, scores = roi_heads.candidates(predictions, [proposals])
        return boxes[0], scores[0]
