"""GuidedBackbone: any registered detectron2 backbone + one TGM per output level.

The wrapped backbone (``body``) sees the exemplar and the search images with the
same weights (paper Fig. 4). ``forward`` is the plain backbone, so the module
still honours detectron2's Backbone contract; ``encode`` and ``forward_guided``
are the two halves of target guidance.
"""
from typing import Dict, List, Sequence

import torch
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torch import nn

from .tgm import Guidance, TargetGuidanceModule

__all__ = ["GuidedBackbone", "plain_backbone_key_to_guided"]


def plain_backbone_key_to_guided(key: str, prefix: str = "backbone.") -> str:
    """A plain detector names its backbone's weights ``backbone.<name>``; in a
    GuidedBackbone they live under ``backbone.body.<name>``."""
    if key.startswith(prefix) and not key.startswith((prefix + "body.", prefix + "tgms.")):
        return prefix + "body." + key[len(prefix):]
    return key


@BACKBONE_REGISTRY.register()
class GuidedBackbone(Backbone):
    @configurable
    def __init__(
        self,
        *,
        body: Backbone,
        in_features: Sequence[str] = (),
        pooler_resolution: int = 3,
        exemplar_sizes: Sequence[int] = (192,),
        exemplar_size_of_level: Sequence[int] = (),
    ):
        """
        Args:
            body: the detectron2 backbone to guide.
            in_features: outputs of ``body`` that get a TGM (empty = all).
            pooler_resolution: ROI-pool side of the target in each TGM.
            exemplar_sizes: exemplar sides in pixels (one per resolution).
            exemplar_size_of_level: for each guided level, index into exemplar_sizes.
        """
        super().__init__()
        self.body = body
        shapes = body.output_shape()
        self.in_features = list(in_features) or list(shapes.keys())
        missing = [f for f in self.in_features if f not in shapes]
        if missing:
            raise ValueError(
                f"MODEL.GUIDED.IN_FEATURES names {missing}, but the wrapped backbone only outputs {list(shapes)}"
            )
        self.exemplar_sizes = [int(s) for s in exemplar_sizes]
        if exemplar_size_of_level:
            if len(exemplar_size_of_level) != len(self.in_features):
                raise ValueError(
                    "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL needs one entry per guided level "
                    f"{self.in_features}, got {list(exemplar_size_of_level)}"
                )
            size_index = [int(i) for i in exemplar_size_of_level]
        else:
            size_index = [min(i, len(self.exemplar_sizes) - 1) for i in range(len(self.in_features))]
        if any(not 0 <= i < len(self.exemplar_sizes) for i in size_index):
            raise ValueError(f"MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL {size_index} out of range of EXEMPLAR_SIZES")
        self.level_exemplar_index = dict(zip(self.in_features, size_index))
        self.tgms = nn.ModuleDict(
            {
                name: TargetGuidanceModule(shapes[name].channels, shapes[name].stride, pooler_resolution)
                for name in self.in_features
            }
        )

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        name = cfg.MODEL.GUIDED.BACKBONE_NAME
        if name in ("GuidedBackbone", "build_guided_backbone"):
            raise ValueError("MODEL.GUIDED.BACKBONE_NAME must name the backbone to wrap, not GuidedBackbone itself")
        body = BACKBONE_REGISTRY.get(name)(cfg, input_shape)
        return {
            "body": body,
            "in_features": cfg.MODEL.GUIDED.IN_FEATURES,
            "pooler_resolution": cfg.MODEL.GUIDED.POOLER_RESOLUTION,
            "exemplar_sizes": cfg.MODEL.GUIDED.EXEMPLAR_SIZES,
            "exemplar_size_of_level": cfg.MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL,
        }

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Any loader (load_state_dict, DetectionCheckpointer) can initialise the
        # wrapped backbone from a plain detector checkpoint.
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new_key = plain_backbone_key_to_guided(key, prefix)
            if new_key != key:
                state_dict[new_key] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------ Backbone API
    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Plain (unguided) features of the wrapped backbone."""
        return self.body(x)

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return self.body.output_shape()

    @property
    def size_divisibility(self) -> int:
        return self.body.size_divisibility

    @property
    def padding_constraints(self):
        return getattr(self.body, "padding_constraints", {})

    # ------------------------------------------------------------ guidance
    def encode(self, exemplars: torch.Tensor, exemplar_boxes_xyxy: torch.Tensor) -> Dict[str, Guidance]:
        """Guidance of each level from normalised exemplar images.

        exemplars: (T, 3, S, S) at the largest exemplar size S; exemplar_boxes_xyxy:
        (T, 4) target boxes in those pixels. Each exemplar resolution needed by a
        level is resized from it and passed through the body once.
        """
        full_px = exemplars.shape[-1]
        guidance = {}
        for size_index, size_px in enumerate(self.exemplar_sizes):
            levels = [n for n in self.in_features if self.level_exemplar_index[n] == size_index]
            if not levels:
                continue
            if size_px != full_px:
                images = F.interpolate(exemplars, size=(size_px, size_px), mode="bilinear",
                                       align_corners=False, antialias=True)
                boxes = exemplar_boxes_xyxy * (size_px / full_px)
            else:
                images, boxes = exemplars, exemplar_boxes_xyxy
            features = self.body(images)
            for name in levels:
                guidance[name] = self.tgms[name].encode(features[name], boxes)
        return guidance

    def forward_guided(self, x: torch.Tensor, guidance: Dict[str, Guidance]) -> Dict[str, torch.Tensor]:
        """Target-aware features; ``guidance`` holds one target per image of ``x``."""
        features = self.body(x)
        for name in self.in_features:
            features[name] = self.tgms[name].apply(features[name], guidance[name])
        return features

    def fold_guidance(self, guidance: Dict[str, Guidance]) -> Dict[str, Guidance]:
        """Guidance with each level's TGM folded into one C x C conv per target
        (``TargetGuidanceModule.fold``): for tracking, where the target is fixed."""
        return {name: self.tgms[name].fold(g) for name, g in guidance.items()}

    @staticmethod
    def index_guidance(guidance: Dict[str, Guidance], task_ids: torch.Tensor) -> Dict[str, Guidance]:
        """Repeat/select per-target guidance for a batch of search images."""
        return {name: g.index(task_ids) for name, g in guidance.items()}

    def guided_levels(self) -> List[str]:
        return list(self.in_features)
