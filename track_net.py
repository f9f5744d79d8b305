#!/usr/bin/env python
"""Track with a guided detector: benchmarks, videos, image folders, webcam.

Without --config-file and MODEL.WEIGHTS the shipped reference model is used
(guided_tracking/model_zoo/MODEL_CARD.md); the log names the weights in use:
    python track_net.py --video in.mp4 --init-box 10,20,50,80 --output out/
    python track_net.py --benchmark folder --root ../shared/data/sequences --baselines csrt,kcf,nano \
        --nanotrack-dir ../shared/models/nanotrack

Benchmarks (got10k toolkit metrics, result files, report.json, plots; reruns resume):
    python track_net.py --config-file configs/CPU/guided_rcnn_mnv2_FPN.yaml \\
        --benchmark folder --root ../shared/data/sequences --output output/eval \\
        MODEL.WEIGHTS output/guided_rcnn_mnv2_FPN_cpu/model_final.pth
    python track_net.py --config-file ... --benchmark otb2015 --root /data/OTB --num-workers 4 \\
        --devices cuda:0,cuda:1 MODEL.DEVICE cuda MODEL.WEIGHTS ...
Many machines (torch.distributed through detectron2's launch; every rank tracks a
share of the sequences, balanced by frames, and writes its result files; rank 0
scores and writes the one report): on each of M machines
    python track_net.py --benchmark lasot --root /data/LaSOT --num-gpus 8 --num-machines M \\
        --machine-rank R --dist-url tcp://HOST0:PORT MODEL.DEVICE cuda MODEL.WEIGHTS ...
(CPU processes: leave MODEL.DEVICE cpu, gloo). A rank that dies stops the others
(after the process group's timeout across machines); rerun the same command: it
resumes from the result files.
A sequence that cannot be loaded or tracked is listed (file, line, what is wrong) at
the end and in report.json ("failures"); the others are tracked and scored. Exit
status: 0 every sequence tracked, 1 some sequence failed, 2 bad arguments.
--strict stops at the first defect instead; --debug logs tracebacks.
One video / folder / webcam:
    python track_net.py --config-file ... --video in.mp4 --init-box 10,20,50,80 --output out/ MODEL.WEIGHTS ...
"""
import argparse
import functools
import json
import logging
import sys

import guided_tracking  # noqa: F401
from guided_tracking import get_guided_cfg
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from guided_tracking.engine.launch import exit_with_parent, launch
from guided_tracking.evaluation.baselines import NANOTRACK_ENV, baseline_factory
from guided_tracking.evaluation.benchmark import BENCHMARKS, plot_curves, print_table, run_benchmark
from guided_tracking.io import atomic_write_json
from guided_tracking.evaluation.reports import format_runs_table, runs_report
from guided_tracking.evaluation.video import parse_box_arg, track_video
from guided_tracking.model_zoo import get_reference_cfg
from guided_tracking.tracking.build import make_got10k_tracker
from guided_tracking.tracking.threads import configure_threads

logger = logging.getLogger("guided_tracking")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", metavar="FILE",
                        help="default: the reference model's config (its weights load when MODEL.WEIGHTS is empty)")
    parser.add_argument("--name", default=None,
                        help="tracker name in result folders and tables (default: the config's "
                             "MODEL.META_ARCHITECTURE, GuidedRCNN or GuidedSSD)")
    parser.add_argument("--output", default="output/tracking", help="output folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--benchmark", choices=BENCHMARKS)
    source.add_argument("--video", metavar="FILE")
    source.add_argument("--images", metavar="DIR", help="folder of frames, sorted by name")
    source.add_argument("--webcam", nargs="?", const=0, type=int, metavar="ID")
    parser.add_argument("--root", help="dataset root for --benchmark")
    parser.add_argument("--num-workers", type=int, default=1,
                        help="tracking processes on this machine (the same as --num-gpus on CPU)")
    parser.add_argument("--devices", help="comma separated devices, local rank i uses the i-th, e.g. cuda:0,cuda:1")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine (one per GPU with "
                        "MODEL.DEVICE cuda), as detectron2's tools")
    parser.add_argument("--num-machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0, help="the rank of this machine")
    parser.add_argument("--dist-url", default="auto", help="tcp://HOST:PORT of machine 0 (auto: one machine)")
    parser.add_argument("--baselines", default="",
                        help="also evaluate OpenCV trackers: csrt, kcf, nano (NanoTrack v2), e.g. csrt,kcf,nano")
    parser.add_argument("--nanotrack-dir", metavar="DIR",
                        help=f"folder with NanoTrack v2's ONNX files for --baselines nano (default: ${NANOTRACK_ENV})")
    parser.add_argument("--visualize", action="store_true", help="write annotated benchmark frames")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first defect in the data (default: list each sequence that cannot be "
                             "loaded or tracked, track the others; exit status 1 if any failed)")
    parser.add_argument("--debug", action="store_true", help="log tracebacks of failed sequences")
    parser.add_argument("--runs", type=int, default=1, metavar="K",
                        help="track each sequence K times with seeds 0..K-1 (SEED: the first-frame augmentation) "
                             "and report mean ± std")
    parser.add_argument("--attributes", metavar="CSV_OR_DIR",
                        help="per-attribute success/precision from these labels (CSV 'sequence,IV;OCC;...' or a "
                             "0/1 table; UAV123's anno/UAV123/att is found by itself)")
    parser.add_argument("--init-box", help="x,y,w,h of the target in the first frame (video/images/webcam)")
    parser.add_argument("--confidence", action="store_true", help="add a confidence column to boxes.txt")
    parser.add_argument("--show", action="store_true", help="display frames while tracking")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS path")
    return parser


def run_benchmarks(args) -> int:
    if not args.root:
        raise SystemExit("--benchmark needs --root DIR (the dataset folder)")
    if args.runs < 1:
        raise SystemExit(f"--runs must be >= 1, got {args.runs}")
    procs = max(args.num_gpus, args.num_workers)
    if args.num_machines > 1 or args.num_gpus > 1:
        cfg = get_reference_cfg() if args.config_file is None else get_guided_cfg()
        if args.config_file is not None:
            cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(list(args.opts))
        device = "cuda" if cfg.MODEL.DEVICE.startswith("cuda") else "cpu"
        launch(_distributed_main, procs, args.num_machines, args.machine_rank, args.dist_url, args=(args, device),
               device=device)
        if args.machine_rank != 0:
            return 0
        # Rank 0 wrote every report; the exit status comes from them.
        failed = []
        for name in _tracker_names(args):
            with open(f"{args.output}/reports/{args.benchmark}/{name}/report.json") as f:
                failed += json.load(f)["failed"]
        return 1 if failed else 0
    return _run_benchmarks(args, num_workers=args.num_workers)


def _tracker_names(args):
    runs = [args.name] if args.runs == 1 else [f"{args.name}-run{k}" for k in range(args.runs)]
    return runs + [baseline_factory(key, args.nanotrack_dir)[0] for key in filter(None, args.baselines.split(","))]


def _distributed_main(args, device):
    """One rank of ``--num-gpus`` / ``--num-machines``: the same benchmarks, this rank's share."""
    exit_with_parent()
    for name, abbrev in (("guided_tracking", "gt"), ("detectron2", "d2")):
        setup_logger(args.output, distributed_rank=comm.get_rank(), name=name, abbrev_name=abbrev)
    configure_threads(comm.get_local_size())
    if device == "cuda" and not args.devices:
        args.devices = f"cuda:{comm.get_local_rank()}"
    _run_benchmarks(args, num_workers=1)


def _run_benchmarks(args, num_workers: int) -> int:
    devices = args.devices.split(",") if args.devices else None
    # Resolve the baselines first: a missing NanoTrack file stops the run before anything is tracked.
    baselines = []
    for key in filter(None, args.baselines.split(",")):
        try:
            baselines.append(baseline_factory(key, args.nanotrack_dir))
        except (KeyError, FileNotFoundError, ImportError) as e:
            raise SystemExit(f"--baselines: {e.args[0] if e.args else e}")
    common = dict(num_workers=num_workers, strict=args.strict, attributes=args.attributes)
    reports, runs = {}, []
    for k in range(args.runs):
        # One result folder per run (reruns resume each); run k tracks with SEED k.
        name = args.name if args.runs == 1 else f"{args.name}-run{k}"
        opts = tuple(args.opts) + (() if args.runs == 1 else ("SEED", str(k)))
        factory = functools.partial(make_got10k_tracker, args.config_file, opts, name)
        reports[name] = run_benchmark(factory, args.benchmark, args.root, args.output, name, devices=devices,
                                      visualize=args.visualize, **common)
        runs.append(reports[name])
    if not comm.is_main_process():  # other ranks tracked their share; rank 0 reports
        for name, baseline in baselines:
            run_benchmark(baseline, args.benchmark, args.root, args.output, name, **common)
        return 0
    if args.runs > 1:
        summary = runs_report(runs)
        atomic_write_json(f"{args.output}/reports/{args.benchmark}/{args.name}-runs{args.runs}.json", summary)
        print("\n" + format_runs_table(args.name, summary))
    for name, baseline in baselines:
        reports[name] = run_benchmark(baseline, args.benchmark, args.root, args.output, name, **common)
    if len(reports) > 1 and all(r.get("overall") for r in reports.values()):
        print_table(reports)
        plot_curves(reports, f"{args.output}/reports/{args.benchmark}/comparison")
    return 1 if any(r["failed"] for r in reports.values()) else 0


def run_single(args) -> int:
    source = args.video or args.images or args.webcam
    init_box = parse_box_arg(args.init_box) if args.init_box else None
    configure_threads(1)
    tracker = make_got10k_tracker(args.config_file, tuple(args.opts), args.name)
    result = track_video(tracker, source, init_box, args.output, write_confidence=args.confidence, show=args.show)
    print(f"{result['num_frames']} frames at {result['fps']:.1f} fps (tracker; {result['wall_fps']:.1f} fps "
          f"with reading, drawing and writing) -> {result['video_path']}, {result['boxes_path']}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.name is None:
        cfg = get_reference_cfg() if args.config_file is None else get_guided_cfg()
        if args.config_file is not None:
            cfg.merge_from_file(args.config_file)
        args.name = cfg.MODEL.META_ARCHITECTURE
    for name, abbrev in (("guided_tracking", "gt"), ("detectron2", "d2")):
        for handler in setup_logger(name=name, abbrev_name=abbrev).handlers:
            handler.setLevel(logging.DEBUG if args.debug else logging.INFO)  # tracebacks only with --debug
    return run_benchmarks(args) if args.benchmark else run_single(args)


if __name__ == "__main__":
    sys.exit(main())
