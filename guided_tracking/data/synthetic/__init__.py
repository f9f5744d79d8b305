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
from .cli import main
from .config import GENERATOR_VERSION, SHAPE_CLASSES, FrameAnnotation, SyntheticConfig, sequence_name, video_seed_sequence
from .render import iter_video, make_video
from .writer import generate_videos

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
