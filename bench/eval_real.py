#!/usr/bin/env python
"""Quality on real video, measured in one run: our model(s), CSRT and KCF on the
same frames with the same got10k toolkit code.

Sets: the 15 real validation sequences (``../shared/data/real/val``) and the three
dev sequences (``../shared/data/sequences``). Per sequence and tracker it prints
AUC, P@20, OP50, OP75 and the median |log(area_pred / area_gt)| over frames 2..N
(0 = boxes of the right size; 0.3 = about 1.35x too large or small in area).

    # evaluate trained weights (several: one column each)
    python bench/eval_real.py --weights demo_output/model/model_final.pth
    # train demo-length models with three seeds, evaluate each, report mean +- std
    python bench/eval_real.py --seeds 0,1,2 --train-mix synthetic --output output/seeds_synthetic
    python bench/eval_real.py --seeds 0,1,2 --train-mix real --output output/seeds_real
    # a training curve: every checkpoint of a run as a column <name>@<iterations>
    python bench/eval_real.py --weights RUN/model_final.pth --name ours --curve-of RUN

``--train-mix real`` trains on ``--real-train`` (default ``../shared/data/real/train``)
and the synthetic videos, sampled ``--real-share`` : 1 - share. Trainings run one after
the other through ``train_net.py`` (2 cores: two at once would slow both and move the
wall-time budget) and resume when rerun; finished tracking results are reused.
"""
import argparse
import functools
import glob
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from detectron2.utils.logger import setup_logger  # noqa: E402

import guided_tracking  # noqa: E402,F401
from guided_tracking.evaluation.baselines import NANOTRACK_ENV, baseline_factory  # noqa: E402
from guided_tracking.evaluation.benchmark import load_benchmark, run_benchmark  # noqa: E402
from guided_tracking.io import atomic_write_json  # noqa: E402
from guided_tracking.evaluation.size_error import median_abs_log_area_ratio  # noqa: E402
from guided_tracking.tracking.build import make_got10k_tracker  # noqa: E402

SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
DEFAULT_SETS = {"val": os.path.join(SHARED, "real", "val"), "dev": os.path.join(SHARED, "sequences"),
                "longterm": os.path.join(SHARED, "real", "longterm")}
CPU_CONFIG = os.path.join(REPO, "configs", "CPU", "guided_rcnn_mnv2_FPN.yaml")
METRICS = ("auc", "precision_20", "op50", "op75", "log_area")


def evaluate_set(factories, root, output_dir, num_workers):
    """{tracker: {"overall": {...}, "sequences": {seq: {...}}}} with log-area added."""
    dataset, _ = load_benchmark("folder", root)
    out = {}
    for name, factory in factories.items():
        report = run_benchmark(factory, "folder", root, output_dir, name, num_workers=num_workers)
        result_dir = os.path.join(output_dir, "results", "folder", name)
        seqs = {}
        for seq, scores in report["sequences"].items():
            scores = dict(scores)
            pred = np.loadtxt(os.path.join(result_dir, f"{seq}.txt"), delimiter=",", ndmin=2)
            scores["log_area"] = median_abs_log_area_ratio(pred, dataset[seq][1])
            seqs[seq] = scores
        overall = {k: float(np.mean([s[k] for s in seqs.values()])) for k in METRICS if seqs}
        fps = [s["fps"] for s in seqs.values() if s.get("fps")]
        overall["fps"] = float(np.mean(fps)) if fps else None
        out[name] = {"overall": overall, "sequences": seqs, "failed": report.get("failed", [])}
        if report.get("longterm"):
            out[name]["longterm"] = {k: report["longterm"][k] for k in ("f_score", "precision", "recall", "threshold")}
    return out


def print_set(label, root, results):
    names = list(results)
    seqs = sorted(next(iter(results.values()))["sequences"])
    print(f"\n=== {label}: {root} ({len(seqs)} sequences) ===")
    print("per sequence: AUC / OP75 / median |log area ratio|")
    print(f"{'sequence':<22}" + "".join(f"{n[:24]:>26}" for n in names))
    for seq in seqs:
        cells = []
        for n in names:
            s = results[n]["sequences"].get(seq)
            cells.append("failed" if s is None else f"{s['auc']:.3f} / {s['op75']:.3f} / {s['log_area']:.2f}")
        print(f"{seq[:22]:<22}" + "".join(f"{c:>26}" for c in cells))
    print(f"{'mean':<22}" + "".join(
        f"{results[n]['overall']['auc']:.3f} / {results[n]['overall']['op75']:.3f} / "
        f"{results[n]['overall']['log_area']:.2f}".rjust(26) for n in names))
    print(f"\n{'tracker':<24}{'AUC':>8}{'P@20':>8}{'OP50':>8}{'OP75':>8}{'|log A|':>9}")
    for n in names:
        o = results[n]["overall"]
        print(f"{n[:24]:<24}" + "".join(f"{o[k]:>8.3f}" for k in METRICS[:4]) + f"{o['log_area']:>9.3f}")
    if any(r.get("longterm") for r in results.values()):
        print("\nlong-term (VOT-LT; absent frames count as 'no target'; AUC above is on visible frames)")
        print(f"{'tracker':<24}{'F':>8}{'Pr':>8}{'Re':>8}{'τ':>8}")
        for n in names:
            lt = results[n].get("longterm")
            if lt:
                print(f"{n[:24]:<24}" + "".join(f"{lt[k]:>8.3f}" for k in ("f_score", "precision", "recall", "threshold")))


def train_seed(args, seed, out_dir, threads=None):
    """Train one demo-length model through train_net.py (resumes); its weights path.
    ``threads``: torch/OpenMP threads of the training process (default: all cores)."""
    final = os.path.join(out_dir, "model_final.pth")
    if os.path.isfile(final):
        print(f"[eval_real] seed {seed}: reusing {final}", flush=True)
        return final
    opts = ["SEED", str(seed), "OUTPUT_DIR", out_dir, "DATASETS.ROOT", args.data_root,
            "SOLVER.MAX_ITER", str(args.max_iter), "SOLVER.MAX_MINUTES", str(args.minutes)]
    if args.train_mix == "real":
        if not os.path.isdir(args.real_train):
            raise SystemExit(f"--real-train {args.real_train}: no such folder")
        opts += ["DATASETS.FOLDERS", f'("real_train={os.path.abspath(args.real_train)}",)',
                 "DATASETS.TRAIN", '("real_train", "synthetic_train")',
                 "DATALOADER.TRIPLET.DATASET_PROBS", f"[{args.real_share}, {1.0 - args.real_share}]"]
    opts += list(args.opts)
    cmd = [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", args.config_file, "--resume"] + opts
    os.makedirs(out_dir, exist_ok=True)
    print(f"[eval_real] seed {seed}: training -> {out_dir} (log: {out_dir}/train.log)", flush=True)
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    with open(os.path.join(out_dir, "train.log"), "a") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    return final


def mean_std(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", action="append", default=[], help="a checkpoint to evaluate (repeatable)")
    parser.add_argument("--name", action="append", default=[], help="column name of each --weights")
    parser.add_argument("--curve-of", metavar="RUN_DIR",
                        help="also evaluate every model_<iter>.pth in RUN_DIR, as columns <first name>@<iterations>")
    parser.add_argument("--seeds", default="", help="e.g. 0,1,2: train one demo-length model per seed")
    parser.add_argument("--train-mix", choices=("synthetic", "real"), default="synthetic")
    parser.add_argument("--real-train", default=os.path.join(SHARED, "real", "train"))
    parser.add_argument("--real-share", type=float, default=0.7, help="share of triplets from --real-train")
    parser.add_argument("--max-iter", type=int, default=450, help="SOLVER.MAX_ITER of each seed's training")
    parser.add_argument("--minutes", type=float, default=25.0,
                        help="SOLVER.MAX_MINUTES safety budget (MAX_ITER should end first, so seeds reproduce)")
    parser.add_argument("--config-file", default=CPU_CONFIG)
    parser.add_argument("--output", default="output/eval_real")
    parser.add_argument("--data-root", default=None, help="synthetic videos (default <output>/data)")
    parser.add_argument("--sets", default="val,dev", help="which of val,dev,longterm to evaluate")
    parser.add_argument("--val-root", default=DEFAULT_SETS["val"])
    parser.add_argument("--dev-root", default=DEFAULT_SETS["dev"])
    parser.add_argument("--longterm-root", default=DEFAULT_SETS["longterm"])
    parser.add_argument("--baselines", default="csrt,kcf", help="csrt, kcf, nano (NanoTrack v2)")
    parser.add_argument("--nanotrack-dir", default=None,
                        help="NanoTrack v2 ONNX folder for --baselines nano (default: $GUIDED_TRACKING_NANOTRACK_DIR, "
                             "else ../shared/models/nanotrack)")
    parser.add_argument("--num-workers", type=int, default=2, help="tracking processes")
    parser.add_argument("--tracker-opts", nargs="*", default=[], help="KEY VALUE config overrides for tracking")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for training (--seeds)")
    args = parser.parse_args(argv)
    if args.opts[:1] == ["--"]:  # "--tracker-opts A B -- TRAIN_KEY V": the separator is not a key
        args.opts = args.opts[1:]
    setup_logger(name="guided_tracking", abbrev_name="gt")
    args.output = os.path.abspath(args.output)
    args.data_root = os.path.abspath(args.data_root or os.path.join(args.output, "data"))

    models = {}
    for i, w in enumerate(args.weights):
        if not os.path.isfile(w):
            raise SystemExit(f"--weights {w}: no such file")
        models[args.name[i] if i < len(args.name) else f"ours{i if i else ''}"] = os.path.abspath(w)
    if args.curve_of:
        base = args.name[0] if args.name else "ours"
        final = os.path.join(args.curve_of, "model_final.pth")
        final_iters = torch.load(final, map_location="cpu", weights_only=False)["iteration"] + 1 \
            if os.path.isfile(final) else None
        checkpoints = sorted(glob.glob(os.path.join(args.curve_of, "model_[0-9]*.pth")))
        if not checkpoints:
            raise SystemExit(f"--curve-of {args.curve_of}: no model_<iteration>.pth checkpoints there")
        for ckpt in checkpoints:
            iters = int(os.path.basename(ckpt)[len("model_"):-len(".pth")]) + 1
            if iters != final_iters:  # the final checkpoint is already a column
                models[f"{base}@{iters}"] = os.path.abspath(ckpt)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    for seed in seeds:
        models[f"ours-{args.train_mix}-s{seed}"] = train_seed(args, seed, os.path.join(args.output, f"seed{seed}"))
    if not models:
        raise SystemExit("give --weights and/or --seeds")

    roots = {"val": args.val_root, "dev": args.dev_root, "longterm": args.longterm_root}
    sets = {k: roots[k] for k in args.sets.split(",") if k}
    for label, root in sets.items():
        if not os.path.isdir(root):
            raise SystemExit(f"--{label}-root {root}: no such folder (the real sequences live in ../shared/data)")

    factories = {name: functools.partial(make_got10k_tracker, args.config_file,
                                         ("MODEL.WEIGHTS", w) + tuple(args.tracker_opts), name)
                 for name, w in models.items()}
    nanotrack_dir = args.nanotrack_dir or os.environ.get(NANOTRACK_ENV) or os.path.join(SHARED, "..", "models",
                                                                                          "nanotrack")
    for b in [b for b in args.baselines.split(",") if b]:
        try:
            name, factory = baseline_factory(b, nanotrack_dir)
        except (KeyError, FileNotFoundError, ImportError) as e:
            raise SystemExit(f"--baselines: {e.args[0] if e.args else e}")
        factories[name] = factory

    summary = {"models": models, "tracker_opts": args.tracker_opts, "sets": {}}
    for label, root in sets.items():
        results = evaluate_set(factories, root, os.path.join(args.output, "eval", label), args.num_workers)
        print_set(label, root, results)
        summary["sets"][label] = results
        if len(seeds) > 1:
            names = [n for n in models if n.startswith(f"ours-{args.train_mix}-s")]
            print(f"\n{label}: {len(names)} training seeds, mean +- std (sample std)")
            for k in METRICS:
                m, s = mean_std([results[n]["overall"][k] for n in names])
                print(f"  {k:<13}{m:.3f} +- {s:.3f}")
            summary["sets"][label]["seed_mean_std"] = {
                k: mean_std([results[n]["overall"][k] for n in names]) for k in METRICS}
    atomic_write_json(os.path.join(args.output, "summary.json"), summary)
    print(f"\nSummary: {os.path.join(args.output, 'summary.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
