"""Motion planning: smooth object tracks, sizes, wander paths, crossings, camera paths."""
import dataclasses
import logging
import math
from typing import List, Tuple

import numpy as np

from .config import SyntheticConfig

logger = logging.getLogger(__name__)

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
