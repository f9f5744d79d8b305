"""Evaluation of got10k trackers on benchmarks, sequence folders and videos.

- ``run_benchmark``: OPE on OTB-2013/2015, UAV123, NfS (30 fps), GOT-10k val/test,
  LaSOT or any folder of sequences, scored with got10k's own metric code.
- ``print_table`` / ``plot_curves``: compare several ``report.json``.
- ``BASELINES``: OpenCV CSRT and KCF as got10k trackers.
- ``track_video``: track one target in a video file, an image folder or a webcam.
"""
from .baselines import BASELINES, CSRT, KCF, OpenCVTracker
from .benchmark import (
    BENCHMARKS,
    FrameReadError,
    load_benchmark,
    load_report,
    load_rgb_frame,
    plot_curves,
    print_table,
    run_benchmark,
    track_sequence,
)
from .video import parse_box_arg, track_video

__all__ = [
    "BASELINES",
    "BENCHMARKS",
    "CSRT",
    "KCF",
    "FrameReadError",
    "OpenCVTracker",
    "load_benchmark",
    "load_report",
    "load_rgb_frame",
    "parse_box_arg",
    "plot_curves",
    "print_table",
    "run_benchmark",
    "track_sequence",
    "track_video",
]
