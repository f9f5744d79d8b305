"""Evaluation of got10k trackers on benchmarks, sequence folders and videos.

- ``run_benchmark``: OPE on OTB-2013/2015, UAV123, NfS (30 fps), GOT-10k val/test,
  LaSOT or any folder of sequences, scored with got10k's own metric code.
- ``print_table`` / ``plot_curves``: compare several ``report.json``.
- ``BASELINES``: OpenCV CSRT, KCF and NanoTrack v2 (ONNX) as got10k trackers.
- ``track_video``: track one target in a video file, an image folder or a webcam.

Names are imported on first use (PEP 562): ``import guided_tracking.evaluation``
stays cheap, and ``python -m guided_tracking.evaluation.benchmark`` does not find
its own module already imported by this package.
"""
import importlib

_EXPORTS = {
    "BASELINES": ".baselines",
    "CSRT": ".baselines",
    "KCF": ".baselines",
    "NanoTrack": ".baselines",
    "baseline_factory": ".baselines",
    "OpenCVTracker": ".baselines",
    "BENCHMARKS": ".sequences",
    "FrameReadError": "..frames",
    "load_benchmark": ".sequences",
    "load_report": ".reports",
    "load_rgb_frame": "..frames",
    "plot_curves": ".plotting",
    "print_table": ".reports",
    "run_benchmark": ".running",
    "track_sequence": ".running",
    "parse_box_arg": ".video",
    "track_video": ".video",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
