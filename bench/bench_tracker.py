#!/usr/bin/env python
"""Per-frame speed of the tracker next to a plain detector and CSRT, in one run.

    .venv/bin/python bench/bench_tracker.py                      # reference model, dev sequences
    .venv/bin/python bench/bench_tracker.py --config-file configs/CPU/guided_rcnn_mnv2_FPN.yaml \\
        --weights output/.../model_final.pth --json out.json
    .venv/bin/python bench/bench_tracker.py --smoke              # 2 short synthetic sequences, no memory run

On the same frames (decoded into memory first, so reading files is timed for no
one), one after the other:
1. **ours**: the got10k adapter's ``update`` per frame (everything the tracker
   does: crop, guided detector, localisation, sample collection, updates);
2. **detector**: the unguided detector of the same config and weights as
   detectron2 runs it (``GeneralizedRCNN`` on the wrapped backbone, no TGM, its
   box predictor's score threshold + NMS), timed per frame on a search crop of
   the tracker's size around the ground truth, the crop made outside the timing;
   **detector+rewrites**: the same with the tracker's inference rewrites
   (folded frozen BN, channels-last, anchors cached), so the ratio to it is the
   tracking overhead;
   **ours-ort**: ours with the per-frame network in ONNX Runtime
   (TRACKER.BACKEND onnxruntime; θ and its updates in torch);
3. **CSRT** (OpenCV) and **NanoTrack v2** (OpenCV's TrackerNano, when its ONNX
   files are found) through the same got10k interface as ours;
4. **video path**: ``track_video`` on the first sequence's frame folder (reading,
   tracking, drawing and encoding the annotated video), wall-clock frames/s
   against the ours row on that sequence, both over every frame with the
   initialisation included (as got10k reports a sequence's speed).
Then the cost split of ours (a second pass with timers wrapped around the
tracker's stages: crop, backbone, TGM, RPN, ROI head, localisation, sample
collection, updates, other) and the peak memory of ours over a long sequence
(the longest sequence played forward and back to ``--memory-frames`` frames).
Frames/s are from the mean per-frame time (1000 / ms), warm-up frames excluded.
"""
import argparse
import contextlib
import copy
import functools
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # the package of this checkout, installed or not

import guided_tracking  # noqa: E402  (registrations)
from guided_tracking.data.crop import CropGeometry, search_geometry  # noqa: E402
from guided_tracking.data.datasets import load_folder  # noqa: E402
from guided_tracking.evaluation.baselines import baseline_factory  # noqa: E402
from guided_tracking.tracking.build import make_got10k_tracker  # noqa: E402

DEV_SEQUENCES = os.path.join(REPO_ROOT, "..", "shared", "data", "sequences")
FOLDERS = {}  # sequence name -> its frame folder (None: frames made in memory or cut by --max-frames)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=None, help="tracker config (default: the reference model's)")
    parser.add_argument("--weights", default="", help="MODEL.WEIGHTS (default: the config's / the reference model)")
    parser.add_argument("--sequences", default=DEV_SEQUENCES if os.path.isdir(DEV_SEQUENCES) else None,
                        help="folder of sequences (default: ../shared/data/sequences, else synthetic ones)")
    parser.add_argument("--max-frames", type=int, default=0, help="frames per sequence (0 = all)")
    parser.add_argument("--trackers", default="ours,ours-ort,video,detector,csrt,nano",
                        help="rows, comma-separated (ours-ort: ours with TRACKER.BACKEND onnxruntime; video: ours "
                             "through track_video, vs the ours row; nano: NanoTrack v2, when its files are found)")
    parser.add_argument("--nanotrack-dir", default=None,
                        help="NanoTrack v2 ONNX folder (default: $GUIDED_TRACKING_NANOTRACK_DIR, else "
                             "../shared/models/nanotrack)")
    parser.add_argument("--memory-frames", type=int, default=1000, help="frames of the memory run (0 = skip)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames at the start of each sequence")
    parser.add_argument("--threads", type=int, default=0, help="torch/OpenCV threads (0 = all cores)")
    parser.add_argument("--smoke", action="store_true", help="2 synthetic 30-frame sequences, no memory run")
    parser.add_argument("--json", help="write the numbers here too")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="tracker config overrides KEY VALUE ...")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------- frames
def load_sequences(args):
    """[(name, [RGB uint8 frames], [gt xywh])]: decoded once, shared by every row."""
    from PIL import Image

    if args.smoke or not args.sequences:
        from guided_tracking.data.synthetic import make_video

        count, frames_per = (2, 30) if args.smoke else (3, 150)
        out = []
        for i in range(count):
            frames, boxes, _, _ = make_video(np.random.default_rng(i), num_frames=frames_per, image_size_wh=(480, 360))
            out.append((f"synthetic{i}", [np.ascontiguousarray(f) for f in frames], [np.asarray(b) for b in boxes]))
            FOLDERS[f"synthetic{i}"] = None
        return out
    out = []
    for seq in load_folder(args.sequences):
        files = seq["file_names"][: args.max_frames or None]
        frames = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        out.append((seq["seq_name"], frames, [np.asarray(b, dtype=np.float64) for b in seq["boxes_xywh"]]))
        FOLDERS[seq["seq_name"]] = os.path.dirname(files[0]) if len(files) == len(seq["file_names"]) else None
    return out


def memory_frames(sequences, count):
    """The longest sequence played forward and back (motion stays continuous) to ``count`` frames."""
    name, frames, boxes = max(sequences, key=lambda s: len(s[1]))
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    index = [order[i % len(order)] for i in range(count)]
    return name, [frames[i] for i in index], boxes[0]


def proc_status_mib(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------- rows
def time_got10k_tracker(tracker, sequences, warmup, device="cpu", whole=None, redetect=None):
    """{sequence: [ms per update]} of a got10k tracker (PIL RGB frames, as got10k
    gives them), warm-up frames left out; ``whole`` (a dict) receives each
    sequence's frames/s over every frame, initialisation included, as got10k
    reports it; ``redetect`` (a dict) receives the times of the frames our tracker
    searched the whole frame in (TRACKER.REDETECT), which are then left out of the
    returned ones (the per-frame cost while the target is present)."""
    from PIL import Image

    out = {}
    for name, frames, boxes in sequences:
        images = [Image.fromarray(f) for f in frames]
        sync(device)
        start = time.perf_counter()
        tracker.init(images[0], boxes[0].copy())
        sync(device)
        init_ms = 1e3 * (time.perf_counter() - start)
        times, searched = [], []
        for image in images[1:]:
            sync(device)
            start = time.perf_counter()
            tracker.update(image)
            sync(device)
            times.append(1e3 * (time.perf_counter() - start))
            state = getattr(getattr(tracker, "tracker", None), "state", None)
            searched.append(bool(getattr(state, "redetected", False)))
        if whole is not None:
            whole[name] = 1e3 * len(images) / (init_ms + sum(times))
        out[name] = [t for t, s in zip(times[warmup:], searched[warmup:]) if redetect is None or not s]
        if redetect is not None:
            redetect[name] = [t for t, s in zip(times[warmup:], searched[warmup:]) if s]
    return out


def tracker_cfg(args):
    from guided_tracking.config import get_guided_cfg
    from guided_tracking.model_zoo import get_reference_cfg

    if args.config_file is None:
        cfg = get_reference_cfg()
    else:
        cfg = get_guided_cfg()
        cfg.merge_from_file(args.config_file)
    if args.weights:
        cfg.merge_from_list(["MODEL.WEIGHTS", args.weights])
    cfg.merge_from_list(list(args.opts))
    return cfg


def build_detector(cfg, with_rewrites: bool):
    """The unguided detector of a GuidedRCNN config (same body, RPN, ROI head and
    weights, without TGMs), as detectron2's GeneralizedRCNN; None for other models."""
    from detectron2.modeling import build_model

    from guided_tracking.engine.checkpoint import GuidedCheckpointer
    from guided_tracking.model_zoo import REFERENCE_WEIGHTS

    if cfg.MODEL.META_ARCHITECTURE != "GuidedRCNN":
        return None
    guided = build_model(cfg)
    GuidedCheckpointer(guided).load(cfg.MODEL.WEIGHTS or REFERENCE_WEIGHTS)
    plain_cfg = cfg.clone()
    plain_cfg.merge_from_list(["MODEL.META_ARCHITECTURE", "GeneralizedRCNN",
                               "MODEL.BACKBONE.NAME", cfg.MODEL.GUIDED.BACKBONE_NAME,
                               "MODEL.PROPOSAL_GENERATOR.NAME", "RPN", "MODEL.ROI_HEADS.NAME", "StandardROIHeads"])
    detector = build_model(plain_cfg).eval()
    state = {}
    for key, value in guided.state_dict().items():
        if key.startswith("backbone.tgms."):
            continue
        state[key.replace("backbone.body.", "backbone.", 1)] = value
    missing = detector.load_state_dict(state, strict=False)
    assert not missing.missing_keys, missing.missing_keys
    if with_rewrites:
        from guided_tracking.modeling import rewrites

        rewrites.fold_frozen_batchnorm(detector)
        rewrites.use_channels_last(detector)
        if hasattr(rewrites, "cache_anchor_grids"):
            rewrites.cache_anchor_grids(detector)
    return detector


def time_detector(detector, sequences, search_context, search_px, input_format, warmup, channels_last):
    """{sequence: [ms per frame]}: normalise + forward + NMS on a crop around the ground truth."""
    out = {}
    for name, frames, boxes in sequences:
        times = []
        for frame, box in zip(frames[1:], boxes[1:]):
            if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
                box = boxes[0]
            crop = search_geometry(box, search_context, search_px).crop_image(frame)  # RGB
            if input_format == "BGR":
                crop = crop[:, :, ::-1]
            tensor = torch.as_tensor(np.ascontiguousarray(crop.transpose(2, 0, 1)), device=detector.device)
            sync(detector.device)
            start = time.perf_counter()
            with torch.no_grad():
                images = detector.preprocess_image([{"image": tensor}])
                x = images.tensor.contiguous(memory_format=torch.channels_last) if channels_last else images.tensor
                features = detector.backbone(x)
                proposals, _ = detector.proposal_generator(images, features, None)
                detector.roi_heads(images, features, proposals, None)
            sync(detector.device)
            times.append(1e3 * (time.perf_counter() - start))
        out[name] = times[warmup:]
    return out


def time_video_path(adapter, name, frames, box_xywh, folder, out_dir):
    """``track_video`` (read the frames from disk, track, draw, encode the
    annotated video) on one sequence: (wall frames/s, tracker frames/s)."""
    from guided_tracking.evaluation.video import track_video

    if folder is None:  # frames made in memory: write them out as the user's folder would be
        import cv2

        folder = os.path.join(out_dir, name + "_frames")
        os.makedirs(folder, exist_ok=True)
        for i, frame in enumerate(frames):
            cv2.imwrite(os.path.join(folder, f"{i:08d}.jpg"), np.ascontiguousarray(frame[:, :, ::-1]))
    start = time.perf_counter()
    result = track_video(adapter, folder, box_xywh, os.path.join(out_dir, name))
    wall_fps = result["num_frames"] / (time.perf_counter() - start)
    return wall_fps, result["fps"]


# ---------------------------------------------------------------------------- cost split
class StageTimers:
    """Wraps the tracker's stages with timers (ms summed per stage); inner
    stages are subtracted from the ones that call them."""

    def __init__(self, device):
        self.device, self.ms = device, {}
        self.stack = []

    def wrap(self, owner, attr, stage):
        real = getattr(owner, attr)

        @functools.wraps(real)
        def timed(*a, **k):
            sync(self.device)
            self.stack.append(0.0)
            start = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                sync(self.device)
                elapsed = 1e3 * (time.perf_counter() - start)
                inner = self.stack.pop()
                self.ms[stage] = self.ms.get(stage, 0.0) + elapsed - inner
                if self.stack:
                    self.stack[-1] += elapsed

        setattr(owner, attr, timed)
        return real


@contextlib.contextmanager
def stage_timers(adapter):
    """Timers on a GuidedTracker's stages (restored on exit)."""
    import guided_tracking.tracking.tracker as tracker_module

    tracker, model = adapter.tracker, adapter.tracker.model
    timers = StageTimers(tracker.device)
    patched = [(CropGeometry, "crop_image", "crop"), (tracker, "_to_tensor", "crop"),
               (model, "normalize", "crop"), (model.backbone.body, "forward", "backbone"),
               (model, "detect", "ROI head / SSD head")]
    patched += [(tgm, "apply", "TGM") for tgm in model.backbone.tgms.values()]
    if tracker.per_frame is not None:  # ONNX Runtime: backbone, TGMs and RPN head in one call
        patched.append((tracker.per_frame, "features", "per-frame network (ONNX Runtime)"))
    if hasattr(model, "proposal_generator"):
        patched.append((model.proposal_generator, "forward", "RPN"))
    patched += [(tracker_module, "localize", "localisation"), (tracker_module, "update_state", "localisation"),
                (tracker_module, "clamp_target_side", "localisation"),
                (model, "tracking_samples", "sample collection"), (tracker_module, "anchored_update", "updates")]
    saved = [(owner, attr, timers.wrap(owner, attr, stage)) for owner, attr, stage in patched]
    try:
        yield timers
    finally:
        for owner, attr, real in reversed(saved):
            if owner is CropGeometry or owner is tracker_module:
                setattr(owner, attr, real)
            else:
                delattr(owner, attr)  # the instance attribute hid the class's method


def cost_split(adapter, sequences, warmup):
    """Mean ms per frame of each stage over the sequences (after warm-up frames)."""
    from PIL import Image

    totals, frames_timed, total_ms = {}, 0, 0.0
    for name, frames, boxes in sequences:
        adapter.init(Image.fromarray(frames[0]), boxes[0].copy())
        images = [Image.fromarray(f) for f in frames[1:]]
        for i, image in enumerate(images):
            with stage_timers(adapter) as timers:
                start = time.perf_counter()
                adapter.update(image)
                sync(adapter.tracker.device)
                elapsed = 1e3 * (time.perf_counter() - start)
            if i >= warmup:
                frames_timed += 1
                total_ms += elapsed
                for stage, ms in timers.ms.items():
                    totals[stage] = totals.get(stage, 0.0) + ms
    split = {k: v / frames_timed for k, v in totals.items()}
    split["other (tracker code, conversions)"] = total_ms / frames_timed - sum(split.values())
    return split, total_ms / frames_timed


def memory_run(adapter, sequences, count):
    from PIL import Image

    name, frames, box = memory_frames(sequences, count)
    marks = {1, count // 4, count // 2, count}
    # The process already holds every decoded frame of the run: what the tracker
    # adds is the growth over this row.
    rows = [{"frames": 0, "rss_mib": proc_status_mib("VmRSS"), "peak_rss_mib": proc_status_mib("VmHWM")}]
    device = adapter.tracker.device
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i, frame in enumerate(frames, start=1):
        image = Image.fromarray(frame)
        if i == 1:
            adapter.init(image, box.copy())
        else:
            adapter.update(image)
        if i in marks:
            row = {"frames": i, "rss_mib": proc_status_mib("VmRSS"), "peak_rss_mib": proc_status_mib("VmHWM"),
                   "samples_held": len(adapter.tracker.state.memory), "s": time.perf_counter() - start}
            if torch.device(device).type == "cuda":
                row["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
            rows.append(row)
    return name, rows


# ---------------------------------------------------------------------------- main
def summarize(times_by_seq):
    per_seq = {k: statistics.fmean(v) for k, v in times_by_seq.items() if v}
    every = [t for v in times_by_seq.values() for t in v]
    return {"ms_per_frame": statistics.fmean(every), "median_ms": statistics.median(every),
            "fps": 1e3 / statistics.fmean(every), "per_sequence_fps": {k: 1e3 / v for k, v in per_seq.items()},
            "frames": len(every)}


def main(argv=None):
    args = parse_args(argv)
    if args.smoke:
        args.memory_frames, args.warmup = 0, 2
    try:
        from guided_tracking.tracking.threads import configure_threads
    except ImportError:  # a checkout from before the module (to measure "before" with this script)
        def configure_threads(threads=None):
            torch.set_num_threads(threads or os.cpu_count())
            return torch.get_num_threads()
    num_threads = configure_threads(threads=args.threads or None)
    cfg = tracker_cfg(args)
    cfg.freeze()
    sequences = load_sequences(args)
    rows = [r.strip() for r in args.trackers.split(",") if r.strip()]
    commit = os.popen(f"git -C {REPO_ROOT} rev-parse --short HEAD 2>/dev/null").read().strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{num_threads} threads; device {cfg.MODEL.DEVICE}; code {commit or '?'}; "
          f"load average {os.getloadavg() if hasattr(os, 'getloadavg') else '?'}")
    print(f"config {args.config_file or '(reference model)'}; weights {cfg.MODEL.WEIGHTS or '(reference model)'}; "
          f"search {cfg.INPUT.GUIDED.SEARCH_SIZE} px; sequences: "
          + ", ".join(f"{n} ({len(f)} frames, {f[0].shape[1]}x{f[0].shape[0]})" for n, f, _ in sequences))
    results = {"commit": commit, "threads": num_threads, "config": args.config_file, "rows": {}}

    adapter = None
    if "ours" in rows:
        opts = list(args.opts) + (["MODEL.WEIGHTS", args.weights] if args.weights else [])
        adapter = make_got10k_tracker(args.config_file, tuple(opts), "ours", device=cfg.MODEL.DEVICE)
        whole_fps, searched = {}, {}
        results["rows"]["ours"] = summarize(time_got10k_tracker(adapter, sequences, args.warmup, cfg.MODEL.DEVICE,
                                                                whole_fps, searched))
        results["rows"]["ours"]["per_sequence_fps_with_init"] = whole_fps
        if any(searched.values()):  # TRACKER.REDETECT: whole-frame search frames as a row of their own
            results["rows"]["ours, re-detection frames"] = summarize(searched)
    if "video" in rows and adapter is not None:
        import tempfile

        name, frames, boxes = sequences[0]
        video_adapter = make_got10k_tracker(args.config_file, tuple(opts), "ours", device=cfg.MODEL.DEVICE)
        with tempfile.TemporaryDirectory() as tmp:
            wall_fps, tracker_fps = time_video_path(video_adapter, name, frames, boxes[0], FOLDERS.get(name), tmp)
        # Like for like: every frame, initialisation included, on both paths.
        bench_fps = results["rows"]["ours"]["per_sequence_fps_with_init"][name]
        results["video_path"] = {"sequence": name, "wall_fps": wall_fps, "tracker_fps": tracker_fps,
                                 "benchmark_fps": bench_fps, "wall_over_benchmark": wall_fps / bench_fps}
    if "detector" in rows:
        for label, rewrites in (("detector", False), ("detector+rewrites", True)):
            detector = build_detector(cfg, rewrites)
            if detector is None:
                print(f"{label}: only for two-stage (GuidedRCNN) configs; skipped")
                break
            results["rows"][label] = summarize(time_detector(
                detector, sequences, cfg.INPUT.GUIDED.SEARCH_CONTEXT, cfg.INPUT.GUIDED.SEARCH_SIZE,
                cfg.INPUT.FORMAT, args.warmup, rewrites))
    adapters = {"ours": adapter} if adapter is not None else {}
    if "ours-ort" in rows:
        opts = list(args.opts) + (["MODEL.WEIGHTS", args.weights] if args.weights else [])
        ort_adapter = make_got10k_tracker(args.config_file, tuple(opts) + ("TRACKER.BACKEND", "onnxruntime"),
                                          "ours-ort", device=cfg.MODEL.DEVICE)
        if ort_adapter.tracker.per_frame is None:
            print("ours-ort: onnxruntime is not available (see the warning above); skipped")
        else:
            adapters["ours-ort"] = ort_adapter
            results["rows"]["ours-ort"] = summarize(time_got10k_tracker(ort_adapter, sequences, args.warmup,
                                                                        cfg.MODEL.DEVICE))
    if "csrt" in rows:
        _, factory = baseline_factory("csrt")
        results["rows"]["CSRT"] = summarize(time_got10k_tracker(factory(), sequences, args.warmup))
    if "nano" in rows:
        nano_dir = args.nanotrack_dir or os.environ.get("GUIDED_TRACKING_NANOTRACK_DIR") or \
            os.path.join(REPO_ROOT, "..", "shared", "models", "nanotrack")
        try:
            _, factory = baseline_factory("nano", nano_dir)
            results["rows"]["NanoTrack v2"] = summarize(time_got10k_tracker(factory(), sequences, args.warmup))
        except (FileNotFoundError, ImportError, KeyError) as e:
            print(f"nano: skipped ({e.args[0] if e.args else e})")

    names = [n for n, _, _ in sequences]
    print("\n| row | " + " | ".join(f"{n} fps" for n in names) + " | mean ms/frame | median ms | fps |")
    print("|---|" + "---|" * (len(names) + 3))
    for row, r in results["rows"].items():
        print(f"| {row} | " + " | ".join(f"{r['per_sequence_fps'].get(n, float('nan')):.1f}" for n in names)
              + f" | {r['ms_per_frame']:.2f} | {r['median_ms']:.2f} | {r['fps']:.1f} |")
    for label in ("detector", "detector+rewrites", "CSRT"):
        for ours in ("ours", "ours-ort"):
            if ours in results["rows"] and label in results["rows"]:
                ratio = results["rows"][ours]["ms_per_frame"] / results["rows"][label]["ms_per_frame"]
                results[f"{ours}_over_{label}"] = ratio
                print(f"{ours} / {label} per-frame time: {ratio:.3f}x")

    if "video_path" in results:
        v = results["video_path"]
        print(f"video path (track_video: read from disk, track, draw, encode) on {v['sequence']}: "
              f"{v['wall_fps']:.1f} frames/s wall-clock (tracker alone {v['tracker_fps']:.1f}) vs "
              f"{v['benchmark_fps']:.1f} on the benchmark path (ours row, every frame, initialisation "
              f"included): {v['wall_over_benchmark']:.2f}x")
    for label, row_adapter in adapters.items():
        if not hasattr(row_adapter, "tracker"):
            continue
        split, total = cost_split(row_adapter, sequences, args.warmup)
        results["cost_split_ms" if label == "ours" else f"cost_split_ms_{label}"] = split
        print(f"\nCost split of {label} (timers around each stage, so {total:.2f} ms/frame here):")
        for stage, ms in sorted(split.items(), key=lambda kv: -kv[1]):
            print(f"  {stage:34s} {ms:6.2f} ms  {100 * ms / total:5.1f} %")
        if args.memory_frames > 0:
            name, mem = memory_run(row_adapter, sequences, args.memory_frames)
            results["memory" if label == "ours" else f"memory_{label}"] = {"sequence": name, "rows": mem}
            print(f"\nMemory of {label} over {args.memory_frames} frames ({name} forward and back):")
            for r in mem:
                print("  " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    if args.json:
        from guided_tracking.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
