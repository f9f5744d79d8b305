# -*- coding: utf-8 -*-
"""
Crop geometry shared by the training data mapper and the online tracker.

Both sides MUST go through this module: any difference between how training
crops are made and how the tracker crops the search region at test time (half a
pixel of offset, a different notion of "target size", a different padding
colour) is the classic silent train/test mismatch of Siamese-style trackers.

Paper (Sec. 3.5, FasterRCNN instantiation): the exemplar is a square of twice
the target size resized to 192x192 (several resolutions may be used, Sec. 3.5 /
Table 1 "Multi-Res."), the search region is 5 times the target size resized to
480x480.

Conventions
-----------
* Target "size" is the geometric-mean side ``s = sqrt(w * h)``; a crop of
  context factor ``k`` is the axis-aligned square of side ``k * s`` centred on
  the box centre. The geometric mean is aspect-invariant (a 20x80 and a 40x40
  target get the same crop side, since both cover the same area), so the crop
  keeps the target's area fraction constant whatever its shape; this is what
  SiamFC / SiamRPN do (up to their additive context term).
* Continuous image coordinates: pixel ``i`` covers ``[i, i + 1)``, its centre
  is ``i + 0.5``. A box ``(x, y, w, h)`` has its top-left corner at ``(x, y)``
  in these coordinates, and ``xyxy = (x, y, x + w, y + h)``. Crop coordinates
  use the same convention in the ``out_px x out_px`` output image.
* The mapping image -> crop is ``u = (x - x0) * scale`` with
  ``x0 = cx - side_px / 2`` and ``scale = out_px / side_px`` (same for y).
  :meth:`CropGeometry.crop_image` warps with exactly this mapping, so boxes
  mapped with :meth:`CropGeometry.box_to_crop` land on the pixels they cover.

Everything here is pure (no state); box/point mapping accepts numpy arrays or
torch tensors (any device) and is vectorised over the leading dimensions.
"""
from dataclasses import dataclass, replace
import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

try:  # torch is optional for this module: only used if tensors are passed in.
    import torch
except ImportError:  # pragma: no cover
    torch = None

__all__ = [
    "CropGeometry",
    "target_side_px",
    "exemplar_geometry",
    "exemplar_geometries",
    "search_geometry",
    "jitter_geometry",
    "clip_boxes_to_crop",
    "visible_fraction",
    "hflip_boxes",
    "EXEMPLAR_CONTEXT",
    "EXEMPLAR_OUT_PX",
    "SEARCH_CONTEXT",
    "SEARCH_OUT_PX",
]

# Paper Sec. 3.5 (FasterRCNN tracker): exemplar = 2x target size -> 192x192,
# search region = 5x target size -> 480x480.
EXEMPLAR_CONTEXT = 2.0
EXEMPLAR_OUT_PX = 192
SEARCH_CONTEXT = 5.0
SEARCH_OUT_PX = 480


def _is_tensor(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _float_copy(x):
    """Float copy of an array/tensor (keeps float dtype, promotes ints)."""
    if _is_tensor(x):
        return x.clone() if x.is_floating_point() else x.to(torch.get_default_dtype())
    x = np.asarray(x)
    return x.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64, copy=True)


def _affine_xy(coords, scale: float, off_x: float, off_y: float):
    """``(x, y) -> (x * scale + off_x, y * scale + off_y)`` on the last axis.

    The last axis holds interleaved x/y values: ``(x, y)`` points or
    ``(x0, y0, x1, y1)`` boxes. An isotropic scale + translation keeps
    ``xyxy`` ordering, so boxes need no re-sorting.
    """
    out = _float_copy(coords)
    out[..., 0::2] = out[..., 0::2] * scale + off_x
    out[..., 1::2] = out[..., 1::2] * scale + off_y
    return out


def target_side_px(box_xywh: Sequence[float]) -> float:
    """Geometric-mean target side ``s = sqrt(w * h)`` in pixels (see module doc)."""
    w, h = float(box_xywh[2]), float(box_xywh[3])
    return math.sqrt(max(w, 0.0) * max(h, 0.0))


@dataclass(frozen=True)
class CropGeometry:
    """A square, axis-aligned crop of an image, resampled to ``out_px x out_px``.

    Attributes:
        center_xy: crop centre in continuous image coordinates (pixels).
        side_px: side of the square crop, in image pixels.
        out_px: side of the output (resampled) crop, in output pixels.
    """

    center_xy: Tuple[float, float]
    side_px: float
    out_px: int

    def __post_init__(self):
        # Normalise to plain Python numbers (tensors / numpy scalars may come in)
        # so geometries are hashable, comparable and cheap to pass around.
        cx, cy = (float(v) for v in self.center_xy)
        object.__setattr__(self, "center_xy", (cx, cy))
        object.__setattr__(self, "side_px", float(self.side_px))
        object.__setattr__(self, "out_px", int(self.out_px))
        if not (math.isfinite(cx) and math.isfinite(cy)):
            raise ValueError(f"CropGeometry centre must be finite, got {self.center_xy}")
        if not (math.isfinite(self.side_px) and self.side_px > 0):
            raise ValueError(f"CropGeometry side_px must be finite and > 0, got {self.side_px}")
        if self.out_px <= 0:
            raise ValueError(f"CropGeometry out_px must be > 0, got {self.out_px}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_box(cls, box_xywh: Sequence[float], context_factor: float, out_px: int) -> "CropGeometry":
        """Square crop of side ``context_factor * sqrt(w * h)`` centred on the box.

        Args:
            box_xywh: target box ``(x, y, w, h)``, top-left corner + size, image pixels.
            context_factor: crop side as a multiple of the target size (paper: 2 for
                the exemplar, 5 for the search region).
            out_px: output crop side in pixels.
        """
        x, y, w, h = (float(v) for v in box_xywh)
        return cls((x + 0.5 * w, y + 0.5 * h), context_factor * target_side_px(box_xywh), out_px)

    def with_out_px(self, out_px: int) -> "CropGeometry":
        """Same image region, different output resolution (multi-resolution exemplars)."""
        return replace(self, out_px=int(out_px))

    # ------------------------------------------------------------------ properties
    @property
    def scale(self) -> float:
        """Output pixels per image pixel (``out_px / side_px``)."""
        return self.out_px / self.side_px

    @property
    def origin_xy(self) -> Tuple[float, float]:
        """Image coordinates of the crop's top-left corner (crop coordinate (0, 0))."""
        half = 0.5 * self.side_px
        return (self.center_xy[0] - half, self.center_xy[1] - half)

    @property
    def box_xyxy(self) -> Tuple[float, float, float, float]:
        """The cropped region in image coordinates, ``xyxy``."""
        x0, y0 = self.origin_xy
        return (x0, y0, x0 + self.side_px, y0 + self.side_px)

    # ------------------------------------------------------------------ coordinate mapping
    def points_to_crop(self, points_xy):
        """Map image-space points ``(..., 2)`` to crop space (numpy or torch)."""
        x0, y0 = self.origin_xy
        s = self.scale
        return _affine_xy(points_xy, s, -x0 * s, -y0 * s)

    def points_from_crop(self, points_xy):
        """Inverse of :meth:`points_to_crop`."""
        x0, y0 = self.origin_xy
        return _affine_xy(points_xy, 1.0 / self.scale, x0, y0)

    def box_to_crop(self, boxes_xyxy):
        """Map image-space boxes ``(..., 4)`` xyxy to crop space (numpy or torch)."""
        return self.points_to_crop(boxes_xyxy)

    def box_from_crop(self, boxes_xyxy):
        """Map crop-space boxes ``(..., 4)`` xyxy back to image space (exact inverse)."""
        return self.points_from_crop(boxes_xyxy)

    # ------------------------------------------------------------------ image
    def affine_matrix(self) -> np.ndarray:
        """2x3 matrix mapping OUTPUT pixel indices to INPUT pixel indices.

        OpenCV samples pixel ``i`` at its centre, i.e. index ``i`` is continuous
        coordinate ``i + 0.5``. With ``u = (x - x0) * scale`` in continuous
        coordinates, the index-space inverse map is
        ``x_idx = (u_idx + 0.5) / scale + x0 - 0.5``; getting this half-pixel
        right is what makes the warp agree with :meth:`box_to_crop`.
        """
        x0, y0 = self.origin_xy
        inv = 1.0 / self.scale
        return np.array(
            [[inv, 0.0, 0.5 * inv + x0 - 0.5], [0.0, inv, 0.5 * inv + y0 - 0.5]], dtype=np.float64
        )

    def crop_image(self, image_hwc_uint8: np.ndarray, fill=None) -> np.ndarray:
        """Crop and resample the image to ``out_px x out_px`` in ONE bilinear warp.

        Why one ``cv2.warpAffine`` rather than composing
        ``detectron2.data.transforms`` (``ExtentTransform`` / ``CropTransform`` +
        ``ResizeTransform``): the crop region usually extends past the image
        border, which a crop+resize chain cannot express without a separate pad
        step (three resamplings/copies), ``ExtentTransform`` goes through PIL
        (slower, and needs a compat shim for ``Image.LINEAR`` on Pillow >= 10), and a
        single warp with an explicit, documented matrix is the easiest thing to
        keep bit-consistent with :meth:`box_to_crop`.

        Args:
            image_hwc_uint8: ``H x W x C`` (C <= 4) or ``H x W`` image.
            fill: padding colour for the part of the crop outside the image
                (scalar or per-channel sequence). Default: the image's
                per-channel mean colour, as SiamFC does, so padding carries no
                strong edge the detector could latch onto.

        Returns:
            ``out_px x out_px x C`` (or ``out_px x out_px``) image, same dtype.
        """
        image = np.ascontiguousarray(image_hwc_uint8)
        channels = 1 if image.ndim == 2 else image.shape[2]
        if channels > 4:
            raise ValueError(f"crop_image supports at most 4 channels, got {channels}")
        if fill is None:
            # cv2.mean: same values as numpy's mean, ~100x faster per frame.
            fill = cv2.mean(image)[:channels]
        fill = np.broadcast_to(np.asarray(fill, dtype=np.float64).ravel(), (channels,))
        border_value = tuple(float(v) for v in fill) + (0.0,) * (4 - channels)
        out = cv2.warpAffine(
            image,
            self.affine_matrix(),
            (self.out_px, self.out_px),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border_value,
        )
        if image.ndim == 3 and out.ndim == 2:  # cv2 drops a singleton channel axis
            out = out[:, :, None]
        return out


# ---------------------------------------------------------------------- helpers
def exemplar_geometry(
    box_xywh: Sequence[float], context_factor: float = EXEMPLAR_CONTEXT, out_px: int = EXEMPLAR_OUT_PX
) -> CropGeometry:
    """Exemplar crop (paper Sec. 3.5): ``2 x`` target size, resized to 192x192."""
    return CropGeometry.from_box(box_xywh, context_factor, out_px)


def exemplar_geometries(
    box_xywh: Sequence[float],
    out_sizes: Sequence[int] = (96, EXEMPLAR_OUT_PX),
    context_factor: float = EXEMPLAR_CONTEXT,
) -> Tuple[CropGeometry, ...]:
    """Multi-resolution exemplars: the same image region at several output sizes.

    Each resolution should be cropped from the full image with its own geometry
    (rather than by resizing the largest crop) so all of them share the exact
    same coordinate mapping.
    """
    base = exemplar_geometry(box_xywh, context_factor, int(out_sizes[0]))
    return tuple(base.with_out_px(n) for n in out_sizes)


def search_geometry(
    box_xywh: Sequence[float], context_factor: float = SEARCH_CONTEXT, out_px: int = SEARCH_OUT_PX
) -> CropGeometry:
    """Search-region crop (paper Sec. 3.5): ``5 x`` target size, resized to 480x480."""
    return CropGeometry.from_box(box_xywh, context_factor, out_px)


def jitter_geometry(
    geom_or_box_xywh: Union[CropGeometry, Sequence[float]],
    rng,
    shift_frac: float,
    scale_frac: float,
    context_factor: float = SEARCH_CONTEXT,
    out_px: Optional[int] = None,
) -> CropGeometry:
    """Search geometry centred on a randomly shifted/scaled target (training mapper).

    Without jitter the target would always sit exactly at the crop centre with a
    fixed size, and the detector would learn that prior instead of the target.

    Args:
        geom_or_box_xywh: either the target box ``(x, y, w, h)`` (image pixels), or
            an un-jittered :class:`CropGeometry`, whose target size is then taken
            as ``side_px / context_factor``.
        rng: ``numpy.random.Generator`` (or ``RandomState``); only ``uniform`` is used.
        shift_frac: max centre shift per axis, as a fraction of the target size
            ``s = sqrt(w*h)``: shift ~ U(-shift_frac, shift_frac) * s.
        scale_frac: crop side multiplied by a log-uniform factor in
            ``[1 / (1 + scale_frac), 1 + scale_frac]`` (log-uniform so that
            zooming in and out are equally likely).
        context_factor: crop side / target size (5 for the search region).
        out_px: output size; defaults to the geometry's ``out_px`` or 480.
    """
    if isinstance(geom_or_box_xywh, CropGeometry):
        base = geom_or_box_xywh
        target_side = base.side_px / context_factor
    else:
        base = CropGeometry.from_box(geom_or_box_xywh, context_factor, out_px or SEARCH_OUT_PX)
        target_side = target_side_px(geom_or_box_xywh)
    if out_px is None:
        out_px = base.out_px
    dx, dy = (float(v) * target_side for v in rng.uniform(-shift_frac, shift_frac, size=2))
    log_range = math.log1p(max(scale_frac, 0.0))
    zoom = math.exp(float(rng.uniform(-log_range, log_range)))
    cx, cy = base.center_xy
    return CropGeometry((cx + dx, cy + dy), base.side_px * zoom, out_px)


def clip_boxes_to_crop(boxes_xyxy, out_px: int):
    """Clip xyxy boxes (numpy or torch, ``(..., 4)``) to the crop ``[0, out_px]^2``."""
    out = _float_copy(boxes_xyxy)
    if _is_tensor(out):
        return out.clamp_(0.0, float(out_px))
    return np.clip(out, 0.0, float(out_px), out=out)


def _area(boxes_xyxy):
    wh = boxes_xyxy[..., 2:4] - boxes_xyxy[..., 0:2]
    wh = wh.clamp(min=0.0) if _is_tensor(wh) else np.maximum(wh, 0.0)
    return wh[..., 0] * wh[..., 1]


def visible_fraction(boxes_xyxy, out_px: int):
    """Fraction of each box's area that remains inside the crop after clipping.

    Returns ``(...)`` values in ``[0, 1]``; degenerate boxes (zero area) get 0.
    The mapper drops samples whose target is mostly cut off by the crop border.
    """
    boxes = _float_copy(boxes_xyxy)
    full = _area(boxes)
    kept = _area(clip_boxes_to_crop(boxes, out_px))
    if _is_tensor(full):
        return torch.where(full > 0, kept / full.clamp(min=1e-12), torch.zeros_like(full))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(full > 0, kept / np.maximum(full, 1e-12), 0.0)


def hflip_boxes(boxes_xyxy, width_px: float):
    """Boxes of a horizontally flipped image of width ``width_px`` (``x -> W - x``).

    Exact in the continuous convention: pixel ``i`` ([i, i+1)) becomes pixel
    ``W - 1 - i`` ([W-1-i, W-i)), i.e. ``image[:, ::-1]``.
    """
    boxes = _float_copy(boxes_xyxy)
    out = _float_copy(boxes)
    out[..., 0] = width_px - boxes[..., 2]
    out[..., 2] = width_px - boxes[..., 0]
    return out
