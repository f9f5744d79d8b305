"""Success / precision plots comparing several reports."""
import logging
import os

import numpy as np

from .reports import _named_reports

logger = logging.getLogger(__name__)


def plot_curves(reports, out_dir):
    """Success / precision (/ normalized precision) plots comparing several reports.

    Args:
        reports: list of ``report.json`` paths or report dicts, or ``{name: report}``.
        out_dir (str): where ``success_plot.png``, ``precision_plot.png`` (and
            ``norm_precision_plot.png`` for LaSOT) are written.

    Returns:
        list[str]: the PNG files written (a curve missing from every report is skipped).
    """
    # Figure + Agg canvas, not pyplot: no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    named = _named_reports(reports)
    benchmark = ", ".join(sorted({r.get("benchmark", "") for r in named.values()} - {""}))
    specs = [  # curve key, score key, x thresholds, x label, y label, title, file
        ("success", "auc", lambda n: np.linspace(0, 1, n), "Overlap threshold", "Success rate",
         "Success plot", "success_plot.png"),
        ("precision", "precision_20", np.arange, "Location error threshold (pixels)", "Precision",
         "Precision plot", "precision_plot.png"),
        ("norm_precision", "norm_precision", lambda n: np.linspace(0, 0.5, n), "Normalized location error threshold",
         "Normalized precision", "Normalized precision plot", "norm_precision_plot.png"),
    ]
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for curve_key, score_key, thresholds, xlabel, ylabel, title, file_name in specs:
        entries = [(name, r["curves"][curve_key], (r.get("overall") or {}).get(score_key))
                   for name, r in named.items() if (r.get("curves") or {}).get(curve_key)]
        if not entries:
            continue
        entries.sort(key=lambda e: -(e[2] if e[2] is not None else -1))  # legend ordered by score
        figure = Figure(figsize=(6, 4.5))
        FigureCanvasAgg(figure)
        ax = figure.add_subplot(1, 1, 1)
        for i, (name, curve, score) in enumerate(entries):
            label = f"{name} [{score:.3f}]" if score is not None else name
            ax.plot(thresholds(len(curve)), curve, ["-", "--", "-.", ":"][i // 10 % 4], label=label)
        ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1), title=f"{title} ({benchmark})" if benchmark else title)
        ax.set_xlim(0, thresholds(len(entries[0][1]))[-1])
        ax.grid(True)
        ax.legend(loc="lower left" if curve_key == "success" else "lower right", fontsize=8)
        path = os.path.join(out_dir, file_name)
        figure.savefig(path, dpi=100, bbox_inches="tight")
        written.append(path)
    longterm = [(name, r["longterm"]) for name, r in named.items() if r.get("longterm")]
    if longterm:  # VOT-LT's tracking precision / recall plot, the F-score's point marked
        figure = Figure(figsize=(6, 4.5))
        FigureCanvasAgg(figure)
        ax = figure.add_subplot(1, 1, 1)
        for name, lt in sorted(longterm, key=lambda e: -e[1]["f_score"]):
            line, = ax.plot(lt["curve"]["recall"], lt["curve"]["precision"], label=f"{name} [F {lt['f_score']:.3f}]")
            ax.plot([lt["recall"]], [lt["precision"]], "o", color=line.get_color())
        ax.set(xlabel="Tracking recall", ylabel="Tracking precision", xlim=(0, 1), ylim=(0, 1),
               title=f"Long-term precision / recall ({benchmark})" if benchmark else "Long-term precision / recall")
        ax.grid(True)
        ax.legend(loc="lower left", fontsize=8)
        path = os.path.join(out_dir, "longterm_plot.png")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        written.append(path)
    return written
