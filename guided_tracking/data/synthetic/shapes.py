"""Shape outlines, anti-aliased masks, motion blur and compositing of textured objects."""
import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .config import SHAPE_CLASSES, _SUPERSAMPLE

logger = logging.getLogger(__name__)

def _sample_shape_params(rng: np.random.Generator, shape_class: str) -> Dict[str, float]:
    """Per-instance shape details, so instances of a class differ slightly."""
    return {
        "star_points": float(rng.choice([5, 6])),
        "star_inner": float(rng.uniform(0.38, 0.55)),
        "cross_arm": float(rng.uniform(0.22, 0.4)),
        "ring_inner": float(rng.uniform(0.45, 0.7)),
        "apex_x": float(rng.uniform(-0.4, 0.4)),
    }


def _similar_shape_params(rng: np.random.Generator, params: Dict[str, float]) -> Dict[str, float]:
    out = dict(params)
    out["star_inner"] = params["star_inner"] * float(rng.uniform(0.9, 1.1))
    out["cross_arm"] = params["cross_arm"] * float(rng.uniform(0.9, 1.1))
    out["ring_inner"] = min(params["ring_inner"] * float(rng.uniform(0.9, 1.1)), 0.8)
    out["apex_x"] = params["apex_x"] + float(rng.uniform(-0.15, 0.15))
    return out


def _circle(radius: float, num_points: int = 48) -> np.ndarray:
    angles = np.linspace(0.0, 2 * math.pi, num_points, endpoint=False)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _unit_shape(shape_class: str, params: Dict[str, float]) -> List[Tuple[np.ndarray, int]]:
    """Polygons ``[(vertices (K,2), +1 fill / -1 hole), ...]`` with the outer bbox = [-1, 1]^2.

    The first polygon is always the outer boundary; the object's tight box is the
    box of its transformed vertices.
    """
    holes: List[np.ndarray] = []
    if shape_class == "ellipse":
        outer = _circle(1.0)
    elif shape_class == "rectangle":
        outer = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    elif shape_class == "triangle":
        outer = np.array([[params["apex_x"], -1], [1, 1], [-1, 1]], np.float64)
    elif shape_class == "star":
        points = int(params["star_points"])
        angles = -math.pi / 2 + np.arange(2 * points) * math.pi / points
        radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, params["star_inner"])
        outer = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    elif shape_class == "cross":
        a = params["cross_arm"]
        outer = np.array(
            [[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a]],
            np.float64,
        )
    elif shape_class == "ring":
        outer = _circle(1.0)
        holes.append(_circle(params["ring_inner"]))
    elif shape_class == "diamond":
        outer = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], np.float64)
    elif shape_class == "hexagon":
        angles = np.arange(6) * math.pi / 3
        outer = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    else:
        raise ValueError(f"Unknown shape class {shape_class!r}; known: {SHAPE_CLASSES}")
    # Normalise so the outer box is exactly [-1, 1]^2: then size/aspect map to the box.
    lo, hi = outer.min(axis=0), outer.max(axis=0)
    center, half = (lo + hi) / 2, (hi - lo) / 2
    return [((outer - center) / half, 1)] + [((hole - center) / half, -1) for hole in holes]


def _render_alpha(polys_xy: Sequence[Tuple[np.ndarray, int]], origin_xy: Tuple[int, int], size_wh: Tuple[int, int]) -> np.ndarray:
    """Anti-aliased coverage (float32 in [0, 1]) of polygons in a patch.

    Polygons are in continuous image coordinates (pixel i spans [i, i+1)).  Drawn
    without AA at ``_SUPERSAMPLE``x and area-averaged: cv2's LINE_AA fill grows the
    shape by about a pixel, which would bias both boxes and visible fractions.
    """
    width, height = size_wh
    ss = _SUPERSAMPLE
    mask = np.zeros((height * ss, width * ss), np.uint8)
    # cv2 puts pixel centres at integers and its fill is inclusive on the far edge
    # (+1 supersample px); the -0.5 shift centres that bias.
    offset = np.array(origin_xy, np.float64) * ss + 0.5 + 0.5
    for poly, sign in polys_xy:
        pts = np.round((poly * ss - offset) * 16).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255 if sign > 0 else 0, lineType=cv2.LINE_8, shift=4)
    alpha = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    return alpha.astype(np.float32) * (1.0 / 255.0)


def _motion_kernel(length_px: float, direction_xy: np.ndarray) -> np.ndarray:
    """Normalised line kernel of ``length_px`` along ``direction_xy``."""
    size = int(math.ceil(length_px)) | 1
    kernel = np.zeros((size * 4, size * 4), np.uint8)
    center = (size * 4 - 1) / 2.0
    half = direction_xy * (length_px * 4 / 2.0)
    p1 = np.round((np.array([center, center]) - half) * 16).astype(int)
    p2 = np.round((np.array([center, center]) + half) * 16).astype(int)
    cv2.line(kernel, tuple(int(v) for v in p1), tuple(int(v) for v in p2), 255, 4, cv2.LINE_AA, shift=4)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    return kernel / max(float(kernel.sum()), 1e-6)


def _composite(
    canvas: np.ndarray,
    texture: np.ndarray,
    unit_polys: Sequence[Tuple[np.ndarray, int]],
    linear_2x2: np.ndarray,
    center_xy: np.ndarray,
    blur_px: float = 0.0,
    blur_dir_xy: Optional[np.ndarray] = None,
    opacity: float = 1.0,
) -> Optional[Tuple[int, int, np.ndarray, float]]:
    """Draw one textured shape over ``canvas`` (float32 HxWx3) in place.

    The shape is ``center + linear @ u`` for ``u`` in the unit shape.  Returns
    ``(x0, y0, alpha, total_alpha)``: the sharp (pre-blur) coverage of the part inside
    the canvas with its origin, and the coverage sum of the whole (unclipped) shape,
    used for visibility; None when nothing lands on the canvas.
    """
    height, width = canvas.shape[:2]
    polys_xy = [(poly @ linear_2x2.T + center_xy, sign) for poly, sign in unit_polys]
    outer = polys_xy[0][0]
    pad = 2 + int(math.ceil(blur_px / 2.0))
    fx0, fy0 = int(math.floor(outer[:, 0].min())) - pad, int(math.floor(outer[:, 1].min())) - pad
    fx1, fy1 = int(math.ceil(outer[:, 0].max())) + pad, int(math.ceil(outer[:, 1].max())) + pad
    x0, y0, x1, y1 = max(fx0, 0), max(fy0, 0), min(fx1, width), min(fy1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    # Render the whole (unclipped) shape so the coverage sum is exact even when the
    # object is partly outside the image; objects are small so this is cheap.
    alpha_full = _render_alpha(polys_xy, (fx0, fy0), (fx1 - fx0, fy1 - fy0))
    total_alpha = float(alpha_full.sum())
    alpha = np.ascontiguousarray(alpha_full[y0 - fy0 : y1 - fy0, x0 - fx0 : x1 - fx0])
    # Affine from texture pixel (cv2 coords) to patch pixel (cv2 coords).
    scale = 2.0 / texture.shape[0]
    matrix = np.empty((2, 3), np.float64)
    matrix[:, :2] = linear_2x2 * scale
    matrix[:, 2] = linear_2x2 @ np.array([scale / 2 - 1.0, scale / 2 - 1.0]) + center_xy - (x0 + 0.5, y0 + 0.5)
    patch = cv2.warpAffine(texture, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    draw_alpha = alpha * opacity if opacity != 1.0 else alpha
    premult = patch * draw_alpha[..., None]
    if blur_px >= 1.5 and blur_dir_xy is not None:
        kernel = _motion_kernel(blur_px, blur_dir_xy)
        draw_alpha = cv2.filter2D(draw_alpha, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        premult = cv2.filter2D(premult, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    region = canvas[y0:y1, x0:x1]
    region *= (1.0 - draw_alpha)[..., None]
    region += premult
    return x0, y0, alpha, total_alpha
