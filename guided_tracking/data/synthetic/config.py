"""Generator configuration, constants, per-video annotation record, seeding and naming."""
import dataclasses
import json
import logging
import zlib
from typing import Any, Dict, Tuple

import numpy as np

logger = logging.getLogger(__name__)

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

    @classmethod
    def long_term(cls) -> "SyntheticConfig":
        """Long-term videos: the target often leaves the view (and comes back
        elsewhere) and occlusions hide it completely, so stretches of frames have
        no target (labelled absent: ``absence.label``, NaN boxes in OTB layout).
        With 200 frames at 160x120, 5-20 % of the frames are absent."""
        return cls(exit_prob=0.6, full_occlusion_prob=1.0, occlusion_prob=0.03)

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
