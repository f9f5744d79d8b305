#!/usr/bin/env python
"""Triplet data-loader throughput vs. the rate at which training consumes triplets.

    python bench/bench_loader.py                      # CPU config, 2 loader workers
    python bench/bench_loader.py --workers 4 --steps 5 SOLVER.IMS_PER_BATCH 16

Measures, on the config of ``configs/CPU/guided_rcnn_mnv2_FPN.yaml`` (search
region 256 px, exemplars 64/128 px, IMS_PER_BATCH 8) and synthetic videos:

1. loader: triplets/s that ``build_triplet_train_loader`` delivers with
   DATALOADER.NUM_WORKERS workers (model idle);
2. model: triplets/s of GuidedRCNN training steps (forward with the MAML inner
   loop, backward, SGD step) on pre-loaded batches (loader idle);
3. in the loop: both together, as in training -- the fraction of each step spent
   waiting for the next batch (detectron2's ``data_time``).

The loader is not the bottleneck when (1) / (2) is well above 1 and (3) is small.
"""
import argparse
import logging
import os
import statistics
import sys
import tempfile
import time

import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import guided_tracking  # noqa: E402,F401  (registers everything)
from detectron2.modeling import build_model  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402
from guided_tracking import get_guided_cfg  # noqa: E402
from guided_tracking.data.build import build_triplet_train_loader, ensure_synthetic_datasets  # noqa: E402
from guided_tracking.engine import GuidedTrainer  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=os.path.join(REPO_ROOT, "configs", "CPU", "guided_rcnn_mnv2_FPN.yaml"))
    parser.add_argument("--data-root", default=os.path.join(tempfile.gettempdir(), "guided_tracking_bench"),
                        help="DATASETS.ROOT; synthetic/train is generated there if missing")
    parser.add_argument("--videos", type=int, default=8, help="synthetic training videos")
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    parser.add_argument("--size", type=int, nargs=2, default=[320, 240], metavar=("W", "H"))
    parser.add_argument("--workers", type=int, default=2, help="DATALOADER.NUM_WORKERS")
    parser.add_argument("--loader-batches", type=int, default=40, help="batches timed for the loader alone")
    parser.add_argument("--steps", type=int, default=5, help="training steps timed (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads of the training process (0: default)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    return parser.parse_args(argv)


def build_cfg(args):
    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list([
        "DATASETS.ROOT", args.data_root, "DATASETS.TRAIN", ("synthetic_train",), "DATASETS.TEST", (),
        "DATASETS.SYNTHETIC.TRAIN_VIDEOS", args.videos, "DATASETS.SYNTHETIC.FRAMES", args.frames,
        "DATASETS.SYNTHETIC.SIZE", list(args.size), "DATALOADER.NUM_WORKERS", args.workers, "SEED", 0,
    ])
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    return cfg


def loader_rate(cfg, num_batches):
    """Triplets/s of the loader alone (after its workers started and filled their queue)."""
    it = iter(build_triplet_train_loader(cfg))
    for _ in range(2 * max(cfg.DATALOADER.NUM_WORKERS, 1)):  # start-up, first reads
        next(it)
    start = time.perf_counter()
    count = sum(len(next(it)) for _ in range(num_batches))
    return count / (time.perf_counter() - start)


def train_step(model, optimizer, batch):
    losses = model(batch)
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def model_step_times(model, optimizer, batches):
    """Seconds of each training step on batches already in memory (after a warm-up step)."""
    train_step(model, optimizer, batches[0])
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        train_step(model, optimizer, batch)
        times.append(time.perf_counter() - start)
    return times


def in_loop(cfg, model, optimizer, steps):
    """Training steps fed by the live loader: seconds per step and seconds waiting for data."""
    it = iter(build_triplet_train_loader(cfg, start_iter=1000))
    train_step(model, optimizer, next(it))  # warm-up: workers start
    step_times, waits = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        train_step(model, optimizer, batch)
        waits.append(t1 - t0)
        step_times.append(time.perf_counter() - t0)
    return step_times, waits


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = build_cfg(args)
    ensure_synthetic_datasets(cfg)
    batch = cfg.SOLVER.IMS_PER_BATCH
    print(f"config: {os.path.relpath(args.config_file, REPO_ROOT)}  SEARCH_SIZE {cfg.INPUT.GUIDED.SEARCH_SIZE}  "
          f"EXEMPLAR_SIZES {list(cfg.MODEL.GUIDED.EXEMPLAR_SIZES)}  IMS_PER_BATCH {batch}  "
          f"backbone {cfg.MODEL.GUIDED.BACKBONE_NAME}")
    print(f"data: {args.videos} synthetic videos x {args.frames} frames of {args.size[0]}x{args.size[1]} "
          f"in {args.data_root}")
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.get_num_threads()} threads; "
          f"loader: {cfg.DATALOADER.NUM_WORKERS} workers")

    loader = loader_rate(cfg, args.loader_batches)
    print(f"loader alone : {loader:8.1f} triplets/s  ({args.loader_batches} batches of {batch})")

    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    optimizer = GuidedTrainer.build_optimizer(cfg, model)
    serial = cfg.clone()
    serial.defrost()
    serial.DATALOADER.NUM_WORKERS = 0
    it = iter(build_triplet_train_loader(serial))
    batches = [next(it) for _ in range(args.steps + 1)]
    with EventStorage(0):
        times = model_step_times(model, optimizer, batches)
        step = statistics.median(times)
        consume = batch / step
        print(f"model alone  : {consume:8.2f} triplets/s  (median of {len(times)} GuidedRCNN training steps: "
              f"{step:.2f} s/step, range {min(times):.2f}-{max(times):.2f} s)")
        ratio = loader / consume
        print(f"ratio loader / model: {ratio:.1f}x -> "
              + ("the loader is NOT the bottleneck" if ratio > 1.0 else "the loader IS the bottleneck"))
        step_times, waits = in_loop(cfg, model, optimizer, args.steps)
        print(f"in the loop  : median {statistics.median(step_times):.2f} s/step, {1000 * max(waits):.0f} ms at most "
              f"waiting for a batch ({100 * sum(waits) / sum(step_times):.1f}% of the time; {args.steps} steps, "
              f"loader workers and model sharing the CPUs)")
    return ratio


if __name__ == "__main__":
    main()
