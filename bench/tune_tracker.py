#!/usr/bin/env python
"""Sweep tracker keys on the synthetic VALIDATION videos (never on test data).

One key at a time, the others at their config values; prints AUC / OP50 per value
and writes a JSON summary. This is how the TRACKER.* defaults were chosen.

    python bench/tune_tracker.py --weights demo_output/model/model_final.pth \
        --sweep TRACKER.ANCHOR_WEIGHT=0,0.25,0.5,0.75,1 --sweep TRACKER.UPDATE_INTERVAL=5,10,20
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
from guided_tracking.demo import DEFAULT_CONFIG
from guided_tracking.evaluation.benchmark import print_table, run_benchmark
from guided_tracking.tracking.build import make_got10k_tracker


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--root", default="demo_output/data/synthetic/val", help="validation sequences")
    parser.add_argument("--output", default="demo_output/tuning")
    parser.add_argument("--sweep", action="append", required=True, metavar="KEY=V1,V2,...")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="fixed overrides for every run")
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    if "val" not in os.path.basename(os.path.normpath(args.root)):
        print(f"warning: {args.root} does not look like a validation split", file=sys.stderr)
    summary = {}
    for sweep in args.sweep:
        key, values = sweep.split("=", 1)
        reports = {}
        for value in values.split(","):
            name = f"{key.split('.')[-1]}={value}"
            opts = ("MODEL.WEIGHTS", args.weights, *args.opts, key, value)
            factory = functools.partial(make_got10k_tracker, args.config_file, opts, name)
            reports[name] = run_benchmark(factory, "folder", args.root, os.path.join(args.output, key), name,
                                          num_workers=args.num_workers)
        print(f"\n{key} on {args.root}")
        print_table(reports)
        summary[key] = {n: {m: r["overall"][m] for m in ("auc", "op50")} for n, r in reports.items()}
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "tuning.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
