"""VGG-16 backbone for detectron2 (the paper's SSD-VGG16 and FRCNN-VGG16 trackers).

torchvision's layer layout (``features.N`` names, so torchvision's ImageNet state
dict loads as is), plus SSD's (Liu et al. 2016) layers after conv5_3: pool5
(3x3, stride 1), the dilated conv6 and conv7 made from fc6/fc7 by subsampling
their weights, and conv8_1/conv8_2. Outputs (channels, stride):

    conv3 (256, 4)  conv4 = conv4_3 (512, 8)  conv5 = conv5_3 (512, 16)
    fc7 = SSD's conv7 (1024, 16)  conv8 = SSD's conv8_2 (512, 32)

Faster R-CNN VGG-16 uses ``conv5``; SSD300 uses ``conv4`` (L2-normalised),
``fc7`` and ``conv8`` (the paper's L1-L3, Fig. 3). Weights come from a local
file (MODEL.VGG.WEIGHTS); nothing is downloaded.
"""
import logging
import os
from typing import Dict, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from torchvision.models.vgg import cfgs as vgg_layer_cfgs
from torchvision.models.vgg import make_layers

__all__ = ["VGG16", "build_vgg16_backbone", "fc_to_conv_weights"]

logger = logging.getLogger(__name__)

# Output name -> (index of its ReLU in torchvision's vgg16().features, or None
# for the SSD layers), channels, stride.
_OUTPUTS = {
    "conv3": (15, 256, 4),
    "conv4": (22, 512, 8),
    "conv5": (29, 512, 16),
    "fc7": (None, 1024, 16),
    "conv8": (None, 512, 32),
}
# ``features`` index one past the end of the first N conv blocks (each ends with its pool).
_BLOCK_ENDS = (0, 5, 10, 17, 24, 31)
_POOL3 = 16


class L2Norm(nn.Module):
    """SSD's per-channel scaled L2 normalisation of conv4_3 (its activations are
    far larger than the deeper layers')."""

    def __init__(self, channels: int, scale: float = 20.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x):
        return F.normalize(x, dim=1, eps=1e-10) * self.weight.view(1, -1, 1, 1)


def fc_to_conv_weights(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """SSD's conversion of VGG-16's fc6/fc7 into conv6 (3x3, dilation 6) and
    conv7 (1x1): every 4th output (and input) unit, every 3rd tap of the 7x7 fc6
    kernel (the "atrous" subsampling of the SSD paper)."""
    fc6_w = state["classifier.0.weight"].view(4096, 512, 7, 7)
    fc7_w = state["classifier.3.weight"].view(4096, 4096, 1, 1)
    return {
        "conv6.weight": fc6_w[::4, :, ::3, ::3].contiguous(),
        "conv6.bias": state["classifier.0.bias"][::4].contiguous(),
        "conv7.weight": fc7_w[::4, ::4].contiguous(),
        "conv7.bias": state["classifier.3.bias"][::4].contiguous(),
    }


class VGG16(Backbone):
    def __init__(self, out_features: Sequence[str] = ("conv4", "fc7", "conv8"), weights: str = "",
                 freeze_at: int = 2, conv4_l2norm: bool = True):
        """
        Args:
            out_features: among conv3, conv4, conv5, fc7, conv8 (see module doc).
            weights: local torchvision VGG-16 state dict (``vgg16-397923af.pth``);
                "" = random init.
            freeze_at: freeze the first N conv blocks.
            conv4_l2norm: SSD's L2Norm on conv4 (only when conv4 is an output).
        """
        super().__init__()
        unknown = [f for f in out_features if f not in _OUTPUTS]
        if unknown or not out_features:
            raise ValueError(f"MODEL.VGG.OUT_FEATURES: unknown {unknown or 'empty'}; choose from {list(_OUTPUTS)}")
        if not 0 <= freeze_at < len(_BLOCK_ENDS):
            raise ValueError(f"MODEL.VGG.FREEZE_AT must be 0-5, got {freeze_at}")
        if weights and not os.path.isfile(weights):
            raise FileNotFoundError(f"MODEL.VGG.WEIGHTS: {weights!r} does not exist (a local torchvision "
                                    "VGG-16 state dict such as vgg16-397923af.pth; nothing is downloaded)")
        self._out_features = list(out_features)
        self._ssd_layers = any(_OUTPUTS[f][0] is None for f in out_features)
        last = 29 if self._ssd_layers else max(_OUTPUTS[f][0] for f in out_features)
        # torchvision's vgg16().features, without building its 120M-parameter classifier.
        features = make_layers(vgg_layer_cfgs["D"])
        features[_POOL3].ceil_mode = True  # SSD300: 75 -> 38, so conv4_3 is 38 x 38
        self.features = nn.Sequential(*features[: last + 1])
        self._taps = {_OUTPUTS[f][0]: f for f in out_features if _OUTPUTS[f][0] is not None}
        if self._ssd_layers:
            self.pool5 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
            self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6)
            self.conv7 = nn.Conv2d(1024, 1024, kernel_size=1)
            if "conv8" in out_features:
                self.conv8_1 = nn.Conv2d(1024, 256, kernel_size=1)
                self.conv8_2 = nn.Conv2d(256, 512, kernel_size=3, stride=2, padding=1)
                for conv in (self.conv8_1, self.conv8_2):
                    nn.init.xavier_uniform_(conv.weight)
                    nn.init.zeros_(conv.bias)
        self.l2norm = L2Norm(512) if conv4_l2norm and "conv4" in out_features else None
        if weights:
            self._load(weights)
        else:
            logger.warning("MODEL.VGG.WEIGHTS is empty: VGG-16 starts from random init "
                           "(give a local torchvision vgg16-397923af.pth)")
        for p in self.features[: _BLOCK_ENDS[freeze_at]].parameters():
            p.requires_grad_(False)

    def _load(self, path: str):
        state = torch.load(path, map_location="cpu", weights_only=True)
        if "classifier.0.weight" not in state or "features.0.weight" not in state:
            raise ValueError(f"MODEL.VGG.WEIGHTS: {path!r} is not a torchvision VGG-16 state dict "
                             "(no features.0.weight / classifier.0.weight)")
        own = {k: v for k, v in state.items() if k.startswith("features.")}
        if self._ssd_layers:
            own.update(fc_to_conv_weights(state))
        incompatible = self.load_state_dict(own, strict=False)
        # Only the layers VGG-16 has no weights for may be missing.
        missing = [k for k in incompatible.missing_keys if not k.startswith(("conv8_", "l2norm"))]
        if missing:
            raise ValueError(f"MODEL.VGG.WEIGHTS: {path!r} lacks {missing}")
        logger.info(f"Loaded ImageNet VGG-16 weights from {path}")

    def forward(self, x) -> Dict[str, torch.Tensor]:
        outputs = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._taps:
                outputs[self._taps[index]] = x
        if self.l2norm is not None:
            outputs["conv4"] = self.l2norm(outputs["conv4"])
        if self._ssd_layers:
            x = F.relu(self.conv7(F.relu(self.conv6(self.pool5(x)))))
            if "fc7" in self._out_features:
                outputs["fc7"] = x
            if "conv8" in self._out_features:
                outputs["conv8"] = F.relu(self.conv8_2(F.relu(self.conv8_1(x))))
        return outputs

    def output_shape(self):
        return {f: ShapeSpec(channels=_OUTPUTS[f][1], stride=_OUTPUTS[f][2]) for f in self._out_features}


@BACKBONE_REGISTRY.register()
def build_vgg16_backbone(cfg, input_shape: ShapeSpec):
    """VGG-16 with outputs MODEL.VGG.OUT_FEATURES (see ``VGG16``)."""
    v = cfg.MODEL.VGG
    return VGG16(v.OUT_FEATURES, v.WEIGHTS, v.FREEZE_AT, v.CONV4_L2NORM)
