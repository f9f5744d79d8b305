"""The main job, end to end on a CPU (``make demo``): both halves, training and tracking.

1. generate synthetic train/val/test videos (GOT-10k layout, deterministic);
2. train the CPU config (MobileNetV2-FPN, ImageNet weights; ``--config-file``
   picks another, e.g. the one-stage configs/CPU/guided_ssd_mnv2_FPN.yaml) briefly
   (``--train-iters``, seeded) -- skipped when the checkpoint exists, so a
   rerun reuses it; this shows the training half, it is not the model to use;
3. track the synthetic test videos and any real sequences folder with the
   shipped reference model (``guided_tracking/model_zoo``), the short demo
   training, OpenCV's CSRT and KCF and, when its ONNX files are found,
   NanoTrack v2, all with the got10k toolkit's metrics;
4. print one result table per set, write success/precision plots and one
   annotated video (reference model).

    python -m guided_tracking.demo --output demo_output --sequences ../shared/data/sequences \
        --nanotrack-dir ../shared/models/nanotrack
"""
import argparse
import functools
import logging
import os
import sys

import torch
from detectron2.utils.logger import setup_logger

from .config import get_guided_cfg
from .data.build import ensure_synthetic_datasets
from .data.datasets import load_folder
from .engine.trainer import GuidedTrainer
from .evaluation.baselines import NANOTRACK_ENV, baseline_factory
from .evaluation.benchmark import plot_curves, print_table, run_benchmark
from .evaluation.video import track_video
from .model_zoo.reference import REFERENCE_WEIGHTS, file_sha256
from .tracking.build import make_got10k_tracker

logger = logging.getLogger("guided_tracking")

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "configs", "CPU", "guided_rcnn_mnv2_FPN.yaml")


def demo_model_dir(config_file, output_dir) -> str:
    """<output>/model for the default config, <output>/model_<config name> for another
    (e.g. the one-stage configs/CPU/guided_ssd_mnv2_FPN.yaml), so no run reuses the
    checkpoint of another architecture."""
    if os.path.abspath(config_file) == DEFAULT_CONFIG:
        return os.path.join(output_dir, "model")
    return os.path.join(output_dir, "model_" + os.path.splitext(os.path.basename(config_file))[0])


def demo_config(config_file, output_dir, minutes, opts=(), train_iters=None):
    cfg = get_guided_cfg()
    cfg.merge_from_file(config_file)
    overrides = [
        "DATASETS.ROOT", os.path.join(output_dir, "data"),
        "DATASETS.TEST", ("synthetic_val", "synthetic_test"),
        "OUTPUT_DIR", demo_model_dir(config_file, output_dir),
        "SOLVER.MAX_MINUTES", float(minutes),
    ]
    if train_iters:
        overrides += ["SOLVER.MAX_ITER", int(train_iters),
                      "SOLVER.WARMUP_ITERS", min(cfg.SOLVER.WARMUP_ITERS, max(int(train_iters) // 5, 1))]
    cfg.merge_from_list(overrides + list(opts))
    return cfg


def _sha8(path) -> str:
    if not os.path.isfile(path):
        raise SystemExit(f"weights {path!r} do not exist")
    return file_sha256(path)[:8]


def train_if_needed(cfg) -> str:
    """Path of the trained checkpoint; trains only when it does not exist yet."""
    final = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    if os.path.isfile(final):
        logger.info(f"Reusing trained model {final} (delete it to train again)")
        return final
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    logger.info(f"Training for up to {cfg.SOLVER.MAX_MINUTES} min (SOLVER.MAX_MINUTES) -> {cfg.OUTPUT_DIR}")
    trainer = GuidedTrainer(cfg)
    trainer.resume_or_load(resume=True)  # an interrupted demo continues its training
    trainer.train()
    return final


def evaluate(name_to_factory, benchmark_dirs, output_dir, num_workers=1):
    """Run every tracker on every sequence folder; print one table per folder."""
    all_reports = {}
    for label, root in benchmark_dirs.items():
        reports = {}
        for name, factory in name_to_factory.items():
            out = os.path.join(output_dir, "eval", label)
            reports[name] = run_benchmark(factory, "folder", root, out, name, num_workers=num_workers)
        print(f"\n=== {label}: {root} ===")
        print_table(reports)
        plot_curves(reports, os.path.join(output_dir, "eval", label, "plots"))
        all_reports[label] = reports
    return all_reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="demo_output")
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--sequences", help="folder of real sequences (OTB or GOT-10k layout) to track too")
    parser.add_argument("--train-iters", type=int, default=150,
                        help="iterations of the demo training (SOLVER.MAX_ITER; 150 take ~4 min here; 0 keeps the "
                             "config's 450)")
    parser.add_argument("--minutes", type=float, default=20.0,
                        help="safety budget (SOLVER.MAX_MINUTES); the iteration count normally ends training "
                             "first, so the seeded run and its printed numbers reproduce")
    parser.add_argument("--weights", help="main tracker's weights (default: the shipped reference model)")
    parser.add_argument("--nanotrack-dir", metavar="DIR",
                        help=f"NanoTrack v2 ONNX folder: adds its row (default: ${NANOTRACK_ENV})")
    parser.add_argument("--num-workers", type=int, default=1, help="tracking processes")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    setup_logger(name="detectron2", abbrev_name="d2")
    output_dir = os.path.abspath(args.output)

    cfg = demo_config(args.config_file, output_dir, args.minutes, args.opts, args.train_iters)
    ensure_synthetic_datasets(cfg)
    demo_weights = train_if_needed(cfg)

    # Main row: the reference model (its own config and weights) unless --weights. The
    # row is named by the weights' checksum: finished result files are reused by name,
    # so other weights (or an older demo's "GuidedRCNN" row) never pass for these.
    arch = cfg.MODEL.META_ARCHITECTURE  # GuidedRCNN (two-stage) or GuidedSSD (one-stage)
    if args.weights:
        main_name = f"{arch}-{_sha8(args.weights)}"
        opts = ("MODEL.WEIGHTS", os.path.abspath(args.weights)) + tuple(args.opts)
        main_factory = functools.partial(make_got10k_tracker, args.config_file, opts, main_name)
    else:
        main_name = f"GuidedRCNN-reference-{_sha8(REFERENCE_WEIGHTS)}"
        main_factory = functools.partial(make_got10k_tracker, None, tuple(args.opts), main_name)
    # Name the demo model by the iterations it actually has (a rerun may reuse an older one).
    demo_iters = int(torch.load(demo_weights, map_location="cpu", weights_only=False).get("iteration", -1)) + 1
    demo_name = f"{arch}-demo{demo_iters}it"
    factories = {
        main_name: main_factory,
        demo_name: functools.partial(make_got10k_tracker, args.config_file,
                                     ("MODEL.WEIGHTS", demo_weights) + tuple(args.opts), demo_name),
    }
    for key in ("csrt", "kcf"):
        name, factory = baseline_factory(key)
        factories[name] = factory
    nano_missing = None
    try:
        name, factory = baseline_factory("nano", args.nanotrack_dir)
        factories[name] = factory
    except (FileNotFoundError, ImportError) as e:
        nano_missing = str(e)
        logger.info(f"No NanoTrack v2 row: {e}")
    logger.info("Trackers: " + ", ".join(factories) + f" ({main_name} = "
                f"{args.weights or 'the reference model, guided_tracking/model_zoo/MODEL_CARD.md'}; "
                f"{demo_name} = this demo's {demo_iters}-iteration training)")
    benchmark_dirs = {"synthetic_test": os.path.join(cfg.DATASETS.ROOT, "synthetic", "test")}
    if args.sequences:
        if not os.path.isdir(args.sequences):
            raise SystemExit(f"--sequences {args.sequences}: no such folder")
        benchmark_dirs["real"] = os.path.abspath(args.sequences)
    evaluate(factories, benchmark_dirs, output_dir, args.num_workers)

    # One annotated video: the first real sequence if given, else a synthetic one.
    seq = load_folder(benchmark_dirs.get("real", benchmark_dirs["synthetic_test"]))[0]
    video_dir = os.path.join(output_dir, "video", seq["seq_name"])
    result = track_video(factories[main_name](), os.path.dirname(seq["file_names"][0]), seq["boxes_xywh"][0],
                         video_dir, write_confidence=True)
    print(f"\nAnnotated video: {result['video_path']} ({result['num_frames']} frames, tracker "
          f"{result['fps']:.1f} fps, {result['wall_fps']:.1f} fps with reading, drawing and writing)")
    print(f"Plots and reports: {os.path.join(output_dir, 'eval')}")
    if nano_missing:
        print(f"No NanoTrack v2 row: {nano_missing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
