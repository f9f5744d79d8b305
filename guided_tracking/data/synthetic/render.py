"""Rendering frames from a plan and annotating them; ``make_video`` / ``iter_video``."""
import logging
from typing import Any, Dict, Iterator, Optional, Tuple

import cv2
import numpy as np

from .config import FrameAnnotation, SyntheticConfig
from .planning import _VideoPlan, _plan_video
from .shapes import _composite, _motion_kernel

logger = logging.getLogger(__name__)

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
