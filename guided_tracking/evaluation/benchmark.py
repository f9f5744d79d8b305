"""One-pass evaluation (OPE) of any got10k ``Tracker`` on tracking benchmarks: the
command line (``python -m guided_tracking.evaluation.benchmark``), the layouts and
the output folder. The work is done, one job per module, by
``guided_tracking.frames`` (reading frames), ``sequences`` (benchmark datasets), ``running`` (tracking, workers,
``run_benchmark``), ``results`` (result files), ``scoring`` (got10k's metrics),
``reports`` (report files, tables, attributes, runs) and ``plotting``; their
public names stay importable from here.

``run_benchmark`` tracks every sequence of a benchmark (optionally split over
worker processes), writes got10k-format result files, then scores them with
got10k's own evaluation code and writes ``report.json`` plus success/precision
plots. Supported benchmarks (``BENCHMARKS``):

=============  ==============================================================
otb2013/2015   ``<root>/<Seq>/img/0001.jpg`` + ``<root>/<Seq>/groundtruth_rect.txt``
uav123         ``<root>/data_seq/UAV123/<seq>/000001.jpg`` + ``<root>/anno/UAV123/<seq>.txt``
nfs            ``<root>/<seq>/30/<seq>/00001.jpg`` + ``<root>/<seq>/30/<seq>.txt`` (30 fps, the paper's setting)
got10k_val     ``<root>/val/list.txt``, ``<root>/val/<seq>/00000001.jpg``, ``groundtruth.txt``,
               ``meta_info.ini``, ``cover.label``, ``absence.label``, ``cut_by_image.label``
got10k_test    ``<root>/test/list.txt``, ``<root>/test/<seq>/00000001.jpg`` + first-frame ``groundtruth.txt``
lasot          ``<root>/<class>/<class>-<n>/img/00000001.jpg`` + ``groundtruth.txt`` (280-sequence test split)
folder         any directory of sequences in OTB or GOT-10k layout
               (read by ``guided_tracking.data.datasets.load_folder``)
=============  ==============================================================

Nothing is ever downloaded: got10k's dataset classes are built with their download
path disabled, and a missing root raises ``FileNotFoundError`` naming the path and
the expected layout.

Output layout (``output_dir``)::

    results/<benchmark>/<tracker_name>/<seq>.txt              boxes x,y,w,h (OTB, UAV123, NfS, LaSOT, folder)
    results/<benchmark>/<tracker_name>/times/<seq>_time.txt   seconds per frame
    results/<benchmark>/<tracker_name>/<seq>_confidence.txt   if the tracker has ``last_confidence``
    results/got10k_*/<tracker_name>/<seq>/<seq>_001.txt       GOT-10k layout (one repetition, see below)
    results/got10k_*/<tracker_name>/<seq>/<seq>_time.txt, <seq>_confidence.txt
    results/got10k_test/<tracker_name>.zip                    submission archive (got10k's own report())
    reports/<benchmark>/<tracker_name>/report.json            our summary (see ``run_benchmark``)
    reports/<benchmark>/<tracker_name>/performance.json       got10k's raw report
    reports/<benchmark>/<tracker_name>/*_plot.png             success / precision plots

GOT-10k's protocol runs stochastic trackers 3 times (``<seq>_001..003.txt``); got10k
itself records a single repetition for deterministic trackers, and so do we.

Tracker factories: ``tracker_factory`` is a picklable callable returning a fresh
``got10k.trackers.Tracker`` (e.g. ``functools.partial(build_tracker, cfg_path, opts)``
or a class). It is called once per worker process. When ``devices`` is given, worker
``i`` calls ``tracker_factory(device=devices[i % len(devices)])``, so the factory must
then accept a ``device`` keyword; without ``devices`` it is called with no argument.
"""
import argparse
import functools
import importlib
import logging
import sys

from ..frames import FrameReadError, load_rgb_frame
from .plotting import plot_curves
from .reports import load_report, print_table
from .running import run_benchmark, track_sequence  # noqa: F401
from .sequences import BENCHMARKS, load_benchmark

__all__ = [
    "BENCHMARKS",
    "FrameReadError",
    "load_rgb_frame",
    "load_benchmark",
    "track_sequence",
    "run_benchmark",
    "load_report",
    "print_table",
    "plot_curves",
    "main",
]

logger = logging.getLogger(__name__)


def _resolve_tracker(spec):
    """A tracker factory from a baseline name ("csrt", "kcf", "nano") or "module:callable"."""
    from .baselines import BASELINES, baseline_factory

    if spec.lower() in BASELINES:
        return baseline_factory(spec)[1]
    if ":" not in spec:
        raise ValueError(f"--tracker expects one of {sorted(BASELINES)} or 'module:callable', got {spec!r}")
    module_name, attr = spec.split(":", 1)
    return functools.reduce(getattr, attr.split("."), importlib.import_module(module_name))


def main(argv=None) -> int:
    """``python -m guided_tracking.evaluation.benchmark``; exit status 1 when a sequence failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True, choices=BENCHMARKS)
    parser.add_argument("--root", required=True, help="dataset root")
    parser.add_argument("--tracker", default="csrt",
                        help="baseline name (csrt, kcf, nano: NanoTrack v2 from $GUIDED_TRACKING_NANOTRACK_DIR) "
                             "or 'module:callable' returning a got10k Tracker")
    parser.add_argument("--name", help="tracker name used in result folders (default: from --tracker)")
    parser.add_argument("--output", default="output/evaluation")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--devices", help="comma separated, e.g. cuda:0,cuda:1 (passed as device=...)")
    parser.add_argument("--visualize", action="store_true", help="write annotated frames")
    parser.add_argument("--per-sequence", action="store_true", help="print the AUC of every sequence")
    args = parser.parse_args(argv)

    from detectron2.utils.logger import setup_logger

    setup_logger(name="guided_tracking", abbrev_name="gt")
    try:
        factory = _resolve_tracker(args.tracker)
    except (KeyError, FileNotFoundError, ImportError, ValueError) as e:
        parser.error(f"--tracker {args.tracker}: {e.args[0] if e.args else e}")
    name = args.name or (args.tracker.upper() if ":" not in args.tracker else args.tracker.rsplit(":", 1)[1])
    devices = args.devices.split(",") if args.devices else None
    report = run_benchmark(factory, args.benchmark, args.root, args.output, name, num_workers=args.num_workers,
                           devices=devices, visualize=args.visualize)
    if args.per_sequence and report["overall"]:  # run_benchmark printed the overall table
        print_table({name: report}, per_sequence=True)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    # Run the importable module's main(), not this __main__ copy: worker processes
    # must unpickle guided_tracking.evaluation.benchmark._worker_main.
    from guided_tracking.evaluation.benchmark import main as _main

    sys.exit(_main())
