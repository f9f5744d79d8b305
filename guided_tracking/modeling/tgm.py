"""Target-guidance module (paper 3.2, Fig. 1b).

``encode`` runs once per target: ROI-pool the target on the exemplar features,
a conv turns it into a C x 1 x 1 channel modulator, and a second projection
gives the target's global representation. ``apply`` runs per search frame:
re-weight the search channels with the modulator, concatenate
[search, modulated search, broadcast global vector] and merge them with a 1x1
conv back to C channels, so everything after the backbone is unchanged.
For a fixed target that 1x1 conv over [x, m * x, t] is one C x C conv of x
(``fold``): the tracker computes it once per target instead of building the
3C-channel input every frame.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.layers import ROIAlign


@dataclass
class Guidance:
    """Per-target guidance of one level, cached between frames.

    modulator: (T, C, 1, 1) channel weights; target_vector: (T, C, 1, 1) global
    target representation; T = number of targets (triplets). ``weight``
    (T, C, C) and ``bias`` (T, C): the TGM's fuse conv folded for each target
    (``TargetGuidanceModule.fold``), or None.
    """

    modulator: torch.Tensor
    target_vector: torch.Tensor
    weight: Optional[torch.Tensor] = None
    bias: Optional[torch.Tensor] = None

    def index(self, task_ids):
        """Guidance for each search image, given the target index of each."""
        folded = (self.weight[task_ids], self.bias[task_ids]) if self.weight is not None else (None, None)
        return Guidance(self.modulator[task_ids], self.target_vector[task_ids], *folded)

    def to(self, device):
        folded = (self.weight.to(device), self.bias.to(device)) if self.weight is not None else (None, None)
        return Guidance(self.modulator.to(device), self.target_vector.to(device), *folded)


class TargetGuidanceModule(nn.Module):
    """One TGM for one backbone level with ``channels`` channels and ``stride``."""

    def __init__(self, channels: int, stride: int, pooler_resolution: int = 3):
        super().__init__()
        self.channels = channels
        self.pool = ROIAlign(
            (pooler_resolution, pooler_resolution), spatial_scale=1.0 / stride, sampling_ratio=0, aligned=True
        )
        # ROI-pooled target -> conv with the pool's size -> C x 1 x 1 modulator.
        self.modulator_conv = nn.Conv2d(channels, channels, kernel_size=pooler_resolution)
        # Global target representation (later broadcast over the search map).
        self.target_proj = nn.Conv2d(channels, channels, kernel_size=1)
        # Merge [search, modulated, target] (3C) -> C.
        self.fuse = nn.Conv2d(3 * channels, channels, kernel_size=1)
        self._init_weights()

    def _init_weights(self):
        for conv in (self.modulator_conv, self.target_proj):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        # Start as the identity on the search features: a pretrained detector
        # behaves exactly as before at the first iteration, and guidance is
        # learned on top (so a COCO checkpoint is a sound starting point). The
        # guidance blocks start at zero but get gradients at once (their inputs
        # are non-zero), and the modulator/target convs follow a step later.
        with torch.no_grad():
            self.fuse.weight.zero_()
            self.fuse.weight[:, : self.channels, 0, 0].copy_(torch.eye(self.channels))
            self.fuse.bias.zero_()

    def encode(self, exemplar_features: torch.Tensor, exemplar_boxes_xyxy: torch.Tensor) -> Guidance:
        """exemplar_features: (T, C, h, w); exemplar_boxes_xyxy: (T, 4) in exemplar pixels."""
        num_targets = exemplar_features.shape[0]
        batch_index = torch.arange(num_targets, device=exemplar_features.device, dtype=exemplar_boxes_xyxy.dtype)
        rois = torch.cat([batch_index[:, None], exemplar_boxes_xyxy], dim=1)
        pooled = self.pool(exemplar_features, rois)  # (T, C, S, S)
        modulator = self.modulator_conv(pooled)  # (T, C, 1, 1)
        target_vector = self.target_proj(F.adaptive_avg_pool2d(pooled, 1))
        return Guidance(modulator, target_vector)

    @torch.no_grad()
    def fold(self, guidance: Guidance) -> Guidance:
        """The same guidance with the fuse conv folded per target. The fuse conv's
        weight splits by input block as [W_x | W_m | W_t], so for modulator m and
        target vector t: fuse([x, m * x, t]) = (W_x + W_m diag(m)) x + (W_t t + b),
        one C x C matrix and one bias per target, exact up to float rounding."""
        c = self.channels
        w = self.fuse.weight[:, :, 0, 0]  # (C, 3C)
        w_x, w_m, w_t = w[:, :c], w[:, c:2 * c], w[:, 2 * c:]
        m, t = guidance.modulator.flatten(1), guidance.target_vector.flatten(1)  # (T, C)
        weight = w_x + w_m * m[:, None, :]  # (T, C, C): W_x + W_m diag(m_T)
        bias = t @ w_t.T + self.fuse.bias  # (T, C)
        return Guidance(guidance.modulator, guidance.target_vector, weight, bias)

    def apply(self, search_features: torch.Tensor, guidance: Guidance) -> torch.Tensor:
        """search_features: (N, C, H, W); guidance holds N targets (one per image)."""
        if guidance.weight is not None:
            return self._apply_folded(search_features, guidance)
        modulated = search_features * guidance.modulator
        target_map = guidance.target_vector.expand_as(search_features)
        return self.fuse(torch.cat([search_features, modulated, target_map], dim=1))

    @staticmethod
    def _apply_folded(x: torch.Tensor, guidance: Guidance) -> torch.Tensor:
        """Per image n: W'_n x_n + b'_n, as a 1x1 conv (one image) or a batched matmul."""
        n, c, h, w = x.shape
        if n == 1:
            return F.conv2d(x, guidance.weight[0][:, :, None, None], guidance.bias[0])
        out = torch.baddbmm(guidance.bias[:, :, None], guidance.weight, x.reshape(n, c, h * w))
        return out.reshape(n, -1, h, w)
