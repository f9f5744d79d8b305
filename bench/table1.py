#!/usr/bin/env python
"""Paper Table 1 (ablations) from one command, for any guided model config.

Trains, per seed, three models with the same data and iterations (``train_net.py``,
resumable; a finished model is reused):
  full        the config as is (meta-learned θ_0, multi-resolution guidance)
  GD          MODEL.META.ENABLED False: the same architecture trained without
              the inner loop, fine-tuned online by plain gradient descent whose
              (steps, step size) are chosen on the synthetic *validation* videos
              (paper 4.2 picks them on 10 OTB-2015 videos not in its test set)
  single-res  one exemplar size for every level (the level holding the canonical
              target size), trained separately ("No Multi-Res.")
and, with ``--compare-config``, a model of another config (e.g. the two-stage one)
with the same data and the iterations given by ``--compare-iters``.

Rows, each evaluated on the real validation sequences and the synthetic test
videos (got10k toolkit, AUC, OP50 and OP75, mean +- std over seeds, per seed too):
  full, GD, θ0-only (the full model with no online adaptation at all:
  TRACKER.INIT_STEPS 0, TRACKER.UPDATE_INTERVAL 0), no-anchor
  (TRACKER.ANCHOR_WEIGHT 0, Eq. 4 with λ = 0), no-reg (MODEL.META.ADAPT_REGRESSION
  False: only the classification layer adapts online), single-res (evaluated with
  its own exemplar setting, the one it was trained with), [compare], and the
  ``--baselines`` (CSRT, KCF, NanoTrack v2) on the same sequences in the same run.

    python bench/table1.py --config-file configs/CPU/guided_ssd_mnv2_FPN.yaml \\
        --seeds 0,1,2 --max-iter 300 --output output/table1_ssd \\
        --compare-config configs/CPU/guided_rcnn_mnv2_FPN.yaml --compare-iters 280
"""
import argparse
import copy
import functools
import math
import os
import sys

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

from eval_real import DEFAULT_SETS, REPO, SHARED, evaluate_set, mean_std, train_seed  # noqa: E402

from guided_tracking.evaluation.baselines import NANOTRACK_ENV, baseline_factory  # noqa: E402

from detectron2.utils.logger import setup_logger  # noqa: E402

from guided_tracking import get_guided_cfg  # noqa: E402
from guided_tracking.data.build import ensure_synthetic_datasets  # noqa: E402
from guided_tracking.io import atomic_write_json  # noqa: E402
from guided_tracking.tracking.build import make_got10k_tracker  # noqa: E402

# Paper Table 1 (SSD tracker, OTB-2013; OP = OP50), for reference only: other data.
PAPER = {"full": (0.637, 0.813), "GD": (0.551, 0.698), "no-anchor": (0.612, 0.780),
         "no-reg": (0.609, 0.773), "single-res": (0.629, 0.807)}
# (TRACKER.INIT_STEPS, TRACKER.STEP_SIZE) tried for GD on the synthetic val videos.
GD_GRID = [(5, 0.05), (5, 0.01), (10, 0.01)]
# Rows that are the full model tracked with other settings.
TEST_ROWS = {"θ0-only": ("TRACKER.INIT_STEPS", "0", "TRACKER.UPDATE_INTERVAL", "0"),
             "no-anchor": ("TRACKER.ANCHOR_WEIGHT", "0.0"), "no-reg": ("MODEL.META.ADAPT_REGRESSION", "False")}
METRICS = ("auc", "op50", "op75")


def single_res_opts(config_file):
    """One exemplar for all levels: the one showing the target at the canonical size."""
    cfg = get_guided_cfg()
    cfg.merge_from_file(config_file)
    canonical_px = cfg.INPUT.GUIDED.SEARCH_SIZE / cfg.INPUT.GUIDED.SEARCH_CONTEXT
    size = min(cfg.MODEL.GUIDED.EXEMPLAR_SIZES,
               key=lambda s: abs(math.log(s / cfg.INPUT.GUIDED.EXEMPLAR_CONTEXT / canonical_px)))
    return ["MODEL.GUIDED.EXEMPLAR_SIZES", f"[{size}]", "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", "[]"]


def row_settings(config_file, variants, gd_opts, compare=None):
    """{row: (trained model, config file, evaluation overrides)}. Each row tracks
    with its model's own training overrides (single-res: one exemplar size, as
    trained; its weights would also load strictly into the multi-res model, which
    is not the model it is) plus the row's tracker settings. ``compare``:
    (name, config file) of the other instantiation's row, or None."""
    rows = {"full": ("full", ()), "GD": ("GD", tuple(gd_opts)), **{k: ("full", v) for k, v in TEST_ROWS.items()},
            "single-res": ("single-res", ())}
    out = {row: (model, config_file, tuple(variants[model]) + tuple(opts)) for row, (model, opts) in rows.items()}
    if compare:
        out[compare[0]] = (compare[0], compare[1], ())
    return out


def train(args, config_file, seed, name, opts, max_iter):
    run = copy.copy(args)
    run.config_file, run.max_iter = config_file, max_iter
    run.opts = list(args.opts) + list(opts) + ["SEED", str(seed)]
    threads = max(1, (os.cpu_count() or 1) // args.jobs) if args.jobs > 1 else None
    return train_seed(run, seed, os.path.join(args.output, "models", f"{name}-s{seed}"), threads)


def train_all(args, jobs):
    """{key: weights} of ``jobs`` {key: (config, seed, name, opts, max_iter)}, ``args.jobs``
    trainings at a time (each with cores // jobs threads: on 2 cores two 1-thread
    trainings ran 1.3x the throughput of one 2-thread training)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {key: pool.submit(train, args, *job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def evaluate(args, label, config_file, weights, opts, sets):
    """{set: report} of one tracker (name ``label``) on each of ``sets`` {set: root}; the
    training overrides (``args.opts``) apply too, so the model is built as trained."""
    factory = functools.partial(make_got10k_tracker, config_file,
                                tuple(args.opts) + ("MODEL.WEIGHTS", weights) + tuple(opts), label)
    return {s: evaluate_set({label: factory}, root, os.path.join(args.output, s), args.num_workers)[label]
            for s, root in sets.items()}


def evaluate_baselines(args, sets):
    """{name: {set: report}} of the OpenCV / NanoTrack baselines on the same sequences."""
    out = {}
    for b in [b for b in args.baselines.split(",") if b]:
        try:
            name, factory = baseline_factory(b, args.nanotrack_dir)
        except (KeyError, FileNotFoundError, ImportError) as e:
            raise SystemExit(f"--baselines: {e.args[0] if e.args else e}")
        out[name] = {s: evaluate_set({name: factory}, root, os.path.join(args.output, s), args.num_workers)[name]
                     for s, root in sets.items()}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--compare-config", default=None, help="another model to train and evaluate alike")
    parser.add_argument("--compare-iters", type=int, default=None, help="its SOLVER.MAX_ITER (same time budget)")
    parser.add_argument("--compare-name", default="two-stage")
    parser.add_argument("--output", default="output/table1")
    parser.add_argument("--data-root", default=None, help="synthetic videos (default <output>/data)")
    parser.add_argument("--real-train", default=os.path.join(os.path.dirname(DEFAULT_SETS["val"]), "train"))
    parser.add_argument("--real-share", type=float, default=0.7)
    parser.add_argument("--val-root", default=DEFAULT_SETS["val"], help="real sequences the rows are reported on")
    parser.add_argument("--num-workers", type=int, default=2, help="tracking processes per evaluation")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings at a time, each with cores // jobs threads (2 on this 2-core CPU: 1.3x faster)")
    parser.add_argument("--baselines", default="csrt,kcf,nano", help="csrt, kcf, nano (NanoTrack v2), '' for none")
    parser.add_argument("--nanotrack-dir", default=None,
                        help="NanoTrack v2 ONNX folder (default: $GUIDED_TRACKING_NANOTRACK_DIR, else "
                             "../shared/models/nanotrack)")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="KEY VALUE training overrides for every trained model (e.g. a recipe to compare)")
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    args.output = os.path.abspath(args.output)
    args.data_root = os.path.abspath(args.data_root or os.path.join(args.output, "data"))
    args.train_mix, args.minutes = "real", 0.0
    args.nanotrack_dir = args.nanotrack_dir or os.environ.get(NANOTRACK_ENV) or os.path.join(
        SHARED, "..", "models", "nanotrack")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not os.path.isdir(args.val_root):
        raise SystemExit(f"--val-root {args.val_root}: no such folder")

    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.DATASETS.ROOT = args.data_root
    ensure_synthetic_datasets(cfg)
    synthetic = os.path.join(args.data_root, "synthetic")
    sets = {"real-val": args.val_root, "synthetic-test": os.path.join(synthetic, "test")}

    variants = {"full": [], "GD": ["MODEL.META.ENABLED", "False"], "single-res": single_res_opts(args.config_file)}
    jobs = {(v, s): (args.config_file, s, v, opts, args.max_iter) for s in seeds for v, opts in variants.items()}
    if args.compare_config:
        for s in seeds:
            jobs[(args.compare_name, s)] = (args.compare_config, s, args.compare_name, [],
                                            args.compare_iters or args.max_iter)
    weights = train_all(args, jobs)

    # GD's (steps, step size): best mean AUC over seeds on the synthetic val videos.
    grid = {}
    for steps, lr in GD_GRID:
        opts = ("TRACKER.INIT_STEPS", str(steps), "TRACKER.STEP_SIZE", str(lr))
        aucs = [evaluate(args, f"GD-steps{steps}-lr{lr}-s{s}", args.config_file, weights[("GD", s)],
                         tuple(variants["GD"]) + opts,
                         {"synthetic-val": os.path.join(synthetic, "val")})["synthetic-val"]["overall"]["auc"]
                for s in seeds]
        grid[(steps, lr)] = float(np.mean(aucs))
        print(f"[table1] GD steps {steps} step size {lr}: synthetic val AUC {grid[(steps, lr)]:.3f}", flush=True)
    gd_steps, gd_lr = max(grid, key=grid.get)
    gd_opts = ("TRACKER.INIT_STEPS", str(gd_steps), "TRACKER.STEP_SIZE", str(gd_lr))

    compare = (args.compare_name, args.compare_config) if args.compare_config else None
    rows = row_settings(args.config_file, variants, gd_opts, compare)
    results = {row: {s: evaluate(args, f"{row}-s{s}", config_file, weights[(model, s)], opts, sets)
                     for s in seeds} for row, (model, config_file, opts) in rows.items()}
    baselines = evaluate_baselines(args, sets)

    summary = {"config_file": args.config_file, "seeds": seeds, "max_iter": args.max_iter,
               "compare": {"config_file": args.compare_config, "max_iter": args.compare_iters},
               "gd_grid": {f"{k[0]}x{k[1]}": v for k, v in grid.items()}, "gd_setting": list(gd_opts),
               "rows": {}}
    print(f"\nTable 1 ({args.config_file}, {len(seeds)} seeds, {args.max_iter} iterations; "
          f"GD: {gd_steps} steps of {gd_lr}, chosen on synthetic val)")
    header = "".join(f"{s + ' ' + m.upper():>24}" for s in sets for m in METRICS)
    print(f"{'row':<14}{header}{'paper AUC / OP (OTB-2013)':>28}")
    for row, per_seed in results.items():
        cells, entry = [], {}
        for s in sets:
            for metric in METRICS:
                values = [per_seed[seed][s]["overall"][metric] for seed in seeds]
                mean, std = mean_std(values)
                cells.append(f"{mean:.3f} ± {std:.3f}")
                entry[f"{s}/{metric}"] = {"mean": mean, "std": std, "per_seed": values}
            entry[f"{s}/sequences_auc"] = {
                seq: [per_seed[seed][s]["sequences"][seq]["auc"] for seed in seeds]
                for seq in per_seed[seeds[0]][s]["sequences"]}
            entry[f"{s}/fps"] = [per_seed[seed][s]["overall"]["fps"] for seed in seeds]
        paper = PAPER.get(row)
        print(f"{row:<14}" + "".join(f"{c:>24}" for c in cells)
              + (f"{paper[0]:>18.3f} / {paper[1]:.3f}" if paper else f"{'-':>20}"))
        summary["rows"][row] = entry
    for name, per_set in baselines.items():
        cells = [f"{per_set[s]['overall'][m]:.3f}" for s in sets for m in METRICS]
        print(f"{name[:14]:<14}" + "".join(f"{c:>24}" for c in cells) + f"{'-':>20}")
        summary["rows"][name] = {f"{s}/{m}": per_set[s]["overall"][m] for s in sets for m in METRICS}
        summary["rows"][name].update({f"{s}/sequences_auc": {q: v["auc"] for q, v in per_set[s]["sequences"].items()}
                                      for s in sets})
    print("\nper seed (real-val AUC): " + "; ".join(
        f"{row} " + "/".join(f"{v:.3f}" for v in summary["rows"][row]["real-val/auc"]["per_seed"]) for row in rows))
    print("Paper numbers are the paper's (SSD-VGG16 trained on GOT-10k, OTB-2013), not ours.")
    atomic_write_json(os.path.join(args.output, "table1.json"), summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
