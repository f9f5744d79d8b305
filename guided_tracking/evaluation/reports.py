"""Reports built on ``run_benchmark``'s per-sequence scores: per-attribute
success/precision, and mean ± std over repeated runs (``track_net.py --runs K``).

Attribute labels come from a CSV the user gives (any benchmark), or from what a
benchmark ships: UAV123's ``anno/UAV123/att/<seq>.txt`` (one line of 12 0/1 flags
in the order of the UAV123 paper's attribute table) and LaSOT's per-frame
full-occlusion / out-of-view flags (sequence attributes FOC / OV).
"""
import csv
import glob
import json
import math
import os
import statistics
import sys
from typing import Dict, Iterable, List, Set

__all__ = ["UAV123_ATTRIBUTES", "attribute_report", "default_attribute_source", "format_attribute_table",
           "format_runs_table", "lasot_flag_attributes", "load_attributes", "runs_report"]

# UAV123 (Mueller et al., ECCV 2016), Table 1 order, as in anno/UAV123/att/*.txt.
UAV123_ATTRIBUTES = ("SV", "ARC", "LR", "FM", "FOC", "POC", "OV", "BC", "IV", "VC", "CM", "SOB")
_METRICS = ("auc", "precision_20", "op50", "op75")


def load_attributes(path: str) -> Dict[str, Set[str]]:
    """{sequence: {attribute, ...}} from a CSV file or a UAV123 ``att`` folder.

    CSV, either ``sequence,attributes`` with attributes separated by ``;`` or
    spaces (``Basketball,IV;OCC;DEF``), or a header ``sequence,IV,SV,...`` and
    0/1 per column. A folder: UAV123's ``att/<seq>.txt`` files.
    """
    if os.path.isdir(path):
        return _load_uav123_att(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--attributes {path}: no such file or folder")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path}: empty attribute file")
    header = [c.strip() for c in rows[0]]
    labels: Dict[str, Set[str]] = {}
    flags = len(header) > 2 and all(c.strip() in ("0", "1") for r in rows[1:] for c in r[1:])
    for line, row in enumerate(rows[1:] if flags else rows, start=2 if flags else 1):
        name = row[0].strip()
        if not name or (not flags and line == 1 and name.lower() in ("sequence", "seq", "name")):
            continue
        if flags:
            if len(row) != len(header):
                raise ValueError(f"{path}:{line}: {len(row)} columns, the header has {len(header)}")
            labels[name] = {a for a, v in zip(header[1:], row[1:]) if v.strip() == "1"}
        else:
            labels[name] = {a for cell in row[1:] for a in cell.replace(";", " ").split()}
    return labels


def _load_uav123_att(folder: str) -> Dict[str, Set[str]]:
    labels = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.txt"))):
        with open(path, encoding="utf-8-sig") as f:
            values = f.read().replace(",", " ").split()
        if len(values) != len(UAV123_ATTRIBUTES) or any(v not in ("0", "1") for v in values):
            raise ValueError(f"{path}:1: expected {len(UAV123_ATTRIBUTES)} 0/1 flags "
                             f"({', '.join(UAV123_ATTRIBUTES)}), got {' '.join(values)!r}")
        labels[os.path.splitext(os.path.basename(path))[0]] = {
            a for a, v in zip(UAV123_ATTRIBUTES, values) if v == "1"}
    if not labels:
        raise FileNotFoundError(f"{folder}: no attribute file (<sequence>.txt)")
    return labels


def default_attribute_source(benchmark: str, root: str):
    """The labels a benchmark ships under its root, if any: UAV123's att folder (a
    path), or LaSOT's per-frame ``full_occlusion.txt`` / ``out_of_view.txt`` flags
    turned into the sequence attributes FOC / OV (a dict); else None."""
    if benchmark in ("uav123", "uav20l"):
        folder = os.path.join(root, "anno", benchmark.upper(), "att")
        return folder if os.path.isdir(folder) else None
    if benchmark == "lasot":
        return lasot_flag_attributes(root) or None
    return None


def lasot_flag_attributes(root: str) -> Dict[str, Set[str]]:
    """{sequence: {"FOC", "OV"} subset}: a LaSOT sequence has the attribute when any
    frame is flagged in ``<root>/<class>/<seq>/full_occlusion.txt`` / ``out_of_view.txt``
    (the only attribute labels LaSOT ships in its folders)."""
    labels = {}
    for flags_file in sorted(glob.glob(os.path.join(root, "*", "*", "full_occlusion.txt"))):
        seq_dir = os.path.dirname(flags_file)
        attrs = set()
        for file_name, attribute in (("full_occlusion.txt", "FOC"), ("out_of_view.txt", "OV")):
            path = os.path.join(seq_dir, file_name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8-sig") as f:
                    if "1" in f.read().replace(",", " ").split():
                        attrs.add(attribute)
        labels[os.path.basename(seq_dir)] = attrs
    return labels


def attribute_report(report: dict, labels: Dict[str, Set[str]]) -> Dict[str, dict]:
    """{attribute: {"sequences": n, metric: mean over its sequences}} for every
    attribute with a scored sequence (the mean of per-sequence scores, as the
    overall numbers of the OTB/UAV123 protocol)."""
    scored = report.get("sequences") or {}
    out = {}
    for attribute in sorted({a for s in labels.values() for a in s}):
        names = [n for n, attrs in labels.items() if attribute in attrs and n in scored]
        if names:
            out[attribute] = {"sequences": len(names)}
            for metric in _METRICS:
                values = [scored[n][metric] for n in names if scored[n].get(metric) is not None]
                out[attribute][metric] = statistics.fmean(values) if values else None
    return out


def runs_report(reports: List[dict]) -> dict:
    """Mean ± std over K runs of the same tracker: overall metrics and per-sequence AUC."""
    def stats(values: Iterable[float]) -> dict:
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return {"mean": None, "std": None, "values": []}
        return {"mean": statistics.fmean(values), "std": statistics.pstdev(values), "values": values}

    overall = [r["overall"] for r in reports if r.get("overall")]
    names = sorted(set.intersection(*[set(r.get("sequences", {})) for r in reports])) if reports else []
    return {
        "runs": len(reports),
        "overall": {m: stats(o.get(m) for o in overall) for m in _METRICS + ("fps",)},
        "sequences": {n: stats(r["sequences"][n]["auc"] for r in reports) for n in names},
    }


def format_attribute_table(by_attribute: Dict[str, dict]) -> str:
    lines = ["| attribute | sequences | AUC | P@20 | OP50 | OP75 |", "|---|---|---|---|---|---|"]
    for attribute, row in by_attribute.items():
        cells = [f"{row[m]:.3f}" if row.get(m) is not None else "-" for m in _METRICS]
        lines.append(f"| {attribute} | {row['sequences']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_runs_table(name: str, summary: dict) -> str:
    o = summary["overall"]
    cells = [f"{o[m]['mean']:.3f} ± {o[m]['std']:.3f}" if o[m]["mean"] is not None else "-" for m in _METRICS]
    spread = sorted(summary["sequences"].items(), key=lambda kv: -(kv[1]["std"] or 0))[:5]
    return "\n".join([
        f"{name}: {summary['runs']} runs (mean ± std)",
        "| AUC | P@20 | OP50 | OP75 |", "|---|---|---|---|", "| " + " | ".join(cells) + " |",
        "sequences that vary most between runs (AUC std): " +
        ", ".join(f"{n} {s['std']:.3f}" for n, s in spread if s["std"]),
    ])


# ---------------------------------------------------------------- report files and tables
def load_report(report):
    """A report dict from a ``report.json`` path (dicts are returned as they are)."""
    if isinstance(report, dict):
        return report
    with open(report) as f:
        return json.load(f)


def _named_reports(reports):
    if isinstance(reports, dict) and "overall" not in reports:
        return {name: load_report(r) for name, r in reports.items()}
    if isinstance(reports, (str, os.PathLike, dict)):
        reports = [reports]
    named = {}
    for r in reports:
        r = load_report(r)
        named[r.get("tracker", f"tracker{len(named)}")] = r
    return named


_TABLE_COLUMNS = (("auc", "AUC"), ("precision_20", "P@20"), ("norm_precision", "NormP"),
                  ("op50", "OP50"), ("op75", "OP75"), ("fps", "FPS"))


def print_table(reports, per_sequence=False, file=None):
    """Print (and return) a table comparing reports.

    Args:
        reports: ``{tracker_name: report_dict_or_path}`` or a list of reports/paths.
        per_sequence (bool): print the AUC of every sequence for every tracker instead.
    """
    from tabulate import tabulate

    named = _named_reports(reports)
    if per_sequence:
        seq_names = sorted({s for r in named.values() for s in r.get("sequences", {})})
        rows = [[s] + [(r.get("sequences", {}).get(s) or {}).get("auc") for r in named.values()]
                for s in seq_names]
        text = tabulate(rows, headers=["AUC per sequence"] + list(named), tablefmt="pipe", floatfmt=".3f",
                        missingval="-")
    else:
        keys = [(k, title) for k, title in _TABLE_COLUMNS
                if any((r.get("overall") or {}).get(k) is not None for r in named.values())]
        rows = []
        for name, r in named.items():
            overall = r.get("overall") or {}
            rows.append([name, r.get("benchmark", "")] + [overall.get(k) for k, _ in keys]
                        + [len(r.get("sequences", {})), len(r.get("failed", []))])
        text = tabulate(rows, headers=["Tracker", "Benchmark"] + [t for _, t in keys] + ["Seqs", "Failed"],
                        tablefmt="pipe", floatfmt=".3f", missingval="-")
    print(text, file=file or sys.stdout)
    return text
