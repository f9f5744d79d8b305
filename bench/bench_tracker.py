#!/usr/bin/env python
"""Speed and memory of GuidedTracker against a plain forward of its detector.

    .venv/bin/python bench/bench_tracker.py                         # CPU config, random weights
    .venv/bin/python bench/bench_tracker.py --force-collect         # make update frames do real work
    .venv/bin/python bench/bench_tracker.py --weights output/.../model_final.pth --long-frames 1000
    .venv/bin/python bench/bench_tracker.py --profile               # cProfile of the timed frames

1. Per-frame time. On an in-memory synthetic sequence
   (``guided_tracking.data.synthetic.make_video``), every ``tracker.track(frame)``
   is timed, and right after it one *plain forward* of the same detector on a
   search crop of the same size: ``model.normalize`` + ``model.guided_features`` +
   ``model.detect`` with the tracker's guidance and current θ, on a crop made
   beforehand (so the plain forward excludes cropping; the tracker's time
   includes everything it does per frame: crop, forward, localisation, sample
   collection, update). Interleaving the two per frame keeps them comparable on
   a busy machine. Frames are split by ``tracker.last_updated``; printed:
   ratio on non-update frames (target <= 1.15x) and averaged over the whole
   sequence (target <= 1.3x), from medians and from means.
2. Memory. A long streamed sequence (``iter_video``), peak RSS (VmHWM of
   /proc/self/status) and current RSS printed at 1/4, 1/2 and all of the
   frames, with the number of samples held and the bytes of their tensors,
   to show that memory does not grow with the sequence length.

Untrained weights give low scores, so no sample is collected and no update
does any work: ``--force-collect`` sets TRACKER.COLLECT_THRESHOLD 0 and
TRACKER.LOST_THRESHOLD 0 so update frames are really measured.
"""
import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

import numpy as np
import torch

import guided_tracking  # noqa: F401  (registrations)
from guided_tracking import get_guided_cfg
from guided_tracking.data.crop import search_geometry
from guided_tracking.data.synthetic import iter_video, make_video
from guided_tracking.tracking import build_tracker

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(REPO_ROOT, "configs", "CPU", "guided_rcnn_mnv2_FPN.yaml")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--weights", default="", help="MODEL.WEIGHTS (default: random weights)")
    parser.add_argument("--frames", type=int, default=60, help="frames of the timed sequence")
    parser.add_argument("--long-frames", type=int, default=1000, help="frames of the memory run (0 = skip)")
    parser.add_argument("--size", default="320x240", help="frame size WxH")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--force-collect", action="store_true",
                        help="TRACKER.COLLECT_THRESHOLD 0 TRACKER.LOST_THRESHOLD 0 (update frames do real work)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames before timing")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed frames (tracker only)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")
    return parser.parse_args(argv)


def build_cfg(args):
    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(["MODEL.WEIGHTS", args.weights])
    if not args.weights:
        # Random weights are fine for timing; do not load ImageNet weights either.
        cfg.merge_from_list(["MODEL.MOBILENET.PRETRAINED", False])
    if args.force_collect:
        cfg.merge_from_list(["TRACKER.COLLECT_THRESHOLD", 0.0, "TRACKER.LOST_THRESHOLD", 0.0])
    cfg.merge_from_list(list(args.opts))
    cfg.freeze()
    return cfg


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def proc_status_kb(key):
    """VmHWM / VmRSS of this process in kB (None where /proc is unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def state_bytes(tracker):
    """Bytes of every tensor the tracker state holds (samples, θ, guidance)."""
    seen, total = set(), 0

    def visit(obj):
        nonlocal total
        if isinstance(obj, torch.Tensor):
            key = (obj.data_ptr(), obj.numel())
            if key not in seen:
                seen.add(key)
                total += obj.numel() * obj.element_size()
        elif isinstance(obj, dict):
            for v in obj.values():
                visit(v)
        elif isinstance(obj, (list, tuple)) or type(obj).__name__ == "deque":
            for v in obj:
                visit(v)
        elif hasattr(obj, "get_fields"):  # detectron2 Instances
            for v in obj.get_fields().values():
                visit(getattr(v, "tensor", v))
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                visit(v)

    visit(tracker.state)
    return total


def plain_forward(model, crop_tensor, guidance, theta):
    """One forward of the guided detector on a prepared crop: what a detector costs per frame."""
    images = model.normalize([crop_tensor])
    task_ids = torch.zeros(1, dtype=torch.long, device=model.device)
    features = model.guided_features(images, guidance, task_ids)
    return model.detect(images, features, theta)


def time_sequence(tracker, frames_bgr, boxes, args):
    model, device = tracker.model, tracker.device
    start = time.perf_counter()
    tracker.initialize(frames_bgr[0], boxes[0])
    _sync(device)
    init_s = time.perf_counter() - start
    rows = []  # (track_s, plain_s, updated, collected)
    profiler = cProfile.Profile() if args.profile else None
    for i, frame in enumerate(frames_bgr[1:], start=1):
        # The plain forward's input: a crop of the same size, made outside its timing.
        geom = search_geometry(tracker.state.box_xywh, tracker.search_context, tracker.search_px)
        crop = torch.as_tensor(np.ascontiguousarray(geom.crop_image(frame).transpose(2, 0, 1)), device=device)
        memory = tracker.state.memory
        last_before = memory[-1] if memory else None
        if profiler is not None and i > args.warmup:
            profiler.enable()
        _sync(device)
        start = time.perf_counter()
        tracker.track(frame)
        _sync(device)
        track_s = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        collected = bool(memory) and memory[-1] is not last_before
        start = time.perf_counter()
        with torch.no_grad():
            plain_forward(model, crop, tracker.state.guidance, tracker.state.theta)
        _sync(device)
        plain_s = time.perf_counter() - start
        if i > args.warmup:
            rows.append((track_s, plain_s, tracker.last_updated, collected))
    return init_s, rows, profiler


def summarize(rows):
    def ratio(sel, stat):
        t = [r[0] for r in rows if sel(r)]
        p = [r[1] for r in rows if sel(r)]
        return (stat(t), stat(p), stat(t) / stat(p)) if t else (float("nan"),) * 3

    lines = []
    for name, sel in (("non-update frames", lambda r: not r[2]), ("update frames", lambda r: r[2]),
                      ("  non-update, sample collected", lambda r: not r[2] and r[3]),
                      ("  non-update, nothing collected", lambda r: not r[2] and not r[3]),
                      ("all frames (sequence average)", lambda r: True)):
        n = sum(1 for r in rows if sel(r))
        if n == 0:
            lines.append(f"{name:34s} n={n:4d}")
            continue
        tm, pm, rm = ratio(sel, statistics.median)
        ta, pa, ra = ratio(sel, statistics.fmean)
        lines.append(f"{name:34s} n={n:4d}  median {1e3 * tm:8.2f} ms vs plain {1e3 * pm:8.2f} ms = {rm:5.3f}x   "
                     f"mean {1e3 * ta:8.2f} ms vs plain {1e3 * pa:8.2f} ms = {ra:5.3f}x")
    return lines


def memory_run(tracker, args, size_wh):
    checkpoints = sorted({max(1, args.long_frames // 4), max(1, args.long_frames // 2), args.long_frames})
    rng = np.random.default_rng(args.seed + 1)
    print(f"\nMemory over a {args.long_frames}-frame streamed synthetic sequence ({size_wh[0]}x{size_wh[1]}):")
    print(f"{'frames':>7s} {'VmHWM MiB':>10s} {'VmRSS MiB':>10s} {'samples':>8s} {'state MiB':>10s} {'s/frame':>8s}")
    hwm0 = proc_status_kb("VmHWM")
    start = time.perf_counter()
    for i, (frame_rgb, ann) in enumerate(iter_video(rng, num_frames=args.long_frames, image_size_wh=size_wh)):
        frame = np.ascontiguousarray(frame_rgb[:, :, ::-1])
        if i == 0:
            tracker.initialize(frame, ann.box_xywh)
        else:
            box = tracker.track(frame)
            if not np.all(np.isfinite(box)):
                print(f"  NaN box at frame {i}: {box}")
        if i + 1 in checkpoints or i == 0:
            hwm, rss = proc_status_kb("VmHWM"), proc_status_kb("VmRSS")
            print(f"{i + 1:7d} {hwm / 1024 if hwm else float('nan'):10.1f} {rss / 1024 if rss else float('nan'):10.1f} "
                  f"{len(tracker.state.memory):8d} {state_bytes(tracker) / 2 ** 20:10.3f} "
                  f"{(time.perf_counter() - start) / (i + 1):8.3f}")
    print(f"(VmHWM before this run: {hwm0 / 1024 if hwm0 else float('nan'):.1f} MiB; row 1 is right after "
          "initialize (16-crop batch forward); s/frame includes rendering the synthetic frames)")


def main(argv=None):
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    size_wh = tuple(int(v) for v in args.size.lower().split("x"))
    cfg = build_cfg(args)
    torch.manual_seed(args.seed)
    tracker = build_tracker(cfg)
    rss_built = proc_status_kb("VmRSS")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"config {args.config_file}; weights {args.weights or '(random)'}; device {tracker.device}; "
          f"torch threads {torch.get_num_threads()}; load average {load}")
    print(f"search {tracker.search_px} px, exemplar {tracker.exemplar_px} px, init samples {tracker.init_samples}, "
          f"T={tracker.update_interval}, N_tau={tracker.update_steps}, memory {tracker.memory_size}, "
          f"collect >= {tracker.collect_threshold}, lost < {tracker.lost_threshold}")
    print("plain forward = model.normalize + guided_features + detect on a prepared crop of the same size "
          "(guidance and θ cached, as the tracker has them)")

    frames_rgb, boxes, _, _ = make_video(np.random.default_rng(args.seed), num_frames=args.frames + 1,
                                         image_size_wh=size_wh)
    frames_bgr = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames_rgb]
    init_s, rows, profiler = time_sequence(tracker, frames_bgr, boxes, args)
    print(f"\ninitialize: {1e3 * init_s:.1f} ms; {len(rows)} timed frames after {args.warmup} warm-up frames; "
          f"samples in memory at the end: {len(tracker.state.memory)}")
    for line in summarize(rows):
        print(line)
    non_update = [r for r in rows if not r[2]]
    if non_update:
        r1 = statistics.median(r[0] for r in non_update) / statistics.median(r[1] for r in non_update)
        r2 = statistics.fmean(r[0] for r in rows) / statistics.fmean(r[1] for r in rows)
        print(f"targets: non-update {r1:.3f}x (<= 1.15x: {'ok' if r1 <= 1.15 else 'MISSED'}), "
              f"sequence average {r2:.3f}x (<= 1.3x: {'ok' if r2 <= 1.3 else 'MISSED'})")
    if not any(r[2] for r in rows):
        print("note: no update frame was timed (no sample collected?): try --force-collect")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print("\ncProfile of tracker.track (timed frames):\n" + out.getvalue())
    hwm = proc_status_kb("VmHWM")
    if rss_built and hwm:
        print(f"RSS after building the model {rss_built / 1024:.1f} MiB; peak RSS after the timed run "
              f"{hwm / 1024:.1f} MiB")
    if args.long_frames > 0:
        memory_run(tracker, args, size_wh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
