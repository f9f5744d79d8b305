"""Turn a finished reference training run into the shipped model and its card.

    python -m guided_tracking.model_zoo.export --run-dir output/reference_mnv2_FPN \\
        --data ../shared/data/real --eval-summary output/reference_eval/summary.json

writes, into --output-dir (default: this package's folder):
- ``reference_mnv2_FPN.pth``: model tensors only, fp16 unless --fp32;
- ``model_card.json``: config, command, iterations, wall time, machine, the
  training sequences with their benchmarks, val/dev numbers, file checksum;
- ``MODEL_CARD.md``: the same for people.
"""
import argparse
import collections
import datetime
import json
import os
import platform
import re
import sys

import torch

from ..io import atomic_write_text
from .reference import (REFERENCE_CONFIG, REFERENCE_DIR, REFERENCE_WEIGHTS, RUNTIME_KEYS, export_inference_checkpoint,
                        file_sha256)

BASELINE_NAMES = ("NanoTrack", "CSRT", "KCF")

__all__ = ["recipe_config", "build_card", "render_card_markdown", "main"]

CAVEAT = (
    "The real training sequences are TEST sequences of public tracking benchmarks (OTB, UAV123, DTB70, VOT, "
    "UAVDT, LaSOT and a few others, listed below). This model must not be used to report results on those "
    "benchmarks. It is a model for tracking your own video on a CPU out of the box; benchmark models come "
    "from the GOT-10k/LaSOT-train GPU recipe (configs/GOT-10k/)."
)


def recipe_config(cfg):
    """``cfg`` with the run-specific keys (RUNTIME_KEYS) back at their defaults:
    what defines the model and its training, comparable across machines."""
    from ..config import get_guided_cfg

    defaults = get_guided_cfg()
    cfg = cfg.clone()
    cfg.defrost()
    for key in RUNTIME_KEYS:
        *parents, leaf = key.split(".")
        node, default = cfg, defaults
        for p in parents:
            node, default = node[p], default[p]
        node[leaf] = default[leaf]
    cfg.MODEL.WEIGHTS = ""
    return cfg


def _load_run_config(run_dir):
    from ..config import get_guided_cfg

    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} does not exist: --run-dir must be a train_net.py OUTPUT_DIR")
    cfg = get_guided_cfg()
    cfg.merge_from_file(path)
    return cfg


def _training_log(run_dir):
    """(train_net command lines, total wall seconds) from detectron2's log.txt
    (appended to by every resumed run)."""
    path = os.path.join(run_dir, "log.txt")
    commands, seconds = [], 0.0
    if not os.path.isfile(path):
        return commands, None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(r"Command line arguments: (Namespace\(.*\))", line)
            if m:
                commands.append(m.group(1))
            m = re.search(r"Total training time: (?:(\d+) days?, )?(\d+):(\d+):(\d+)", line)
            if m:
                d, h, mi, s = (int(v or 0) for v in m.groups())
                seconds += 86400 * d + 3600 * h + 60 * mi + s
    return commands, seconds


def _training_sequences(data_dir):
    """Rows of ``<data>/train/INDEX.tsv`` (sequence, frames, benchmark, class), or
    the sequence folder names when there is no index."""
    train = os.path.join(data_dir, "train")
    index = os.path.join(train, "INDEX.tsv")
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            header, *rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        col = {name: i for i, name in enumerate(header)}
        def field(row, name, default="?"):
            return row[col[name]] if name in col and col[name] < len(row) else default

        return [{"sequence": field(r, "sequence"), "frames": int(field(r, "frames", 0)),
                 "benchmark": field(r, "benchmark_of_origin"), "object": field(r, "object_class")} for r in rows]
    return [{"sequence": name} for name in sorted(os.listdir(train)) if os.path.isdir(os.path.join(train, name))]


def _machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _evaluation(summary, name):
    """{set: {"overall": {...}, "sequences": {...}, "baselines": {...}}} from bench/eval_real.py's summary."""
    out = {}
    for label, results in summary["sets"].items():
        if name not in results:
            raise KeyError(f"eval summary: no tracker {name!r} in set {label!r} (have {sorted(results)})")
        fps = [r["fps"] for r in results[name]["sequences"].values() if r.get("fps")]
        out[label] = {"overall": results[name]["overall"],
                      "fps_mean_over_sequences": float(sum(fps) / len(fps)) if fps else None,
                      "sequences": {s: {k: v for k, v in r.items() if k != "fps"}
                                    for s, r in results[name]["sequences"].items()},
                      "baselines": {n: results[n]["overall"] for n in BASELINE_NAMES if n in results}}
    return out


def _curve(summary, name, final_name, iterations, set_label="val"):
    """Val AUC at checkpoints: the summary's ``<name>@<iteration>`` columns, then the
    final checkpoint itself (its fp32 column when the shipped file is an fp16 copy)."""
    results = summary["sets"].get(set_label, {})
    points = [{"iteration": int(n.split("@", 1)[1]), "auc": r["overall"]["auc"], "op75": r["overall"]["op75"]}
              for n, r in results.items() if n.startswith(f"{name}@") and n.split("@", 1)[1].isdigit()]
    points.sort(key=lambda p: p["iteration"])
    final = next((c for c in (f"{final_name}-fp32", final_name) if c in results), None)
    if points and final and all(p["iteration"] != iterations for p in points):
        overall = results[final]["overall"]
        points.append({"iteration": iterations, "auc": overall["auc"], "op75": overall["op75"], "column": final})
    return points


def build_card(run_dir, data_dir, weights_info, weights_path, eval_summary=None, eval_name=None,
               config_file=REFERENCE_CONFIG, curve=None, curve_name=None, notes=()):
    cfg = recipe_config(_load_run_config(run_dir))
    commands, seconds = _training_log(run_dir)
    rows = _training_sequences(data_dir)
    benchmarks = dict(collections.Counter(r.get("benchmark", "?") for r in rows))
    summary = None
    if eval_summary:
        with open(eval_summary) as f:
            summary = json.load(f)
    iterations = weights_info["iteration"] + 1
    card = {
        "name": "reference_mnv2_FPN",
        "architecture": f"{cfg.MODEL.META_ARCHITECTURE} on {cfg.MODEL.GUIDED.BACKBONE_NAME} "
                        f"(search {cfg.INPUT.GUIDED.SEARCH_SIZE} px, exemplars {list(cfg.MODEL.GUIDED.EXEMPLAR_SIZES)} px)",
        "config_file": os.path.relpath(config_file, os.path.dirname(os.path.dirname(REFERENCE_DIR))),
        "config_yaml": cfg.dump(),
        "command": "make reference-model DATA=<folder with train/ (and val/)>",
        "train_net_invocations": commands,
        "iterations": iterations,
        "wall_time_s": seconds,
        "machine": _machine(),
        "exported": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "weights": {"file": os.path.basename(weights_path), "dtype": weights_info["dtype"],
                    "bytes": weights_info["bytes"], "sha256": file_sha256(weights_path)},
        "training_data": {
            "real": {"folder": "train/ of the DATA folder (../shared/data/real here)", "sequences": len(rows),
                     "frames": sum(r.get("frames", 0) for r in rows), "by_benchmark": benchmarks,
                     "list": rows},
            "synthetic": {"videos": cfg.DATASETS.SYNTHETIC.TRAIN_VIDEOS, "frames_each": cfg.DATASETS.SYNTHETIC.FRAMES,
                          "seed": cfg.DATASETS.SYNTHETIC.SEED},
            "datasets": list(cfg.DATASETS.TRAIN), "probs": list(cfg.DATALOADER.TRIPLET.DATASET_PROBS),
        },
        "caveat": CAVEAT,
        "notes": list(notes),
        "evaluation": _evaluation(summary, eval_name) if summary else {},
        "training_curve": curve or (_curve(summary, curve_name or eval_name, eval_name, iterations) if summary else []),
    }
    return card


def render_card_markdown(card) -> str:
    lines = [f"# Model card: {card['name']}", "", f"**{card['caveat']}**", "",
             "## What it is", "",
             f"- architecture: {card['architecture']}",
             f"- config: `{card['config_file']}` (the merged config is in `model_card.json`)",
             f"- weights: `{card['weights']['file']}`, {card['weights']['dtype']}, "
             f"{card['weights']['bytes'] / 1e6:.1f} MB, sha256 `{card['weights']['sha256'][:16]}...`",
             f"- trained for {card['iterations']} iterations, "
             + (f"{card['wall_time_s'] / 3600:.2f} h wall time" if card.get("wall_time_s") else "wall time unknown")
             + f" on {card['machine']['cores']} cores of {card['machine']['cpu']}"
             + (f" + {card['machine']['gpu']}" if card['machine'].get('gpu') else " (no GPU)"),
             f"- command: `{card['command']}`", ""]
    data = card["training_data"]
    real = data["real"]
    lines += ["## Training data", "",
              f"Triplets drawn from {', '.join(data['datasets'])} with probabilities {[round(p, 3) for p in data['probs']]}.", "",
              f"- real: {real['sequences']} sequences, {real['frames']} frames: "
              + ", ".join(f"{b} {n}" for b, n in sorted(real["by_benchmark"].items(), key=lambda kv: -kv[1])),
              f"- synthetic: {data['synthetic']['videos']} generated videos of {data['synthetic']['frames_each']} "
              f"frames (seed {data['synthetic']['seed']})", ""]
    for label, ev in card["evaluation"].items():
        o = ev["overall"]
        lines += [f"## Results on {label} (got10k toolkit, `bench/eval_real.py`)", "",
                  "| tracker | AUC | P@20 | OP50 | OP75 | median abs log area ratio |", "|---|---|---|---|---|---|",
                  f"| this model | {o['auc']:.3f} | {o['precision_20']:.3f} | {o['op50']:.3f} | {o['op75']:.3f} | "
                  f"{o['log_area']:.2f} |"]
        for name, b in ev["baselines"].items():
            lines.append(f"| {name} | {b['auc']:.3f} | {b['precision_20']:.3f} | {b['op50']:.3f} | {b['op75']:.3f} | "
                         f"{b['log_area']:.2f} |")
        if ev.get("fps_mean_over_sequences"):
            lines += ["", f"Speed: {ev['fps_mean_over_sequences']:.1f} frames/s (mean over sequences of got10k's "
                          "per-process timing, bench/eval_real.py's default 2 tracking processes, machine above)"]
        lines += ["", "Per sequence (AUC): " + ", ".join(f"{s} {r['auc']:.3f}" for s, r in ev["sequences"].items()),
                  ""]
    if card.get("training_curve"):
        lines += ["## Training curve (val AUC at checkpoints of this run)", "", "| iteration | val AUC | val OP75 |",
                  "|---|---|---|"]
        lines += [f"| {c['iteration']} | {c['auc']:.3f} | {c.get('op75', float('nan')):.3f} |"
                  for c in card["training_curve"]]
        lines.append("")
    if card.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in card["notes"]] + [""]
    lines += ["## Real training sequences", "", "| sequence | frames | benchmark of origin | object |",
              "|---|---|---|---|"]
    lines += [f"| {r['sequence']} | {r.get('frames', '')} | {r.get('benchmark', '')} | {r.get('object', '')} |"
              for r in real["list"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", required=True, help="train_net.py OUTPUT_DIR of the reference training")
    parser.add_argument("--checkpoint", default="model_final.pth", help="file in --run-dir to export")
    parser.add_argument("--data", required=True, help="the data folder trained on (its train/INDEX.tsv is listed)")
    parser.add_argument("--output-dir", default=REFERENCE_DIR)
    parser.add_argument("--file-name", default=os.path.basename(REFERENCE_WEIGHTS))
    parser.add_argument("--fp32", action="store_true", help="keep fp32 weights (default fp16)")
    parser.add_argument("--eval-summary", help="bench/eval_real.py summary.json with this model's val/dev rows")
    parser.add_argument("--eval-name", default="ours", help="the model's column name in --eval-summary")
    parser.add_argument("--curve-name", help="name of the checkpoint columns <curve-name>@<iterations> in "
                        "--eval-summary (default: --eval-name)")
    parser.add_argument("--note", action="append", default=[], help="a line for the card's Notes (repeatable)")
    parser.add_argument("--no-card", action="store_true",
                        help="write the weights only (to evaluate the exported file before writing its card)")
    parser.add_argument("--curve", help="JSON list of {iteration, auc} (val AUC at checkpoints); default: the "
                        "--eval-summary columns named <eval-name>@<iteration>")
    args = parser.parse_args(argv)

    weights_path = os.path.join(args.output_dir, args.file_name)
    info = export_inference_checkpoint(os.path.join(args.run_dir, args.checkpoint), weights_path,
                                       fp16=not args.fp32)
    if args.no_card:
        print(f"{weights_path}: {info['bytes'] / 1e6:.1f} MB ({info['dtype']}, iteration {info['iteration']})")
        return 0
    curve = None
    if args.curve:
        with open(args.curve) as f:
            curve = json.load(f)
    card = build_card(args.run_dir, args.data, info, weights_path, args.eval_summary, args.eval_name, curve=curve,
                      curve_name=args.curve_name, notes=args.note)
    atomic_write_text(os.path.join(args.output_dir, "model_card.json"), json.dumps(card, indent=1) + "\n")
    atomic_write_text(os.path.join(args.output_dir, "MODEL_CARD.md"), render_card_markdown(card))
    print(f"{weights_path}: {info['bytes'] / 1e6:.1f} MB ({info['dtype']}, iteration {info['iteration']}); "
          f"card in {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
