"""Video planning: target, distractors and occluders, their textures, and the background."""
import dataclasses
import logging
import math
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from .config import SHAPE_CLASSES, SyntheticConfig, _CONVEX_OCCLUDER_CLASSES, _TEXTURE_SIZE_PX
from .motion import (
    _Track, _add_crossings, _camera_path, _pick_waypoint, _size_process, _smooth_signal, _wander_path,
)
from .shapes import _composite, _sample_shape_params, _similar_shape_params, _unit_shape
from .textures import (
    _load_texture_pool, _procedural_background, _render_texture, _sample_texture_spec, _similar_texture_spec,
)

logger = logging.getLogger(__name__)

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
