#!/usr/bin/env python
"""Paper Table 1 ablations on synthetic videos, from one command (``make ablations``).

Rows (all on the same sequences, got10k toolkit metrics):
  full            the demo model: meta-learned θ_0, anchored updating, cls+reg
                  fine-tuning, multi-resolution guidance
  GD              a guided detector trained WITHOUT the inner loop
                  (MODEL.META.ENABLED False, same budget), fine-tuned online by
                  plain gradient descent; its steps/step size are picked on the
                  validation videos (paper 4.2 does the same on 10 OTB-2015 videos)
  no-anchor       TRACKER.ANCHOR_WEIGHT 0 (θ_t = f(θ_{t-1}) only, Eq. 4 with λ = 0)
  no-reg          MODEL.META.ADAPT_REGRESSION False (only cls_score adapts)
  single-res      MODEL.GUIDED.EXEMPLAR_SIZES [128]: one exemplar for all levels

    python bench/ablations.py --output demo_output/ablations --split val
"""
import argparse
import functools
import json
import os
import sys

# Runnable as `python bench/<script>.py` from a clone (the package is not installed).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from detectron2.utils.logger import setup_logger  # noqa: E402

import guided_tracking  # noqa: E402,F401
from guided_tracking.demo import DEFAULT_CONFIG, demo_config, train_if_needed
from guided_tracking.data.build import ensure_synthetic_datasets
from guided_tracking.evaluation.benchmark import print_table, run_benchmark
from guided_tracking.tracking.build import make_got10k_tracker

# GD grid searched on the validation split: (TRACKER.INIT_STEPS, TRACKER.STEP_SIZE).
GD_GRID = [(5, 0.05), (10, 0.01), (20, 0.005)]

ROWS = {
    "full": (),
    "no-anchor": ("TRACKER.ANCHOR_WEIGHT", "0.0"),
    "no-reg": ("MODEL.META.ADAPT_REGRESSION", "False"),
    "single-res": ("MODEL.GUIDED.EXEMPLAR_SIZES", "[128]", "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", "[]"),
}


def evaluate(name, config_file, opts, root, output_dir, num_workers):
    factory = functools.partial(make_got10k_tracker, config_file, tuple(opts), name)
    return run_benchmark(factory, "folder", root, output_dir, name, num_workers=num_workers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-output", default="demo_output", help="where `make demo` put data and model")
    parser.add_argument("--output", default=None, help="default: <demo-output>/ablations")
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget of each model")
    parser.add_argument("--num-workers", type=int, default=1)
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    demo_dir = os.path.abspath(args.demo_output)
    out = os.path.abspath(args.output or os.path.join(demo_dir, "ablations"))

    cfg = demo_config(args.config_file, demo_dir, args.minutes)
    ensure_synthetic_datasets(cfg)
    full_weights = train_if_needed(cfg)
    plain_dir = os.path.join(demo_dir, "model_plain")
    plain_cfg = demo_config(args.config_file, demo_dir, args.minutes,
                            ["MODEL.META.ENABLED", "False", "OUTPUT_DIR", plain_dir])
    plain_weights = train_if_needed(plain_cfg)
    root = os.path.join(cfg.DATASETS.ROOT, "synthetic", args.split)
    val_root = os.path.join(cfg.DATASETS.ROOT, "synthetic", "val")

    reports = {}
    for name, opts in ROWS.items():
        reports[name] = evaluate(name, args.config_file, ("MODEL.WEIGHTS", full_weights) + opts, root,
                                 os.path.join(out, args.split), args.num_workers)
    # GD: pick (steps, step size) on the validation videos, report on --split.
    best, best_auc = None, -1.0
    for steps, lr in GD_GRID:
        opts = ("MODEL.WEIGHTS", plain_weights, "TRACKER.INIT_STEPS", str(steps), "TRACKER.STEP_SIZE", str(lr))
        rep = evaluate(f"GD-steps{steps}-lr{lr}", args.config_file, opts, val_root, os.path.join(out, "gd_search"),
                       args.num_workers)
        if rep["overall"]["auc"] > best_auc:
            best, best_auc = opts, rep["overall"]["auc"]
    reports["GD"] = evaluate("GD", args.config_file, best, root, os.path.join(out, args.split), args.num_workers)

    print(f"\nTable 1 ablations on synthetic {args.split} videos ({root})")
    print(f"GD setting chosen on val: {' '.join(best[2:])}")
    print_table(reports)
    summary = {k: {m: v["overall"][m] for m in ("auc", "op50")} for k, v in reports.items()}
    with open(os.path.join(out, f"ablations_{args.split}.json"), "w") as f:
        json.dump({"gd_setting": list(best[2:]), "rows": summary}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
