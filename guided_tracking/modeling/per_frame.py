"""The per-frame network of a guided tracker, as one graph that can be exported (ONNX).

What the tracker runs on every frame and that never changes once the target is
known: pixel normalisation, the wrapped backbone (FPN included), each level's TGM
folded for the target (one C x C matrix and bias per level and image,
``TargetGuidanceModule.fold``: graph *inputs*, so one exported file serves every
target), and, for the two-stage model, the RPN head (objectness logits and anchor
deltas, flattened as detectron2's RPN does). The meta-learned θ (ROI box predictor,
or the SSD head's convs) and its online updates stay outside, in torch, where
autograd is.

Outputs, in order: the guided feature maps the head and the RPN read (``feature_names``), then
for a two-stage model the RPN head's outputs per level as detectron2's
``StandardRPNHead`` returns them: logits (N, A, H, W), then deltas (N, 4A, H, W).
"""
from typing import List, Sequence, Tuple

import torch
from torch import nn

from .guided_backbone import GuidedBackbone

__all__ = ["PerFrameNetwork"]


class PerFrameNetwork(nn.Module):
    def __init__(self, model):
        """model: a built GuidedRCNN or GuidedSSD (weights loaded, eval mode)."""
        super().__init__()
        if not isinstance(model.backbone, GuidedBackbone):
            raise ValueError("PerFrameNetwork needs a guided model (MODEL.BACKBONE.NAME GuidedBackbone)")
        self.body = model.backbone.body
        self.tgm_levels: List[str] = model.backbone.guided_levels()
        self.register_buffer("pixel_mean", model.pixel_mean.detach().clone(), persistent=False)
        self.register_buffer("pixel_std", model.pixel_std.detach().clone(), persistent=False)
        rpn = getattr(model, "proposal_generator", None)
        self.rpn_head = rpn.rpn_head if rpn is not None else None
        self.rpn_features: List[str] = list(rpn.in_features) if rpn is not None else []
        head_features = model.roi_heads.box_in_features if hasattr(model, "roi_heads") else model.head_in_features
        # What the head reads, and what the RPN reads (its anchors come from the maps' sizes).
        self.feature_names: List[str] = list(head_features) + [n for n in self.rpn_features if n not in head_features]

    def output_names(self) -> List[str]:
        return self.feature_names + [f"rpn_logits_{n}" for n in self.rpn_features] + \
            [f"rpn_deltas_{n}" for n in self.rpn_features]

    def input_names(self) -> List[str]:
        return ["images"] + [f"{kind}_{n}" for n in self.tgm_levels for kind in ("tgm_weight", "tgm_bias")]

    def forward(self, images: torch.Tensor, *folded: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """images: (N, 3, S, S) float pixels (0-255, INPUT.FORMAT order); ``folded``:
        per guided level (``tgm_levels`` order) its (N, C, C) weight and (N, C) bias."""
        if len(folded) != 2 * len(self.tgm_levels):
            raise ValueError(f"expected a weight and a bias for each of {self.tgm_levels}, got {len(folded)} tensors")
        features = self.body((images - self.pixel_mean) / self.pixel_std)
        for i, name in enumerate(self.tgm_levels):
            x, weight, bias = features[name], folded[2 * i], folded[2 * i + 1]
            n, c, h, w = x.shape
            # Always the batched form (a traced "if N == 1" would fix the batch size).
            features[name] = torch.baddbmm(bias[:, :, None], weight, x.reshape(n, c, h * w)).reshape(n, -1, h, w)
        outputs = [features[n] for n in self.feature_names]
        if self.rpn_head is not None:
            logits, deltas = self.rpn_head([features[n] for n in self.rpn_features])
            outputs += list(logits) + list(deltas)
        return tuple(outputs)

    @staticmethod
    def folded_inputs(guidance, levels: Sequence[str]) -> List[torch.Tensor]:
        """The graph's TGM inputs from folded guidance (``{level: Guidance}`` with
        ``weight`` and ``bias`` set, one target per image)."""
        out = []
        for name in levels:
            g = guidance[name]
            if g.weight is None:
                raise ValueError("fold the guidance first (model.fold_guidance / TRACKER.FOLD_TGM)")
            out += [g.weight, g.bias]
        return out
