"""What every guided, meta-learned detector shares (paper 3.2-3.3), whatever its head.

``GuidedMetaLearner`` is mixed into a detectron2 meta-architecture (GuidedRCNN:
two-stage, GuidedSSD: one-stage). It holds the MAML settings (N, α of Eq. 1,
Meta-SGD step sizes) and the guidance API the trainer and the tracker use:
``normalize`` -> ``encode_targets`` (once per target; ``fold_guidance`` for
tracking) -> ``guided_features`` (per frame). The architecture supplies θ (``adaptable_parameters``) and the
tracking interface:

* ``detect(images, features, params, instances=True) -> (results, aux)``: per
  image a dict with pre-NMS ``candidates`` and (if ``instances``) post-NMS
  ``instances``;
* ``tracking_samples(images, features, boxes_xyxy, aux=None, rois_per_image=None)``:
  labelled samples cached at the adapted layers' input (no backbone re-run);
* ``sample_loss(params, samples, regression=True)``: Eq. 1's loss on them;
* ``concat_samples(list_of_samples)``.
"""
from typing import Dict, List, Optional

import torch

from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import get_event_storage

from .guided_backbone import GuidedBackbone
from .maml import MetaStepSizes
from .tgm import Guidance

__all__ = ["GuidedMetaLearner", "meta_args_from_config"]


def meta_args_from_config(cfg) -> Dict:
    """The MODEL.META keys both architectures take."""
    m = cfg.MODEL.META
    return dict(inner_steps=m.INNER_STEPS, inner_lr=m.INNER_LR, first_order=m.FIRST_ORDER,
                learn_inner_lr=m.LEARN_INNER_LR, meta_enabled=m.ENABLED, inner_grad_clip=m.INNER_GRAD_CLIP)


class GuidedMetaLearner:
    """Mixin; call ``_init_meta`` after the detector's ``__init__``."""

    def _init_meta(self, inner_steps: int, inner_lr: float, first_order: bool, learn_inner_lr: bool,
                   meta_enabled: bool, inner_grad_clip: float = 0.0):
        """
        Args:
            inner_steps: N of Eq. 1 during training.
            inner_lr: α of Eq. 1.
            first_order: first-order MAML (no second derivatives).
            learn_inner_lr: learn a per-element α (Meta-SGD).
            meta_enabled: False trains a plain guided detector (no inner loop).
            inner_grad_clip: largest L2 norm of one task's inner gradient at
                training (0 = unclipped); online tracking steps are not clipped.
        """
        if not isinstance(self.backbone, GuidedBackbone):
            raise ValueError(f"{type(self).__name__} needs MODEL.BACKBONE.NAME: GuidedBackbone "
                             "(and the wrapped backbone in MODEL.GUIDED.BACKBONE_NAME)")
        self.inner_steps = inner_steps if meta_enabled else 0
        self.inner_lr = inner_lr
        self.first_order = first_order
        self.inner_grad_clip = inner_grad_clip
        self.step_sizes = None
        if learn_inner_lr:
            shapes = {n: p.shape for n, p in self.adaptable_parameters().items()}
            self.step_sizes = MetaStepSizes(shapes, inner_lr)

    # ------------------------------------------------------------ guidance
    def normalize(self, images: List[torch.Tensor]) -> ImageList:
        """Normalise and pad raw CHW images (in INPUT.FORMAT) to an ImageList."""
        images = [(x.to(self.device) - self.pixel_mean) / self.pixel_std for x in images]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def encode_targets(self, exemplars: List[torch.Tensor], exemplar_boxes_xyxy: torch.Tensor) -> Dict[str, Guidance]:
        """Guidance per level for T targets: exemplars are raw (3, S, S) crops at
        the largest exemplar size, boxes (T, 4) in their pixels. Once per target."""
        images = torch.stack([(x.to(self.device) - self.pixel_mean) / self.pixel_std for x in exemplars])
        return self.backbone.encode(images, exemplar_boxes_xyxy.to(self.device, torch.float32))

    def fold_guidance(self, guidance: Dict[str, Guidance]) -> Dict[str, Guidance]:
        """Per-target folded TGMs (same features, one C x C conv per level)."""
        return self.backbone.fold_guidance(guidance)

    def guided_features(self, images: ImageList, guidance: Dict[str, Guidance],
                        task_ids: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Backbone + TGMs; image i is guided by target ``task_ids[i]`` (default i)."""
        if task_ids is not None:
            guidance = GuidedBackbone.index_guidance(guidance, task_ids.to(self.device))
        return self.backbone.forward_guided(images.tensor, guidance)

    def encode_triplets(self, batched_inputs: List[Dict]):
        """Training input -> (guided features of [supports..., queries...], their
        images, their gt Instances): frame i and frame T + i are guided by target i."""
        num_tasks = len(batched_inputs)
        guidance = self.encode_targets([t["exemplar"] for t in batched_inputs],
                                       torch.stack([torch.as_tensor(t["exemplar_box"]) for t in batched_inputs]))
        frames = [t["support"] for t in batched_inputs] + [t["query"] for t in batched_inputs]
        images = self.normalize([f["image"] for f in frames])
        gt = [f["instances"].to(self.device) for f in frames]
        task_ids = torch.arange(num_tasks, device=self.device).repeat(2)
        return self.guided_features(images, guidance, task_ids), images, gt

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

    def target_instances(self, image_sizes, boxes_xyxy) -> List[Instances]:
        """One ground-truth target (class 0) per image, for labelling tracking samples."""
        targets = []
        for size, box in zip(image_sizes, boxes_xyxy):
            t = Instances(size)
            t.gt_boxes = Boxes(torch.as_tensor(box, dtype=torch.float32, device=self.device).reshape(1, 4))
            t.gt_classes = torch.zeros(1, dtype=torch.long, device=self.device)
            targets.append(t)
        return targets

    # ------------------------------------------------------------ θ and α
    def theta0(self) -> Dict[str, torch.Tensor]:
        """θ_0: the meta-learned initialisation of the adapted head parameters."""
        return dict(self.adaptable_parameters())

    def step_size(self):
        """α of Eq. 1: the learned Meta-SGD step sizes, else MODEL.META.INNER_LR."""
        return self.step_sizes.as_dict() if self.step_sizes is not None else self.inner_lr

    @staticmethod
    def _log(values: Dict[str, torch.Tensor]):
        try:
            storage = get_event_storage()
        except AssertionError:  # outside a trainer: nothing to log to
            return
        storage.put_scalars(**{k: float(v) for k, v in values.items()}, smoothing_hint=True)
