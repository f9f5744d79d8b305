"""Deterministic synthetic single-object tracking videos in the GOT-10k layout.

The videos are built to exercise what "Bridging the Gap Between Detection and
Tracking" (ICCV 2019) is about: a detector turned into a tracker must pick *the*
target among objects of the same class.  Every video therefore contains

* a textured target of one shape class (ellipse, rectangle, triangle, star, ...),
  each instance with its own colour/pattern and an anti-aliased edge;
* 1-4 **same-class distractors** with similar (jittered) appearance that move
  independently and are steered to cross over / under the target, plus a few
  objects of other classes;
* occluders (background-textured patches or other objects) that sweep over the
  target, partly or fully, and excursions of the target out of the frame;
* smooth scale (about 0.5x-2x) and aspect-ratio change, small rotation, fast
  motion bursts with directional motion blur, a panning cluttered background,
  global illumination drift / flicker and Gaussian noise.

Everything is drawn from ``np.random.default_rng`` seeded per video from
``(seed, split, video_number)``, so a video does not depend on how many videos
are generated, and reruns are bit-identical.

Python API::

    make_video(rng, num_frames=100, image_size_wh=(320, 240), ...)
        -> frames, boxes_xywh, visible, cover[, meta]
    iter_video(rng, ...)          # streaming version (yields one frame at a time)
    generate_videos(out_dir, num_videos, num_frames, seed, split="train", ...)
        -> list of sequence directories

Command line::

    python -m guided_tracking.data.synthetic --out DIR --videos N --frames F --seed S \
        [--split train] [--size 320x240] [--textures DIR] [--set occlusion_prob=0.05]

Output (GOT-10k)::

    DIR/<split>/list.txt
    DIR/<split>/SYN_<split>_000001/{00000001.jpg, ..., groundtruth.txt, absence.label,
                                   cover.label, meta_info.ini}
"""

import argparse
import colorsys
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "GENERATOR_VERSION",
    "SHAPE_CLASSES",
    "SyntheticConfig",
    "FrameAnnotation",
    "make_video",
    "iter_video",
    "generate_videos",
    "video_seed_sequence",
    "sequence_name",
    "main",
]

# Bump whenever the rendered pixels or annotations change for the same arguments:
# it is part of the parameter hash, so stale datasets get regenerated.
GENERATOR_VERSION = "1"

SHAPE_CLASSES: Tuple[str, ...] = (
    "ellipse",
    "rectangle",
    "triangle",
    "star",
    "cross",
    "ring",
    "diamond",
    "hexagon",
)

# Shapes that cover their whole bounding box's inscribed ellipse, so a large one
# centred on the target hides it completely (used for full-occlusion objects).
_CONVEX_OCCLUDER_CLASSES = ("ellipse", "rectangle", "hexagon")

_TEXTURE_FAMILIES = ("stripes", "checker", "rings", "dots", "blobs", "image")

# Canonical side of every object texture; it is warped to the object each frame.
_TEXTURE_SIZE_PX = 96
# Supersampling factor of the anti-aliased shape masks.
_SUPERSAMPLE = 4

_DEFAULT_SKIMAGE_TEXTURES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "brick",
    "grass",
    "gravel",
    "camera",
    "moon",
    "text",
    "page",
    "hubble_deep_field",
    "immunohistochemistry",
    "cat",
    "clock",
    "colorwheel",
    "cell",
    "retina",
)
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_MAX_TEXTURE_FILES = 64
_MAX_TEXTURE_SIDE_PX = 640


# ----------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Difficulty knobs of the generator. Every nuisance is on by default.

    Probabilities marked "per frame" are Bernoulli trials evaluated every frame;
    setting one to 0 disables the nuisance, 1 makes it happen as often as possible.
    """

    # --- target geometry ---
    target_size_frac_range: Tuple[float, float] = (0.08, 0.25)  # of the shorter image side
    min_target_size_px: float = 12.0  # floor of the initial size
    min_size_px: float = 6.0  # floor during the video (after zooming out)
    max_size_frac: float = 0.6  # cap of any object size, of the shorter image side
    aspect_ratio_range: Tuple[float, float] = (0.5, 2.0)  # initial w/h
    scale_change: float = 1.0  # 1.0 -> size varies within about 0.5x-2x of the initial
    aspect_change: float = 0.3  # amplitude of log(w/h) deformation
    rotation_deg: float = 15.0  # amplitude of the in-plane rotation drift
    # --- motion ---
    speed_frac_range: Tuple[float, float] = (0.01, 0.08)  # of the target size, px/frame
    fast_motion_prob: float = 0.03  # per frame: start a burst of fast motion
    fast_motion_max_frac: float = 1.0  # burst displacement, up to this many target sizes
    exit_prob: float = 0.08  # per waypoint: head (partly or fully) out of the frame
    motion_blur: float = 0.8  # blur kernel length = motion_blur * speed_px ...
    motion_blur_min_px: float = 3.0  # ... for speeds above this (px/frame)
    camera_speed_px: float = 2.0  # max regular background pan speed, px/frame
    camera_pan_prob: float = 0.01  # per frame: start a fast camera pan
    # --- distractors ---
    num_same_class_range: Tuple[int, int] = (1, 4)
    num_other_class_range: Tuple[int, int] = (1, 3)
    distractor_similarity: float = 0.75  # P(same-class distractor re-uses the target's pattern)
    distractor_cross_rate: float = 1.0  # target crossings per same-class distractor per 100 frames
    distractor_above_prob: float = 0.35  # P(distractor passes over rather than under the target)
    # --- occlusion ---
    occlusion_prob: float = 0.015  # per frame (when none active): an occluder sweeps the target
    full_occlusion_prob: float = 0.5  # P(an occlusion event hides the target completely)
    occluder_patch_prob: float = 0.5  # P(occluder is a background-textured patch, else an object)
    min_visible_frac: float = 0.03  # below this visible fraction the target is "absent"
    # --- appearance / photometry ---
    background_clutter: int = 6  # static textured shapes painted into the background
    procedural_background_prob: float = 0.3  # P(purely procedural background)
    illumination_change: float = 0.25  # amplitude of brightness/contrast/tint drift
    flicker_prob: float = 0.02  # per frame: brief global brightness flicker
    noise_std_range: Tuple[float, float] = (1.0, 6.0)  # Gaussian pixel noise, on 0-255

    def replace(self, **overrides: Any) -> "SyntheticConfig":
        """Copy with some fields changed; unknown names raise ``TypeError``."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"Unknown SyntheticConfig field(s): {unknown}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return dataclasses.replace(self, **fixed)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclasses.dataclass(frozen=True)
class FrameAnnotation:
    """Ground truth of one frame.

    ``box_xywh`` is the tight box of the whole target (also when it is partly
    occluded) clipped to the image, in pixels with a top-left origin.  When the
    target is absent and its clipped box is empty (fully out of frame), the last
    valid box is repeated so that every box stays a valid in-image box.
    """

    box_xywh: np.ndarray  # float32 (4,)
    visible: bool
    cover: int  # 0..8, round(visible_frac * 8), 0 iff absent
    visible_frac: float


# ----------------------------------------------------------------------------------
# Seeding / naming
# ----------------------------------------------------------------------------------
def video_seed_sequence(seed: int, split: str, video_number: int) -> np.random.SeedSequence:
    """SeedSequence of one video; independent of how many videos are generated.

    ``zlib.crc32`` (not ``hash``) because Python's string hash is salted per process.
    """
    if seed < 0 or video_number < 0:
        raise ValueError("seed and video_number must be non-negative")
    return np.random.SeedSequence([int(seed), zlib.crc32(split.encode("utf-8")), int(video_number)])


def sequence_name(split: str, video_number: int) -> str:
    """GOT-10k style sequence name, e.g. ``SYN_train_000001`` (1-based)."""
    return f"SYN_{split}_{video_number:06d}"


# ----------------------------------------------------------------------------------
# Texture sources
# ----------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------
# Procedural textures
# ----------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------
# Shapes and compositing
# ----------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------
# Motion planning
# ----------------------------------------------------------------------------------
def _smooth_signal(rng: np.random.Generator, num_frames: int, period_range=(40.0, 240.0), num_waves: int = 3) -> np.ndarray:
    """Smooth random signal with max |value| = 1 (sum of random sinusoids)."""
    frames = np.arange(num_frames, dtype=np.float64)
    out = np.zeros(num_frames)
    for _ in range(num_waves):
        period = rng.uniform(*period_range)
        out += rng.uniform(0.3, 1.0) * np.sin(2 * math.pi * frames / period + rng.uniform(0, 2 * math.pi))
    return out / max(float(np.abs(out).max()), 1e-9)


@dataclasses.dataclass
class _Track:
    """One rendered object (target, distractor or occluder) over the whole video."""

    role: str  # "target" | "same_class_distractor" | "other_distractor" | "occluder"
    shape_class: str
    unit_polys: List[Tuple[np.ndarray, int]]
    texture: np.ndarray
    center_xy: np.ndarray  # (F, 2) continuous px
    size_px: np.ndarray  # (F,) sqrt(w*h) of the unrotated shape
    aspect: np.ndarray  # (F,) w/h of the unrotated shape
    angle_rad: np.ndarray  # (F,)
    z_order: float
    active: np.ndarray  # (F,) bool
    blur_scale: float = 1.0  # multiplies config.motion_blur
    blur_px: np.ndarray = None  # (F,)
    blur_dir_xy: np.ndarray = None  # (F, 2)

    def linear(self, frame_id: int) -> np.ndarray:
        """2x2 map from unit shape coords to pixels at ``frame_id``."""
        half_w = 0.5 * self.size_px[frame_id] * math.sqrt(self.aspect[frame_id])
        half_h = 0.5 * self.size_px[frame_id] / math.sqrt(self.aspect[frame_id])
        c, s = math.cos(self.angle_rad[frame_id]), math.sin(self.angle_rad[frame_id])
        return np.array([[c * half_w, -s * half_h], [s * half_w, c * half_h]])

    def boxes_xyxy(self) -> np.ndarray:
        """(F, 4) unclipped tight boxes of the outer polygon, float64."""
        unit = self.unit_polys[0][0]
        half_w = 0.5 * self.size_px * np.sqrt(self.aspect)
        half_h = 0.5 * self.size_px / np.sqrt(self.aspect)
        c, s = np.cos(self.angle_rad), np.sin(self.angle_rad)
        xs = self.center_xy[:, 0:1] + (c * half_w)[:, None] * unit[:, 0] - (s * half_h)[:, None] * unit[:, 1]
        ys = self.center_xy[:, 1:2] + (s * half_w)[:, None] * unit[:, 0] + (c * half_h)[:, None] * unit[:, 1]
        return np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)

    def finalize_blur(self, config: SyntheticConfig) -> None:
        """Motion blur proportional to the per-frame displacement when it is fast."""
        delta = np.diff(self.center_xy, axis=0, prepend=self.center_xy[:1])
        speed = np.hypot(delta[:, 0], delta[:, 1])
        fast = speed >= max(config.motion_blur_min_px, 1e-6)
        blur = np.minimum(self.blur_scale * config.motion_blur * speed, self.size_px)
        self.blur_px = np.where(fast, blur, 0.0)
        self.blur_dir_xy = delta / np.maximum(speed, 1e-9)[:, None]


def _size_process(rng, num_frames, size0_px, config, short_side_px, scale_change):
    """Smooth zoom: log-size drifts up to log(2)*scale_change around the initial size."""
    log_range = math.log(2.0) * scale_change
    signal = _smooth_signal(rng, num_frames)
    log_ratio = rng.uniform(0.5, 1.0) * log_range * (signal - signal[0])
    size = size0_px * np.exp(np.clip(log_ratio, -log_range, log_range))
    return np.clip(size, config.min_size_px, config.max_size_frac * short_side_px)


def _pick_waypoint(rng, image_wh, half_extent_px, exit_prob) -> np.ndarray:
    """Next motion goal: inside the frame, or (rarely) partly/fully beyond an edge."""
    width, height = image_wh
    hx, hy = half_extent_px
    if rng.random() < exit_prob:
        # depth 0.5: centre on the edge (half out); >= 1: completely out of the frame.
        depth = rng.uniform(0.3, 1.4)
        side = int(rng.integers(4))
        if side in (0, 1):
            x = hx * (1 - 2 * depth) if side == 0 else width - hx * (1 - 2 * depth)
            return np.array([x, rng.uniform(hy, max(hy, height - hy))])
        y = hy * (1 - 2 * depth) if side == 2 else height - hy * (1 - 2 * depth)
        return np.array([rng.uniform(hx, max(hx, width - hx)), y])
    lo_x, hi_x = min(hx, width / 2), max(width - hx, width / 2)
    lo_y, hi_y = min(hy, height / 2), max(height - hy, height / 2)
    return np.array([rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)])


def _wander_path(
    rng: np.random.Generator,
    num_frames: int,
    start_xy: np.ndarray,
    speed_px: float,
    image_wh: Tuple[int, int],
    half_extent_px: Tuple[float, float],
    size_px: np.ndarray,
    exit_prob: float = 0.0,
    fast_motion_prob: float = 0.0,
    fast_motion_max_frac: float = 1.0,
) -> np.ndarray:
    """(F, 2) centre path: smooth steering towards random waypoints + fast bursts."""
    path = np.empty((num_frames, 2))
    pos = np.array(start_xy, np.float64)
    velocity = np.zeros(2)
    waypoint = _pick_waypoint(rng, image_wh, half_extent_px, 0.0)
    burst: List[np.ndarray] = []
    center = np.array(image_wh, np.float64) / 2
    for frame_id in range(num_frames):
        path[frame_id] = pos
        to_goal = waypoint - pos
        dist = float(np.hypot(*to_goal))
        if dist < max(2.0 * speed_px, 1.0) or rng.random() < 0.01:
            waypoint = _pick_waypoint(rng, image_wh, half_extent_px, exit_prob)
        velocity = 0.85 * velocity + 0.15 * to_goal / max(dist, 1e-6) * speed_px
        step = velocity + rng.normal(0.0, 0.15 * speed_px, 2)
        if burst:
            step = step + burst.pop()
        elif frame_id >= 1 and rng.random() < fast_motion_prob:
            # Fast motion: up to ~1 target size within 1-3 frames, biased towards the
            # image centre so bursts do not constantly throw the object out.
            angle = rng.uniform(0, 2 * math.pi)
            direction = np.array([math.cos(angle), math.sin(angle)])
            if rng.random() < 0.5:
                inward = center - pos
                direction = inward / max(float(np.hypot(*inward)), 1e-6)
            total_px = rng.uniform(0.4, 1.0) * fast_motion_max_frac * size_px[frame_id]
            num_steps = int(rng.integers(1, 4))
            burst = [direction * total_px / num_steps] * num_steps
            step = step + burst.pop()
        pos = pos + step
    return path


def _add_crossings(rng, path_xy, target_path_xy, speed_px, cross_rate, min_frame) -> np.ndarray:
    """Bend a distractor path so it passes through the target at random frames."""
    num_frames = len(path_xy)
    out = path_xy.copy()
    if num_frames <= min_frame:
        return out
    num_crossings = int(rng.poisson(cross_rate * num_frames / 100.0))
    frames = np.arange(num_frames)
    for _ in range(num_crossings):
        cross_frame = int(rng.integers(min_frame, num_frames))
        half_window = rng.uniform(8.0, 20.0)
        angle = rng.uniform(0, 2 * math.pi)
        velocity = np.array([math.cos(angle), math.sin(angle)]) * max(speed_px, 0.5) * rng.uniform(1.0, 2.5)
        line = target_path_xy[cross_frame] + velocity * (frames - cross_frame)[:, None]
        weight = np.where(
            np.abs(frames - cross_frame) < half_window,
            0.5 * (1 + np.cos(math.pi * (frames - cross_frame) / half_window)),
            0.0,
        )[:, None]
        # Keep frames before min_frame untouched: the first frame must show the target clear.
        weight[:min_frame] = 0.0
        out = out * (1 - weight) + line * weight
    return out


def _camera_path(rng, num_frames, max_offset_xy, config) -> np.ndarray:
    """(F, 2) top-left of the view inside the larger background image."""
    path = np.empty((num_frames, 2))
    pos = np.array([rng.uniform(0, max_offset_xy[0]), rng.uniform(0, max_offset_xy[1])])
    speed = rng.uniform(0.0, config.camera_speed_px)
    angle = rng.uniform(0, 2 * math.pi)
    velocity = np.array([math.cos(angle), math.sin(angle)]) * speed
    pan_frames_left = 0
    for frame_id in range(num_frames):
        path[frame_id] = pos
        if pan_frames_left == 0 and frame_id >= 1 and rng.random() < config.camera_pan_prob:
            pan_frames_left = int(rng.integers(3, 10))
            angle = rng.uniform(0, 2 * math.pi)
            pan_velocity = np.array([math.cos(angle), math.sin(angle)]) * rng.uniform(5.0, 12.0)
        step = velocity if pan_frames_left == 0 else pan_velocity
        pan_frames_left = max(0, pan_frames_left - 1)
        velocity = 0.95 * velocity + rng.normal(0.0, 0.1 + 0.05 * speed, 2)
        nxt = pos + step
        # Bounce off the background border instead of sticking to it.
        for axis in range(2):
            if not 0 <= nxt[axis] <= max_offset_xy[axis]:
                velocity[axis] = -velocity[axis]
                if pan_frames_left:
                    pan_velocity[axis] = -pan_velocity[axis]
        pos = np.clip(nxt, 0, max_offset_xy)
    return path


# ----------------------------------------------------------------------------------
# Video planning
# ----------------------------------------------------------------------------------
@dataclasses.dataclass
class _VideoPlan:
    image_wh: Tuple[int, int]
    num_frames: int
    config: SyntheticConfig
    background: np.ndarray  # float32 RGB, larger than the frame
    camera_xy: np.ndarray  # (F, 2)
    camera_blur_px: np.ndarray  # (F,)
    camera_blur_dir_xy: np.ndarray  # (F, 2)
    tracks: List[_Track]  # sorted by z_order (drawing order)
    target_index: int  # index of the target in ``tracks``
    gain_rgb: np.ndarray  # (F, 3) multiplicative illumination
    bias: np.ndarray  # (F,) additive illumination, 0-255 scale
    noise_std: float
    noise_seed: int
    params: Dict[str, Any]
    noise_field: Optional[np.ndarray] = None  # lazily drawn from noise_seed


def _plan_occlusions(rng, target: _Track, target_boxes_xyxy, config, pool_textures, background, num_pool) -> List[_Track]:
    """Occluders that sweep over the target: approach, dwell, leave.

    Occluders move in the target's frame of reference so a "full" event provably
    covers the target during the dwell (its size is ~2x the target box).
    """
    num_frames = len(target.center_xy)
    tracks: List[_Track] = []
    frame_id = 1  # never on the first (initialisation) frame
    while frame_id < num_frames:
        if rng.random() >= config.occlusion_prob:
            frame_id += 1
            continue
        approach, dwell, leave = int(rng.integers(4, 11)), int(rng.integers(1, 7)), int(rng.integers(4, 11))
        full = rng.random() < config.full_occlusion_prob
        box_w = target_boxes_xyxy[frame_id, 2] - target_boxes_xyxy[frame_id, 0]
        box_h = target_boxes_xyxy[frame_id, 3] - target_boxes_xyxy[frame_id, 1]
        if full:
            factor = rng.uniform(1.8, 2.5)
            occ_w, occ_h = factor * box_w + 4.0, factor * box_h + 4.0
        else:
            occ_w, occ_h = rng.uniform(0.5, 1.2) * box_w + 2.0, rng.uniform(0.5, 1.2) * box_h + 2.0
        angle = rng.uniform(0, 2 * math.pi)
        direction = np.array([math.cos(angle), math.sin(angle)])
        perpendicular = np.array([-direction[1], direction[0]])
        offset = 0.0 if full else rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.6) * max(box_w, box_h)
        travel = 0.5 * (abs(direction[0]) * (occ_w + box_w) + abs(direction[1]) * (occ_h + box_h)) + 2.0
        phase = np.concatenate(
            [-1.0 + np.arange(approach) / approach, np.zeros(dwell), (np.arange(leave) + 1.0) / leave]
        )
        frames = np.arange(frame_id, min(frame_id + len(phase), num_frames))
        phase = phase[: len(frames)]
        active = np.zeros(num_frames, bool)
        active[frames] = True
        center = target.center_xy.copy()
        center[frames] += phase[:, None] * travel * direction + offset * perpendicular
        use_patch = rng.random() < config.occluder_patch_prob
        if use_patch:
            # A chunk of background texture: camouflaged, like a pole or a wall.
            shape_class = "rectangle"
            bg_h, bg_w = background.shape[:2]
            side = int(min(bg_h, bg_w, max(8, max(occ_w, occ_h))))
            x0, y0 = int(rng.integers(0, bg_w - side + 1)), int(rng.integers(0, bg_h - side + 1))
            texture = cv2.resize(background[y0 : y0 + side, x0 : x0 + side], (_TEXTURE_SIZE_PX,) * 2, interpolation=cv2.INTER_AREA)
            # Slightly different exposure than its surroundings, so it reads as an
            # object in front rather than an invisible hole in the target.
            texture = np.clip(texture * rng.uniform(0.7, 1.3), 0.0, 255.0).astype(np.float32)
        else:
            shape_class = str(_CONVEX_OCCLUDER_CLASSES[int(rng.integers(len(_CONVEX_OCCLUDER_CLASSES)))])
            texture = _render_texture(_sample_texture_spec(rng, num_pool), pool_textures)
            if shape_class == "ellipse":
                # The inscribed ellipse of a box covers a box sqrt(2) smaller; scale up.
                occ_w, occ_h = occ_w * 1.15, occ_h * 1.15
            elif shape_class == "hexagon":
                occ_w, occ_h = occ_w * 1.15, occ_h * 1.35
        size = np.full(num_frames, math.sqrt(occ_w * occ_h))
        tracks.append(
            _Track(
                role="occluder",
                shape_class=shape_class,
                unit_polys=_unit_shape(shape_class, _sample_shape_params(rng, shape_class)),
                texture=texture,
                center_xy=center,
                size_px=size,
                aspect=np.full(num_frames, occ_w / occ_h),
                angle_rad=np.zeros(num_frames),
                z_order=100.0 + len(tracks),
                active=active,
                # The sweep is relative to the target (the occluder's own image motion
                # is mostly the target's), so blur it less than its speed suggests.
                blur_scale=0.3,
            )
        )
        frame_id = int(frames[-1]) + 1 + int(rng.integers(0, 3))
    return tracks


def _plan_video(
    rng: np.random.Generator,
    num_frames: int,
    image_size_wh: Tuple[int, int],
    config: SyntheticConfig,
    textures: Optional[str],
) -> _VideoPlan:
    """Draw every random choice of a video (geometry, appearance, photometry)."""
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    width, height = int(image_size_wh[0]), int(image_size_wh[1])
    if width < 16 or height < 16:
        raise ValueError("image size must be at least 16x16")
    pool, _ = _load_texture_pool(textures)
    num_pool = len(pool)
    short_side = min(width, height)

    # --- target ---
    target_class = str(SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))])
    size0 = max(rng.uniform(*config.target_size_frac_range) * short_side, config.min_target_size_px)
    size0 = min(size0, config.max_size_frac * short_side)
    log_ar = rng.uniform(math.log(config.aspect_ratio_range[0]), math.log(config.aspect_ratio_range[1]))
    aspect0 = math.exp(log_ar)
    target_shape = _sample_shape_params(rng, target_class)
    target_spec = _sample_texture_spec(rng, num_pool)
    size = _size_process(rng, num_frames, size0, config, short_side, config.scale_change)
    aspect_signal = _smooth_signal(rng, num_frames)
    aspect = aspect0 * np.exp(config.aspect_change * (aspect_signal - aspect_signal[0]))
    angle0 = rng.uniform(-1, 1) * math.radians(config.rotation_deg)
    angle_signal = _smooth_signal(rng, num_frames)
    angle = angle0 + math.radians(config.rotation_deg) * (angle_signal - angle_signal[0])
    # Half extent of the (rotated) box bounds where the object may start / wander.
    half_extent = (0.5 * size0 * math.sqrt(aspect0) + 2, 0.5 * size0 / math.sqrt(aspect0) + 2)
    half_diag = math.hypot(*half_extent)
    start = np.array(
        [
            rng.uniform(min(half_diag, width / 2), max(width - half_diag, width / 2)),
            rng.uniform(min(half_diag, height / 2), max(height - half_diag, height / 2)),
        ]
    )
    speed = max(rng.uniform(*config.speed_frac_range) * size0, 0.3)
    target_path = _wander_path(
        rng, num_frames, start, speed, (width, height), half_extent, size,
        exit_prob=config.exit_prob,
        fast_motion_prob=config.fast_motion_prob,
        fast_motion_max_frac=config.fast_motion_max_frac,
    )
    target = _Track(
        role="target",
        shape_class=target_class,
        unit_polys=_unit_shape(target_class, target_shape),
        texture=_render_texture(target_spec, pool),
        center_xy=target_path,
        size_px=size,
        aspect=aspect,
        angle_rad=angle,
        z_order=0.0,
        active=np.ones(num_frames, bool),
    )
    tracks = [target]

    # --- distractors ---
    num_same = int(rng.integers(config.num_same_class_range[0], config.num_same_class_range[1] + 1))
    num_other = int(rng.integers(config.num_other_class_range[0], config.num_other_class_range[1] + 1))
    other_classes = [c for c in SHAPE_CLASSES if c != target_class]
    for index in range(num_same + num_other):
        same = index < num_same
        if same:
            shape_class = target_class
            shape_params = _similar_shape_params(rng, target_shape)
            similar = rng.random() < config.distractor_similarity
            spec = _similar_texture_spec(rng, target_spec) if similar else _sample_texture_spec(rng, num_pool)
            d_size0 = size0 * rng.uniform(0.75, 1.3)
            d_aspect0 = aspect0 * math.exp(rng.uniform(-0.2, 0.2))
        else:
            shape_class = str(other_classes[int(rng.integers(len(other_classes)))])
            shape_params = _sample_shape_params(rng, shape_class)
            spec = _sample_texture_spec(rng, num_pool)
            d_size0 = size0 * rng.uniform(0.6, 1.6)
            d_aspect0 = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        d_size0 = float(np.clip(d_size0, config.min_size_px, config.max_size_frac * short_side))
        d_size = _size_process(rng, num_frames, d_size0, config, short_side, 0.5 * config.scale_change)
        d_aspect_signal = _smooth_signal(rng, num_frames)
        d_aspect = d_aspect0 * np.exp(config.aspect_change * (d_aspect_signal - d_aspect_signal[0]))
        d_angle = rng.uniform(-1, 1) * math.radians(config.rotation_deg) + math.radians(
            config.rotation_deg
        ) * _smooth_signal(rng, num_frames)
        d_half = (0.5 * d_size0 * math.sqrt(d_aspect0) + 2, 0.5 * d_size0 / math.sqrt(d_aspect0) + 2)
        # Start away from the target so the first frame shows the target unambiguously.
        min_dist = 1.2 * (half_diag + math.hypot(*d_half))
        d_start = _pick_waypoint(rng, (width, height), d_half, 0.0)
        for _ in range(20):
            if np.hypot(*(d_start - start)) >= min_dist:
                break
            d_start = _pick_waypoint(rng, (width, height), d_half, 0.0)
        d_speed = speed * rng.uniform(0.6, 1.6)
        d_path = _wander_path(
            rng, num_frames, d_start, d_speed, (width, height), d_half, d_size,
            fast_motion_prob=0.5 * config.fast_motion_prob,
            fast_motion_max_frac=config.fast_motion_max_frac,
        )
        if same:
            d_path = _add_crossings(rng, d_path, target_path, d_speed, config.distractor_cross_rate, min_frame=5)
        above = rng.random() < config.distractor_above_prob
        tracks.append(
            _Track(
                role="same_class_distractor" if same else "other_distractor",
                shape_class=shape_class,
                unit_polys=_unit_shape(shape_class, shape_params),
                texture=_render_texture(spec, pool),
                center_xy=d_path,
                size_px=d_size,
                aspect=d_aspect,
                angle_rad=d_angle,
                # Distinct z per object so the drawing order is total and deterministic.
                z_order=(1.0 if above else -1.0) * (1.0 + index),
                active=np.ones(num_frames, bool),
            )
        )

    # --- background (needs sizes for clutter) ---
    bg_w = int(math.ceil(width * rng.uniform(1.4, 1.9)))
    bg_h = int(math.ceil(height * rng.uniform(1.4, 1.9)))
    background = _make_background(rng, bg_w, bg_h, pool, config, size0, target_class, num_pool)

    # --- occluders (need the target boxes and the background) ---
    tracks.extend(_plan_occlusions(rng, target, target.boxes_xyxy(), config, pool, background, num_pool))
    for track in tracks:
        track.finalize_blur(config)
    order = sorted(range(len(tracks)), key=lambda i: (tracks[i].z_order, i))
    tracks = [tracks[i] for i in order]
    target_index = [t.role for t in tracks].index("target")

    # --- camera and photometry ---
    camera = _camera_path(rng, num_frames, (bg_w - width, bg_h - height), config)
    cam_delta = np.diff(camera, axis=0, prepend=camera[:1])
    cam_speed = np.hypot(cam_delta[:, 0], cam_delta[:, 1])
    cam_blur = np.where(cam_speed >= config.motion_blur_min_px, config.motion_blur * cam_speed, 0.0)
    cam_dir = cam_delta / np.maximum(cam_speed, 1e-9)[:, None]
    ill = config.illumination_change
    gain = 1.0 + ill * _smooth_signal(rng, num_frames) * rng.uniform(0.3, 1.0)
    tint = 1.0 + 0.3 * ill * np.stack([_smooth_signal(rng, num_frames) for _ in range(3)], axis=1)
    bias = 40.0 * ill * _smooth_signal(rng, num_frames) * rng.uniform(0.3, 1.0)
    flicker = np.ones(num_frames)
    frame_id = 1
    while frame_id < num_frames:
        if rng.random() < config.flicker_prob:
            length = int(rng.integers(1, 3))
            flicker[frame_id : frame_id + length] = rng.uniform(0.6, 1.5)
            frame_id += length
        frame_id += 1
    gain_rgb = (gain * flicker)[:, None] * tint
    noise_std = float(rng.uniform(*config.noise_std_range))
    noise_seed = int(rng.integers(2**63))

    params = {
        "target_class": target_class,
        "target_size0_px": round(float(size0), 4),
        "target_aspect0": round(float(aspect0), 4),
        "target_speed_px": round(float(speed), 4),
        "num_same_class_distractors": num_same,
        "num_other_distractors": num_other,
        "num_occlusion_events": sum(t.role == "occluder" for t in tracks),
        "target_texture": target_spec["family"],
        "noise_std": round(noise_std, 4),
        "background_size": f"{bg_w}x{bg_h}",
    }
    return _VideoPlan(
        image_wh=(width, height),
        num_frames=num_frames,
        config=config,
        background=background,
        camera_xy=camera,
        camera_blur_px=cam_blur,
        camera_blur_dir_xy=cam_dir,
        tracks=tracks,
        target_index=target_index,
        gain_rgb=gain_rgb.astype(np.float32),
        bias=bias.astype(np.float32),
        noise_std=noise_std,
        noise_seed=noise_seed,
        params=params,
    )


def _make_background(rng, bg_w, bg_h, pool, config, size0_px, target_class, num_pool) -> np.ndarray:
    """Large cluttered background: a pool image (or procedural texture) plus static shapes."""
    if pool and rng.random() >= config.procedural_background_prob:
        image = pool[int(rng.integers(len(pool)))]
        height, width = image.shape[:2]
        # Random crop with the background's aspect ratio, then resize.
        crop_scale = rng.uniform(0.5, 1.0)
        crop_h = max(8, int(min(height, width * bg_h / bg_w) * crop_scale))
        crop_w = max(8, min(width, int(round(crop_h * bg_w / bg_h))))
        y0 = int(rng.integers(0, height - crop_h + 1))
        x0 = int(rng.integers(0, width - crop_w + 1))
        background = cv2.resize(image[y0 : y0 + crop_h, x0 : x0 + crop_w], (bg_w, bg_h), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            background = background[:, ::-1]
        if rng.random() < 0.3:
            background = background[:, :, rng.permutation(3)]
        background = background.astype(np.float32)
        mix = rng.uniform(0.0, 0.4)
        procedural = _procedural_background(rng, bg_w, bg_h)
        background = (1.0 - mix) * background + mix * procedural
    else:
        background = _procedural_background(rng, bg_w, bg_h)
    background = np.ascontiguousarray(background, dtype=np.float32)
    # Static clutter, including the target's own class now and then: a motionless
    # look-alike in the background is a classic false positive for a detector.
    for _ in range(config.background_clutter):
        shape_class = target_class if rng.random() < 0.25 else str(SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))])
        unit = _unit_shape(shape_class, _sample_shape_params(rng, shape_class))
        texture = _render_texture(_sample_texture_spec(rng, num_pool), pool)
        clutter_size = size0_px * rng.uniform(0.4, 1.5)
        clutter_aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        angle = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(angle), math.sin(angle)
        half_w, half_h = 0.5 * clutter_size * math.sqrt(clutter_aspect), 0.5 * clutter_size / math.sqrt(clutter_aspect)
        linear = np.array([[c * half_w, -s * half_h], [s * half_w, c * half_h]])
        center = np.array([rng.uniform(0, bg_w), rng.uniform(0, bg_h)])
        _composite(background, texture, unit, linear, center, opacity=float(rng.uniform(0.5, 1.0)))
    return background


# ----------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------
def _render_frame(plan: _VideoPlan, frame_id: int) -> Tuple[np.ndarray, float]:
    """Render frame ``frame_id``; returns (RGB uint8 HxWx3, target visible fraction)."""
    width, height = plan.image_wh
    cam_x, cam_y = plan.camera_xy[frame_id]
    view = np.array([[1.0, 0.0, cam_x], [0.0, 1.0, cam_y]])
    canvas = cv2.warpAffine(
        plan.background, view, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT101
    )
    if plan.camera_blur_px[frame_id] >= 1.5:
        kernel = _motion_kernel(plan.camera_blur_px[frame_id], plan.camera_blur_dir_xy[frame_id])
        canvas = cv2.filter2D(canvas, -1, kernel, borderType=cv2.BORDER_REFLECT101)

    target_patch = None  # (x0, y0, alpha, coverage_by_layers_above)
    target_total = 0.0
    for index, track in enumerate(plan.tracks):
        if not track.active[frame_id]:
            continue
        drawn = _composite(
            canvas,
            track.texture,
            track.unit_polys,
            track.linear(frame_id),
            track.center_xy[frame_id],
            blur_px=float(track.blur_px[frame_id]),
            blur_dir_xy=track.blur_dir_xy[frame_id],
        )
        if index == plan.target_index:
            if drawn is not None:
                x0, y0, alpha, target_total = drawn
                target_patch = (x0, y0, alpha, np.zeros_like(alpha))
        elif index > plan.target_index and drawn is not None and target_patch is not None:
            _accumulate_cover(target_patch, drawn)

    visible_frac = 0.0
    if target_patch is not None and target_total > 0:
        _, _, alpha, covered = target_patch
        visible_frac = float(np.sum(alpha * (1.0 - covered))) / target_total
        visible_frac = min(max(visible_frac, 0.0), 1.0)

    # Photometry: illumination drift/flicker/tint, then sensor noise.
    canvas *= plan.gain_rgb[frame_id]
    canvas += plan.bias[frame_id]
    if plan.noise_std > 0:
        # A random window of a per-video noise field twice the frame size: drawing
        # fresh normals every frame would cost more than rendering everything else.
        noise_rng = np.random.default_rng([plan.noise_seed, frame_id])
        nx, ny = int(noise_rng.integers(0, width + 1)), int(noise_rng.integers(0, height + 1))
        canvas += _noise_field(plan)[ny : ny + height, nx : nx + width]
    canvas += 0.5  # round, not truncate, in the uint8 cast
    np.clip(canvas, 0.0, 255.0, out=canvas)
    return canvas.astype(np.uint8), visible_frac


def _noise_field(plan: _VideoPlan) -> np.ndarray:
    """Gaussian noise (2H x 2W x 3, float32) of the video, drawn once from its seed."""
    if plan.noise_field is None:
        width, height = plan.image_wh
        rng = np.random.default_rng([plan.noise_seed, 2**32])
        field = rng.standard_normal((2 * height, 2 * width, 3), dtype=np.float32)
        field *= plan.noise_std
        plan.noise_field = field
    return plan.noise_field


def _accumulate_cover(target_patch, drawn) -> None:
    """Add the sharp coverage of a layer above the target to the target's occlusion map."""
    tx0, ty0, t_alpha, covered = target_patch
    ox0, oy0, o_alpha, _ = drawn
    ix0, iy0 = max(tx0, ox0), max(ty0, oy0)
    ix1 = min(tx0 + t_alpha.shape[1], ox0 + o_alpha.shape[1])
    iy1 = min(ty0 + t_alpha.shape[0], oy0 + o_alpha.shape[0])
    if ix1 <= ix0 or iy1 <= iy0:
        return
    sub = covered[iy0 - ty0 : iy1 - ty0, ix0 - tx0 : ix1 - tx0]
    layer = o_alpha[iy0 - oy0 : iy1 - oy0, ix0 - ox0 : ix1 - ox0]
    sub += layer * (1.0 - sub)  # union of coverages: 1 - (1-a)(1-b)


def _clip_box_xyxy(box_xyxy: np.ndarray, image_wh: Tuple[int, int]) -> np.ndarray:
    width, height = image_wh
    return np.array(
        [
            min(max(box_xyxy[0], 0.0), width),
            min(max(box_xyxy[1], 0.0), height),
            min(max(box_xyxy[2], 0.0), width),
            min(max(box_xyxy[3], 0.0), height),
        ]
    )


def _clipped_boxes_xywh(boxes_xyxy: np.ndarray, image_wh: Tuple[int, int]) -> np.ndarray:
    """(N, 4) xyxy -> clipped xywh (zero-size when outside), float32."""
    width, height = image_wh
    x0 = np.clip(boxes_xyxy[:, 0], 0, width)
    y0 = np.clip(boxes_xyxy[:, 1], 0, height)
    x1 = np.clip(boxes_xyxy[:, 2], 0, width)
    y1 = np.clip(boxes_xyxy[:, 3], 0, height)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.float32)


def _frame_annotations(plan: _VideoPlan) -> Iterator[Tuple[np.ndarray, FrameAnnotation]]:
    """Render frames in order with their ground truth."""
    target = plan.tracks[plan.target_index]
    boxes_xyxy = target.boxes_xyxy()
    last_box = None
    config = plan.config
    for frame_id in range(plan.num_frames):
        frame, visible_frac = _render_frame(plan, frame_id)
        clipped = _clip_box_xyxy(boxes_xyxy[frame_id], plan.image_wh)
        box = np.array([clipped[0], clipped[1], clipped[2] - clipped[0], clipped[3] - clipped[1]], np.float32)
        visible = visible_frac >= config.min_visible_frac and box[2] > 0 and box[3] > 0
        if box[2] <= 0 or box[3] <= 0:
            # Fully out of frame: keep the last in-image box (GOT-10k loaders use
            # absence.label to skip such frames; the box just has to be valid).
            box = last_box if last_box is not None else np.array([0, 0, 1, 1], np.float32)
        last_box = box
        cover = int(min(max(round(visible_frac * 8), 1), 8)) if visible else 0
        yield frame, FrameAnnotation(box_xywh=box, visible=bool(visible), cover=cover, visible_frac=visible_frac)


def _resolve_config(config: Optional[SyntheticConfig], overrides: Dict[str, Any]) -> SyntheticConfig:
    config = config if config is not None else SyntheticConfig()
    return config.replace(**overrides) if overrides else config


def iter_video(
    rng: np.random.Generator,
    num_frames: int = 100,
    image_size_wh: Tuple[int, int] = (320, 240),
    config: Optional[SyntheticConfig] = None,
    textures: Optional[str] = None,
    **overrides: Any,
) -> Iterator[Tuple[np.ndarray, FrameAnnotation]]:
    """Stream a video: yields ``(frame_rgb_uint8, FrameAnnotation)`` per frame.

    Memory stays constant, so very long sequences are fine.  ``overrides`` are
    :class:`SyntheticConfig` fields (e.g. ``occlusion_prob=1.0``).
    """
    plan = _plan_video(rng, num_frames, tuple(image_size_wh), _resolve_config(config, overrides), textures)
    yield from _frame_annotations(plan)


def make_video(
    rng: np.random.Generator,
    num_frames: int = 100,
    image_size_wh: Tuple[int, int] = (320, 240),
    config: Optional[SyntheticConfig] = None,
    textures: Optional[str] = None,
    return_meta: bool = False,
    **overrides: Any,
):
    """Generate one video in memory.

    Returns ``(frames, boxes_xywh, visible, cover)``: a list of HxWx3 uint8 RGB
    frames, float32 (F, 4) target boxes, bool (F,) visibility and int (F,) cover
    (0-8).  With ``return_meta=True`` a fifth element, a dict, describes the video:

    * ``target_class`` and ``params`` (per-video random choices),
    * ``object_roles`` / ``object_classes``: non-occluder objects, target first,
    * ``object_boxes_xywh``: float32 (N, F, 4) their clipped boxes (0-size outside),
    * ``visible_frac``: float32 (F,), ``target_size_px``: float32 (F,) (sqrt(w*h)),
    * ``occluder_active``: bool (F,), ``target_blur_px``: float32 (F,),
    * ``illumination_gain``: float32 (F, 3).
    """
    config = _resolve_config(config, overrides)
    plan = _plan_video(rng, num_frames, tuple(image_size_wh), config, textures)
    frames, boxes, visible, cover, visible_frac = [], [], [], [], []
    for frame, ann in _frame_annotations(plan):
        frames.append(frame)
        boxes.append(ann.box_xywh)
        visible.append(ann.visible)
        cover.append(ann.cover)
        visible_frac.append(ann.visible_frac)
    boxes_xywh = np.stack(boxes).astype(np.float32)
    visible_arr = np.array(visible, bool)
    cover_arr = np.array(cover, np.int64)
    if not return_meta:
        return frames, boxes_xywh, visible_arr, cover_arr
    target = plan.tracks[plan.target_index]
    objects = [target] + [t for t in plan.tracks if t.role not in ("target", "occluder")]
    occluder_active = np.zeros(num_frames, bool)
    for track in plan.tracks:
        if track.role == "occluder":
            occluder_active |= track.active
    meta = {
        "target_class": target.shape_class,
        "params": dict(plan.params),
        "object_roles": [t.role for t in objects],
        "object_classes": [t.shape_class for t in objects],
        "object_boxes_xywh": np.stack([_clipped_boxes_xywh(t.boxes_xyxy(), plan.image_wh) for t in objects]),
        "visible_frac": np.array(visible_frac, np.float32),
        "target_size_px": target.size_px.astype(np.float32),
        "occluder_active": occluder_active,
        "target_blur_px": target.blur_px.astype(np.float32),
        "illumination_gain": plan.gain_rgb.copy(),
    }
    return frames, boxes_xywh, visible_arr, cover_arr, meta


# ----------------------------------------------------------------------------------
# GOT-10k writer
# ----------------------------------------------------------------------------------
def _params_hash(
    config: SyntheticConfig, image_size_wh, num_frames: int, seed: int, split: str, video_number: int,
    jpeg_quality: int, texture_fingerprint: str,
) -> str:
    """Stable hash of everything that determines a sequence's files."""
    payload = {
        "version": GENERATOR_VERSION,
        "config": config.to_dict(),
        "image_size_wh": [int(image_size_wh[0]), int(image_size_wh[1])],
        "num_frames": int(num_frames),
        "seed": int(seed),
        "split": split,
        "video_number": int(video_number),
        "jpeg_quality": int(jpeg_quality),
        "textures": texture_fingerprint,
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _read_params_hash(meta_path: str) -> Optional[str]:
    try:
        with open(meta_path, "r", encoding="utf-8") as f:
            for line in f:
                if line.startswith("params_hash:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _count_lines(path: str) -> int:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return -1


def _is_complete(seq_dir: str, num_frames: int, params_hash: str) -> bool:
    """True when ``seq_dir`` holds a full sequence generated with ``params_hash``."""
    if _read_params_hash(os.path.join(seq_dir, "meta_info.ini")) != params_hash:
        return False
    for name in ("groundtruth.txt", "absence.label", "cover.label"):
        if _count_lines(os.path.join(seq_dir, name)) != num_frames:
            return False
    return all(os.path.isfile(os.path.join(seq_dir, f"{i:08d}.jpg")) for i in range(1, num_frames + 1))


def _write_text_if_changed(path: str, text: str) -> bool:
    """Atomically write ``text`` unless the file already holds it (keeps mtime)."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    tmp_path = f"{path}.tmp{os.getpid()}"
    with open(tmp_path, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp_path, path)
    return True


def _format_meta_info(params: Dict[str, Any], extra: Dict[str, Any], image_size_wh, num_frames: int) -> str:
    """GOT-10k style ``meta_info.ini`` (parseable by configparser)."""
    lines = [
        "[METAINFO]",
        f"object_class: {params['target_class']}",
        "root_class: synthetic shape",
        "major_class: synthetic shape",
        "motion_class: synthetic motion",
        "motion_adverb: randomly",
        f"resolution: ({int(image_size_wh[0])}, {int(image_size_wh[1])})",
        "anno_fps: 10Hz",
        f"num_frames: {num_frames}",
        f"generator: guided_tracking.data.synthetic v{GENERATOR_VERSION}",
    ]
    for key in sorted(extra):
        lines.append(f"{key}: {extra[key]}")
    for key in sorted(params):
        if key != "target_class":
            lines.append(f"{key}: {params[key]}")
    return "\n".join(lines) + "\n"


def _write_sequence(
    seq_dir: str, video_number: int, num_frames: int, seed: int, split: str, image_size_wh, textures: Optional[str],
    config: SyntheticConfig, jpeg_quality: int, params_hash: str,
) -> float:
    """Render one sequence into a temporary folder and rename it into place.

    Returns the frames per second achieved.  The rename makes an interrupted run
    leave either nothing or a complete sequence.
    """
    parent, name = os.path.split(seq_dir)
    tmp_dir = os.path.join(parent, f".tmp_{name}_{os.getpid()}")
    if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)
    os.makedirs(tmp_dir)
    start = time.perf_counter()
    try:
        rng = np.random.default_rng(video_seed_sequence(seed, split, video_number))
        plan = _plan_video(rng, num_frames, tuple(image_size_wh), config, textures)
        gt_lines, absence_lines, cover_lines = [], [], []
        encode_params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
        for frame_id, (frame, ann) in enumerate(_frame_annotations(plan)):
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), encode_params)
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {name} frame {frame_id}")
            with open(os.path.join(tmp_dir, f"{frame_id + 1:08d}.jpg"), "wb") as f:
                f.write(data.tobytes())
            x, y, w, h = (float(v) for v in ann.box_xywh)
            gt_lines.append(f"{x:.4f},{y:.4f},{w:.4f},{h:.4f}")
            absence_lines.append("0" if ann.visible else "1")
            cover_lines.append(str(ann.cover))
        for file_name, lines in (
            ("groundtruth.txt", gt_lines),
            ("absence.label", absence_lines),
            ("cover.label", cover_lines),
        ):
            with open(os.path.join(tmp_dir, file_name), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        extra = {
            "seed": seed,
            "split": split,
            "video_number": video_number,
            "jpeg_quality": jpeg_quality,
            "params_hash": params_hash,
            "config": json.dumps(config.to_dict(), sort_keys=True),
        }
        meta_text = _format_meta_info(plan.params, extra, image_size_wh, num_frames)
        # Written last: its params_hash marks the sequence as complete.
        with open(os.path.join(tmp_dir, "meta_info.ini"), "w", encoding="utf-8") as f:
            f.write(meta_text)
        if os.path.exists(seq_dir):
            shutil.rmtree(seq_dir)
        os.rename(tmp_dir, seq_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return num_frames / max(time.perf_counter() - start, 1e-9)


def _write_sequence_job(kwargs: Dict[str, Any]) -> float:
    """Picklable entry point for worker processes."""
    return _write_sequence(**kwargs)


def generate_videos(
    out_dir: str,
    num_videos: int,
    num_frames: int,
    seed: int,
    split: str = "train",
    image_size_wh: Tuple[int, int] = (320, 240),
    textures: Optional[str] = None,
    config: Optional[SyntheticConfig] = None,
    jpeg_quality: int = 90,
    workers: int = 1,
) -> List[str]:
    """Write ``num_videos`` sequences to ``out_dir/<split>`` in GOT-10k layout.

    Sequences already complete with identical parameters are left untouched
    (idempotent reruns; an interrupted run resumes).  Returns the sequence
    directories in list order.
    """
    if num_videos < 0 or num_frames < 1:
        raise ValueError("num_videos must be >= 0 and num_frames >= 1")
    if not split or os.sep in split or split.startswith("."):
        raise ValueError(f"Invalid split name {split!r}")
    config = config if config is not None else SyntheticConfig()
    textures = os.path.abspath(textures) if textures else None
    _, fingerprint = _load_texture_pool(textures)
    split_dir = os.path.join(out_dir, split)
    os.makedirs(split_dir, exist_ok=True)
    names = [sequence_name(split, i) for i in range(1, num_videos + 1)]
    jobs = []
    for number, name in enumerate(names, start=1):
        seq_dir = os.path.join(split_dir, name)
        params_hash = _params_hash(config, image_size_wh, num_frames, seed, split, number, jpeg_quality, fingerprint)
        if _is_complete(seq_dir, num_frames, params_hash):
            logger.debug("%s is complete, skipping", name)
            continue
        jobs.append(
            dict(
                seq_dir=seq_dir, video_number=number, num_frames=num_frames, seed=seed, split=split,
                image_size_wh=tuple(image_size_wh), textures=textures, config=config,
                jpeg_quality=jpeg_quality, params_hash=params_hash,
            )
        )
    logger.info(
        "%s: %d/%d sequences to generate (%d frames, %dx%d, seed %d)",
        split_dir, len(jobs), num_videos, num_frames, image_size_wh[0], image_size_wh[1], seed,
    )
    start = time.perf_counter()
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            for job, fps in zip(jobs, pool.map(_write_sequence_job, jobs)):
                logger.info("wrote %s (%.0f frames/s)", os.path.basename(job["seq_dir"]), fps)
    else:
        for job in jobs:
            fps = _write_sequence(**job)
            logger.info("wrote %s (%.0f frames/s)", os.path.basename(job["seq_dir"]), fps)
    if jobs:
        elapsed = time.perf_counter() - start
        logger.info(
            "generated %d frames in %.1f s (%.0f frames/s)",
            len(jobs) * num_frames, elapsed, len(jobs) * num_frames / max(elapsed, 1e-9),
        )
    _write_text_if_changed(os.path.join(split_dir, "list.txt"), "".join(f"{n}\n" for n in names))
    return [os.path.join(split_dir, n) for n in names]


# ----------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------
def _parse_size(text: str) -> Tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def _parse_override(text: str) -> Tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m guided_tracking.data.synthetic",
        description="Generate deterministic synthetic tracking videos (GOT-10k layout).",
    )
    parser.add_argument("--out", required=True, help="dataset root; sequences go to OUT/<split>/")
    parser.add_argument("--videos", type=int, required=True, help="number of sequences")
    parser.add_argument("--frames", type=int, required=True, help="frames per sequence")
    parser.add_argument("--seed", type=int, required=True, help="dataset seed (>= 0)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--size", type=_parse_size, default=(320, 240), help="WIDTHxHEIGHT, default 320x240")
    parser.add_argument("--textures", default=None, help="folder of images for backgrounds/textures")
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--workers", type=int, default=1, help="processes (output is the same for any value)")
    parser.add_argument(
        "--set", dest="overrides", type=_parse_override, action="append", default=[], metavar="KEY=VALUE",
        help="override a SyntheticConfig field, e.g. --set occlusion_prob=0.1 (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI entry point; returns the process exit code."""
    args = build_arg_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="[%(asctime)s %(name)s] %(message)s",
            datefmt="%H:%M:%S",
        )
    config = SyntheticConfig().replace(**dict(args.overrides))
    paths = generate_videos(
        args.out, args.videos, args.frames, args.seed, split=args.split, image_size_wh=args.size,
        textures=args.textures, config=config, jpeg_quality=args.jpeg_quality, workers=args.workers,
    )
    logger.info("%d sequences listed in %s", len(paths), os.path.join(args.out, args.split, "list.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
