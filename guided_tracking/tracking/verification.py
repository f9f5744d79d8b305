"""Does a box show the first-frame target? (issue 19: online samples that cannot teach drift)

The detector's score says "this looks like what the guidance asks for", and a
same-class look-alike can score 0.99. Before a frame's box is stored as a
positive online sample, its appearance is compared with the first-frame
target's: both boxes are ROI-aligned on the guided feature maps the detector's
head reads (one level per box, detectron2's canonical level mapping), flattened
and L2-normalised; the cosine similarity of the two is the verification score.
A frame whose box scores below TRACKER.COLLECT_SIMILARITY is not collected, so a
tracker that jumped to a look-alike does not teach itself that look-alike.

Works for any guided model: it only needs the names and strides of the feature
maps its head reads (``GuidedRCNN``: the ROI heads' ``box_in_features``;
``GuidedSSD``: the dense head's ``head_in_features``).
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
from torch.nn import functional as F

from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes

__all__ = ["TargetVerifier", "head_feature_strides"]


def head_feature_strides(model) -> Dict[str, int]:
    """{feature name: stride} of the maps the model's head reads."""
    shapes = model.backbone.output_shape()
    names = getattr(getattr(model, "roi_heads", None), "box_in_features", None) or model.head_in_features
    return {name: shapes[name].stride for name in names}


class TargetVerifier:
    """Appearance of boxes on guided feature maps, compared with a reference.

    ``set_reference(features, box)`` once (first frame); then
    ``similarity(features, boxes) -> (K,)`` cosine similarities in [-1, 1].
    """

    def __init__(self, feature_strides: Dict[str, int], output_size: int = 5, canonical_box_size: float = 51.2):
        """
        Args:
            feature_strides: {name: stride} of the maps to pool from (finest first).
            output_size: ROIAlign output side.
            canonical_box_size: the tracker's canonical target side in crop
                pixels (SEARCH_SIZE / SEARCH_CONTEXT). A box of that size is read
                from the level where it spans about 6 cells (stride 8 for 51 px),
                larger or smaller boxes from coarser or finer levels
                (detectron2's level mapping), so every box is pooled at a
                comparable resolution.
        """
        self.names = sorted(feature_strides, key=feature_strides.get)
        strides = [feature_strides[n] for n in self.names]
        levels = [int(round(math.log2(s))) for s in strides]
        canonical_level = min(levels, key=lambda lvl: abs(lvl - math.log2(canonical_box_size / 6.0)))
        # detectron2 maps a box of side b to level floor(L + log2(b / c)): with
        # c = canonical / sqrt(2), targets of 0.71x-1.41x the canonical size all
        # read level L (with c = canonical, a target a pixel smaller than it
        # would switch levels, and two boxes of the same target would not compare).
        self.pooler = ROIPooler(output_size, scales=[1.0 / s for s in strides], sampling_ratio=0,
                                pooler_type="ROIAlignV2", canonical_box_size=canonical_box_size / math.sqrt(2.0),
                                canonical_level=canonical_level)
        self.reference: Optional[torch.Tensor] = None

    def embed(self, features: Dict[str, torch.Tensor], boxes_xyxy: torch.Tensor, image_index: int = 0) -> torch.Tensor:
        """(K, D) unit vectors of ``boxes_xyxy`` (K, 4) on image ``image_index`` of the batch."""
        maps: List[torch.Tensor] = [features[n][image_index:image_index + 1] for n in self.names]
        boxes = torch.as_tensor(boxes_xyxy, dtype=maps[0].dtype, device=maps[0].device).reshape(-1, 4)
        pooled = self.pooler(maps, [Boxes(boxes)])
        return F.normalize(pooled.flatten(1).float(), dim=1)

    def set_reference(self, features: Dict[str, torch.Tensor], box_xyxy: Sequence[float], image_index: int = 0):
        """The first-frame target: what later boxes are compared with."""
        self.reference = self.embed(features, torch.as_tensor(box_xyxy).reshape(1, 4), image_index)[0]

    def similarity(self, features: Dict[str, torch.Tensor], boxes_xyxy, image_index: int = 0) -> torch.Tensor:
        """(K,) cosine similarity of each box's appearance with the reference."""
        if self.reference is None:
            raise RuntimeError("TargetVerifier.set_reference(features, box) first")
        return self.embed(features, boxes_xyxy, image_index) @ self.reference
