"""TripletDatasetMapper: read, crop and augment one exemplar/support/query triplet.

Crops come from ``guided_tracking.data.crop`` -- the same geometry the tracker
uses at test time: exemplar = 2x target, square (paper 3.5); search region = 5x
target around a jittered centre, so the target is not always in the middle.
"""
import copy
import logging
from typing import Dict, Optional

import cv2
import numpy as np
import torch

from detectron2.config import configurable
from detectron2.data import detection_utils as utils
from detectron2.structures import Boxes, Instances

from ..boxes import xywh_to_xyxy
from .crop import CropGeometry, exemplar_geometry, hflip_boxes, jitter_geometry, target_side_px, visible_fraction

__all__ = ["TripletDatasetMapper", "color_jitter", "xywh_to_xyxy"]

logger = logging.getLogger(__name__)


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation jitter of an HWC uint8 image."""
    if strength <= 0:
        return image
    img = image.astype(np.float32)
    brightness = 1.0 + rng.uniform(-strength, strength)
    contrast = 1.0 + rng.uniform(-strength, strength)
    saturation = 1.0 + rng.uniform(-strength, strength)
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * saturation
    img = (img - img.mean()) * contrast + img.mean()
    return np.clip(img * brightness, 0, 255).astype(np.uint8)


def _fraction_inside_image(box_xywh, image_hw) -> float:
    """Fraction of the box's area inside the ``H x W`` image."""
    x0, y0, x1, y1 = xywh_to_xyxy(box_xywh)
    h, w = image_hw
    inside = max(min(x1, w) - max(x0, 0.0), 0.0) * max(min(y1, h) - max(y0, 0.0), 0.0)
    return inside / max((x1 - x0) * (y1 - y0), 1e-12)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))


class TripletDatasetMapper:
    """Callable: sample dict (from TripletDataset) -> model input, or None if degenerate.

    Degenerate samples: a box that is not finite or at most 1 px wide/high, a box
    keeping less than ``min_visible_fraction`` of its area inside its image
    (annotation far outside the frame: the crop would show only padding), or a
    search crop keeping less than that fraction of the box.

    The sample's ``kind`` (``sampler.TRIPLET_KINDS``) decides the query: a
    negative query ("negative", "same_class", "background") has no ground-truth
    box, so every anchor and ROI of it is background in both losses.

    Besides the model inputs, ``support`` / ``query`` carry ``geometry`` (the
    CropGeometry image -> crop, before the flip) and ``flipped`` (the crop was
    then mirrored: map its boxes back with ``hflip_boxes`` first); the exemplar's
    is ``exemplar_geometry``.
    """

    @configurable
    def __init__(self, *, image_format: str = "BGR", exemplar_context: float = 2.0, exemplar_px: int = 192,
                 search_context: float = 5.0, search_px: int = 480, shift_jitter: float = 0.5,
                 scale_jitter: float = 0.25, flip_prob: float = 0.5, color_jitter: float = 0.2,
                 blur_prob: float = 0.1, grayscale_prob: float = 0.0, min_visible_fraction: float = 0.5,
                 still_image_shift: float = 0.3, background_margin: float = 1.0, wide_shift_prob: float = 0.0,
                 wide_shift_jitter: float = 1.5):
        """Sizes in pixels; jitters and ``background_margin`` (how far past the
        target a "background" negative's crop edge may lie) as fractions of the
        target size (see config.py)."""
        self.image_format = image_format
        self.exemplar_context = exemplar_context
        self.exemplar_px = exemplar_px
        self.search_context = search_context
        self.search_px = search_px
        self.shift_jitter = shift_jitter
        self.scale_jitter = scale_jitter
        self.flip_prob = flip_prob
        self.color_jitter = color_jitter
        self.blur_prob = blur_prob
        self.grayscale_prob = grayscale_prob
        self.min_visible_fraction = min_visible_fraction
        self.still_image_shift = still_image_shift
        self.background_margin = float(background_margin)
        self.wide_shift_prob, self.wide_shift_jitter = float(wide_shift_prob), float(wide_shift_jitter)

    @classmethod
    def from_config(cls, cfg):
        g = cfg.INPUT.GUIDED
        return {
            "image_format": cfg.INPUT.FORMAT,
            "exemplar_context": g.EXEMPLAR_CONTEXT,
            "exemplar_px": max(cfg.MODEL.GUIDED.EXEMPLAR_SIZES),
            "search_context": g.SEARCH_CONTEXT,
            "search_px": g.SEARCH_SIZE,
            "shift_jitter": g.SHIFT_JITTER,
            "scale_jitter": g.SCALE_JITTER,
            "flip_prob": g.FLIP_PROB,
            "color_jitter": g.COLOR_JITTER,
            "blur_prob": g.BLUR_PROB,
            "grayscale_prob": g.GRAYSCALE_PROB,
            "min_visible_fraction": g.MIN_VISIBLE_FRACTION,
            "still_image_shift": cfg.DATALOADER.TRIPLET.IMAGE_AUGMENT_SHIFT,
            "background_margin": cfg.DATALOADER.TRIPLET.BACKGROUND_MARGIN,
            "wide_shift_prob": g.WIDE_SHIFT_PROB,
            "wide_shift_jitter": g.WIDE_SHIFT_JITTER,
        }

    def _augment(self, image: np.ndarray, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
        image = color_jitter(image, self.color_jitter, rng)
        if rng.random() < self.blur_prob:
            k = int(rng.choice([3, 5]))
            image = cv2.GaussianBlur(image, (k, k), 0)
        if gray:
            # Channel mean, replicated: the same for RGB and BGR order.
            image = np.repeat(image.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
        return image

    def _search(self, image, box_xywh, rng, shift, target: bool = True) -> Optional[Dict]:
        """Search crop around ``box_xywh`` (jittered). ``target`` False: the box only
        places the crop (a negative query): no ground truth is kept. With
        probability ``wide_shift_prob`` the centre shift goes up to
        ``wide_shift_jitter`` instead of ``shift`` (no draw when off)."""
        if self.wide_shift_prob > 0 and rng.random() < self.wide_shift_prob:
            shift = max(shift, self.wide_shift_jitter)
        geom = jitter_geometry(box_xywh, rng, shift, self.scale_jitter, self.search_context, self.search_px)
        box = geom.box_to_crop(xywh_to_xyxy(box_xywh)[None])
        if float(visible_fraction(box, self.search_px)[0]) < self.min_visible_fraction:
            return None
        box = np.clip(box, 0, self.search_px) if target else np.zeros((0, 4), np.float32)
        return {"image": geom.crop_image(image), "box_xyxy": box, "geometry": geom}

    def _background(self, image, box_xywh, rng, tries: int = 10) -> Optional[Dict]:
        """A search crop at the target's scale (times the scale jitter) that holds
        none of the target: in a random direction, its edge 0 to
        ``background_margin`` target sizes past the target's, its centre inside
        the image (the frame's own background and look-alikes). None if no such
        crop fits (the target fills the frame)."""
        side = target_side_px(box_xywh)
        half_w, half_h = 0.5 * float(box_xywh[2]), 0.5 * float(box_xywh[3])
        cx, cy = box_xywh[0] + half_w, box_xywh[1] + half_h
        h, w = image.shape[:2]
        log_range = np.log1p(max(self.scale_jitter, 0.0))
        for _ in range(tries):
            crop_side = self.search_context * side * float(np.exp(rng.uniform(-log_range, log_range)))
            angle = rng.uniform(0.0, 2.0 * np.pi)
            cos, sin = abs(np.cos(angle)), abs(np.sin(angle))
            # Smallest distance along this direction at which crop and target only touch.
            touch = min((0.5 * crop_side + half_w) / max(cos, 1e-9), (0.5 * crop_side + half_h) / max(sin, 1e-9))
            distance = touch + rng.uniform(0.0, self.background_margin) * side
            centre = (cx + distance * np.cos(angle), cy + distance * np.sin(angle))
            if 0 <= centre[0] < w and 0 <= centre[1] < h:
                geom = CropGeometry(centre, crop_side, self.search_px)
                return {"image": geom.crop_image(image), "box_xyxy": np.zeros((0, 4), np.float32), "geometry": geom}
        return None

    def __call__(self, sample: Dict) -> Optional[Dict]:
        sample = copy.copy(sample)
        rng = np.random.default_rng(sample["seed"])
        boxes_xywh = np.asarray(sample["boxes_xywh"], dtype=np.float32)
        if not np.all(np.isfinite(boxes_xywh)) or np.any(boxes_xywh[:, 2:] <= 1):
            return None
        cache = {}
        images = []
        for path in sample["file_names"]:
            if path not in cache:
                cache[path] = utils.read_image(path, format=self.image_format)
            images.append(cache[path])
        for image, box_xywh in zip(images, boxes_xywh):
            if _fraction_inside_image(box_xywh, image.shape[:2]) < self.min_visible_fraction:
                return None

        # Exemplar: 2x target, square, centred (paper 3.5). No jitter: at test
        # time the first-frame box is exact.
        ex_geom: CropGeometry = exemplar_geometry(boxes_xywh[0], self.exemplar_context, self.exemplar_px)
        exemplar = ex_geom.crop_image(images[0])
        exemplar_box = ex_geom.box_to_crop(xywh_to_xyxy(boxes_xywh[0])[None])[0]

        shift = self.still_image_shift if sample.get("still_image") else self.shift_jitter
        kind = sample.get("kind", "positive")
        support = self._search(images[1], boxes_xywh[1], rng, shift)
        if kind == "background":
            query = self._background(images[2], boxes_xywh[2], rng)
        else:  # "negative" / "same_class": centred on the other sequence's object, kept as background
            query = self._search(images[2], boxes_xywh[2], rng, shift, target=kind == "positive")
        if support is None or query is None:
            return None
        frames = [support, query]

        # One flip decision per triplet keeps exemplar and frames consistent.
        flipped = bool(rng.random() < self.flip_prob)
        if flipped:
            exemplar = exemplar[:, ::-1]
            exemplar_box = hflip_boxes(exemplar_box[None], self.exemplar_px)[0]
            for f in frames:
                f["image"] = f["image"][:, ::-1]
                f["box_xyxy"] = hflip_boxes(f["box_xyxy"], self.search_px)

        # Grayscale for the whole triplet (thermal and gray videos are gray in
        # every frame, exemplar included). No draw when off: old streams stay.
        gray = bool(self.grayscale_prob > 0 and rng.random() < self.grayscale_prob)
        out = {"exemplar": _to_tensor(self._augment(exemplar, rng, gray)),
               "exemplar_box": torch.as_tensor(exemplar_box, dtype=torch.float32),
               "exemplar_geometry": ex_geom, "seq_name": sample["seq_name"],
               "frame_ids": tuple(sample["frame_ids"]), "kind": kind}
        for name, f in zip(("support", "query"), frames):
            instances = Instances((self.search_px, self.search_px))
            instances.gt_boxes = Boxes(torch.as_tensor(f["box_xyxy"], dtype=torch.float32).reshape(-1, 4))
            instances.gt_classes = torch.zeros(len(instances.gt_boxes), dtype=torch.int64)
            out[name] = {"image": _to_tensor(self._augment(f["image"], rng, gray)), "instances": instances,
                         "height": self.search_px, "width": self.search_px,
                         "geometry": f["geometry"], "flipped": flipped}
        return out
