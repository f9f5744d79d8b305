"""Texture sources (image pool, scikit-image samples) and procedural textures / backgrounds."""
import colorsys
import functools
import hashlib
import logging
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .config import (
    _DEFAULT_SKIMAGE_TEXTURES, _IMAGE_EXTENSIONS, _MAX_TEXTURE_FILES, _MAX_TEXTURE_SIDE_PX,
    _TEXTURE_FAMILIES, _TEXTURE_SIZE_PX,
)

logger = logging.getLogger(__name__)

def _as_rgb_uint8(image: np.ndarray) -> Optional[np.ndarray]:
    """Convert gray / RGBA / float images to HxWx3 uint8, or None if unusable."""
    image = np.asarray(image)
    if image.dtype == bool or image.ndim not in (2, 3) or min(image.shape[:2]) < 16:
        return None
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        scale = 255.0 if image.max() <= 1.0 else 1.0
        image = np.clip(image * scale, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[2] != 3:
        return None
    long_side = max(image.shape[:2])
    if long_side > _MAX_TEXTURE_SIDE_PX:
        factor = _MAX_TEXTURE_SIDE_PX / long_side
        size_wh = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        image = cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


@functools.lru_cache(maxsize=4)
def _load_texture_pool(textures_dir: Optional[str]) -> Tuple[Tuple[np.ndarray, ...], str]:
    """Images used for backgrounds and object textures, plus a fingerprint string.

    ``textures_dir=None`` uses scikit-image's bundled sample images; the ones that
    would need a network download (pooch) are skipped.  File lists are sorted so
    that the pool (and hence every video) is independent of directory order.
    """
    images: List[np.ndarray] = []
    names: List[str] = []
    if textures_dir is None:
        try:
            import skimage.data as skdata
        except ImportError:  # pragma: no cover - skimage is a dependency
            skdata = None
            logger.warning("scikit-image missing: procedural textures only")
        for name in _DEFAULT_SKIMAGE_TEXTURES if skdata is not None else ():
            loader = getattr(skdata, name, None)
            if loader is None:
                continue
            try:
                image = _as_rgb_uint8(loader())
            except Exception as exc:  # network-only images raise various errors offline
                logger.debug("skimage.data.%s unavailable: %s", name, exc)
                continue
            if image is not None:
                images.append(image)
                names.append(f"skimage:{name}:{image.shape}")
    else:
        paths = []
        for root, dirs, files in os.walk(textures_dir):
            dirs.sort()
            paths.extend(
                os.path.join(root, f) for f in sorted(files) if f.lower().endswith(_IMAGE_EXTENSIONS)
            )
        if len(paths) > _MAX_TEXTURE_FILES:
            # Evenly spaced rather than the first N: folders of video frames would
            # otherwise give N near-identical images.
            step = len(paths) / _MAX_TEXTURE_FILES
            paths = [paths[int(i * step)] for i in range(_MAX_TEXTURE_FILES)]
        for path in paths:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            image = None if bgr is None else _as_rgb_uint8(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if image is not None:
                images.append(image)
                names.append(f"{os.path.relpath(path, textures_dir)}:{os.path.getsize(path)}")
        if not images:
            logger.warning("No usable images under %s: procedural textures only", textures_dir)
    fingerprint = hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:16]
    logger.debug("Texture pool: %d images (%s)", len(images), fingerprint)
    return tuple(images), fingerprint


@functools.lru_cache(maxsize=4)
def _unit_grid(size_px: int) -> Tuple[np.ndarray, np.ndarray]:
    """(yy, xx) float32 grids of pixel centres mapped to [-1, 1]."""
    axis = (np.arange(size_px, dtype=np.float32) + 0.5) / size_px * 2.0 - 1.0
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


def _value_noise(rng: np.random.Generator, height_px: int, width_px: int, octaves=(4, 8, 16, 32)) -> np.ndarray:
    """Fractal value noise in [0, 1], float32 (HxW)."""
    out = np.zeros((height_px, width_px), np.float32)
    amplitude = 1.0
    for cells in octaves:
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amplitude * cv2.resize(grid, (width_px, height_px), interpolation=cv2.INTER_CUBIC)
        amplitude *= 0.5
    out -= out.min()
    out /= max(float(out.max()), 1e-6)
    return out


def _hsv_to_rgb255(hsv: Sequence[float]) -> np.ndarray:
    """HSV in [0, 1] (hue wraps) -> RGB float32 in [0, 255]."""
    hue, sat, val = hsv
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, min(max(sat, 0.0), 1.0), min(max(val, 0.0), 1.0)), np.float32) * 255.0


def _random_hsv(rng: np.random.Generator) -> Tuple[float, float, float]:
    return (float(rng.random()), float(rng.uniform(0.25, 1.0)), float(rng.uniform(0.3, 1.0)))


def _sample_texture_spec(rng: np.random.Generator, num_pool_images: int) -> Dict[str, Any]:
    """Random appearance of one object: a two-colour pattern plus shading and detail."""
    families = _TEXTURE_FAMILIES if num_pool_images > 0 else _TEXTURE_FAMILIES[:-1]
    return {
        "family": str(families[int(rng.integers(len(families)))]),
        "hsv1": _random_hsv(rng),
        "hsv2": _random_hsv(rng),
        "freq": float(rng.uniform(1.5, 6.0)),
        "angle": float(rng.uniform(0.0, math.pi)),
        "phase": float(rng.uniform(0.0, 2 * math.pi)),
        "sharp": float(rng.uniform(1.0, 8.0)),
        "shade": float(rng.uniform(0.0, 0.4)),
        "shade_angle": float(rng.uniform(0.0, 2 * math.pi)),
        "detail_std": float(rng.uniform(2.0, 12.0)),
        "center": (float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.5, 0.5))),
        "image_index": int(rng.integers(max(num_pool_images, 1))),
        "crop": (float(rng.random()), float(rng.random()), float(rng.uniform(0.15, 0.5))),
        "seed": int(rng.integers(2**31)),
    }


def _similar_texture_spec(rng: np.random.Generator, spec: Dict[str, Any]) -> Dict[str, Any]:
    """A look-alike of ``spec``: same pattern family, jittered colours/frequency/detail.

    This is what makes same-class distractors hard: they differ from the target
    only in tint and pattern details, like two cars of the same model.
    """
    def jitter_hsv(hsv):
        return (
            hsv[0] + float(rng.uniform(-0.06, 0.06)),
            hsv[1] * float(rng.uniform(0.8, 1.2)),
            hsv[2] * float(rng.uniform(0.8, 1.2)),
        )

    out = dict(spec)
    out["hsv1"] = jitter_hsv(spec["hsv1"])
    out["hsv2"] = jitter_hsv(spec["hsv2"])
    out["freq"] = spec["freq"] * float(rng.uniform(0.8, 1.25))
    out["angle"] = spec["angle"] + float(rng.uniform(-0.4, 0.4))
    out["phase"] = float(rng.uniform(0.0, 2 * math.pi))
    out["shade_angle"] = float(rng.uniform(0.0, 2 * math.pi))
    cx, cy, side = spec["crop"]
    out["crop"] = (cx + float(rng.uniform(-0.1, 0.1)), cy + float(rng.uniform(-0.1, 0.1)), side)
    out["seed"] = int(rng.integers(2**31))
    return out


def _crop_pool_image(image: np.ndarray, crop: Sequence[float], out_wh: Tuple[int, int]) -> np.ndarray:
    """Square crop (relative centre and side) of ``image`` resized to ``out_wh``; float32."""
    height, width = image.shape[:2]
    side = max(4, int(round(crop[2] * min(height, width))))
    x0 = int(round(min(max(crop[0], 0.0), 1.0) * (width - side)))
    y0 = int(round(min(max(crop[1], 0.0), 1.0) * (height - side)))
    patch = image[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(patch, out_wh, interpolation=cv2.INTER_AREA).astype(np.float32)


def _render_texture(spec: Dict[str, Any], pool: Sequence[np.ndarray], size_px: int = _TEXTURE_SIZE_PX) -> np.ndarray:
    """Render an appearance spec to an RGB float32 texture (size x size x 3, 0-255)."""
    yy, xx = _unit_grid(size_px)
    rng = np.random.default_rng(spec["seed"])
    cos_a, sin_a = math.cos(spec["angle"]), math.sin(spec["angle"])
    xr = xx * cos_a + yy * sin_a
    yr = -xx * sin_a + yy * cos_a
    freq, phase = spec["freq"], spec["phase"]
    family = spec["family"] if (spec["family"] != "image" or pool) else "blobs"
    if family == "stripes":
        wave = np.sin(math.pi * freq * xr + phase)
    elif family == "checker":
        wave = np.sin(math.pi * freq * xr + phase) * np.sin(math.pi * freq * yr + phase)
    elif family == "rings":
        radius = np.hypot(xx - spec["center"][0], yy - spec["center"][1])
        wave = np.sin(2.0 * math.pi * freq * 0.5 * radius + phase)
    elif family == "dots":
        wave = np.cos(math.pi * freq * xr) * np.cos(math.pi * freq * yr) - 0.3
    else:  # blobs and image: a luminance field
        if family == "image":
            image = pool[spec["image_index"] % len(pool)]
            crop = _crop_pool_image(image, spec["crop"], (size_px, size_px))
            lum = crop.mean(axis=2) / 255.0
        else:
            lum = _value_noise(rng, size_px, size_px, octaves=(max(2, int(freq)), 2 * max(2, int(freq))))
        wave = (lum - float(lum.mean())) * 4.0
    mix = (0.5 + 0.5 * np.tanh(spec["sharp"] * wave)).astype(np.float32)[..., None]
    color1, color2 = _hsv_to_rgb255(spec["hsv1"]), _hsv_to_rgb255(spec["hsv2"])
    texture = color1 * (1.0 - mix) + color2 * mix
    if family == "image":
        texture = 0.6 * texture + 0.4 * crop
    # Directional shading gives objects a 3D look and breaks perfect pattern symmetry.
    shade = 1.0 + spec["shade"] * (xx * math.cos(spec["shade_angle"]) + yy * math.sin(spec["shade_angle"]))
    texture = texture * shade[..., None]
    texture += rng.normal(0.0, spec["detail_std"], texture.shape).astype(np.float32)
    return np.clip(texture, 0.0, 255.0).astype(np.float32)


def _procedural_background(rng: np.random.Generator, width_px: int, height_px: int) -> np.ndarray:
    """Colour-mapped fractal noise with a few random straight structures (float32 RGB)."""
    noise = _value_noise(rng, height_px, width_px, octaves=(3, 6, 12, 24, 48))
    stops = np.array(sorted(rng.random(2).tolist()), np.float64)
    positions = np.concatenate([[0.0], stops, [1.0]])
    colors = np.stack([_hsv_to_rgb255(_random_hsv(rng)) for _ in positions])
    flat = noise.ravel().astype(np.float64)
    image = np.stack([np.interp(flat, positions, colors[:, c]) for c in range(3)], axis=-1)
    image = image.reshape(height_px, width_px, 3).astype(np.float32)
    # Edges and lines: trackers latch onto strong gradients, so the background has some.
    for _ in range(int(rng.integers(3, 10))):
        p1 = (int(rng.integers(width_px)), int(rng.integers(height_px)))
        p2 = (int(rng.integers(width_px)), int(rng.integers(height_px)))
        color = tuple(float(c) for c in _hsv_to_rgb255(_random_hsv(rng)))
        cv2.line(image, p1, p2, color, int(rng.integers(1, 6)), lineType=cv2.LINE_AA)
    return image
