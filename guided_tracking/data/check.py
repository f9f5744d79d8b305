# -*- coding: utf-8 -*-
"""
Validate a tracking dataset folder before training or evaluating on it.

    python -m guided_tracking.data.check ROOT --format {got10k,lasot,otb,uav123,nfs,folder} \\
        [--split SPLIT] [--version VERSION] [--fps FPS]

Loads every sequence with the project's loaders in collector mode, prints one
line per problem (``file:line: what``), then a summary line. Exit code 1 when
problems were found, 0 otherwise.

Besides format errors it flags sequences whose first frame has no visible target:
trackers are initialised from frame 0, so such a sequence cannot be run.
"""
import argparse
import logging
import os
import sys
from typing import List, Optional, Tuple

from .datasets import LOADERS, DatasetFormatError

__all__ = ["check_dataset", "main"]


def _subsets(fmt: str, root: str, split: Optional[str], version: Optional[str], fps: Optional[int]):
    """(label, loader kwargs) for each subset to check."""
    if fmt == "got10k":
        if split is not None:
            return [(f"split {split}", {"split": split})]
        if os.path.isfile(os.path.join(root, "list.txt")):  # root is a split folder
            return [("split folder", {"split": None})]
        present = [s for s in ("train", "val", "test") if os.path.isfile(os.path.join(root, s, "list.txt"))]
        # Nothing present: check "val" so that the loader reports what is missing.
        return [(f"split {s}", {"split": s}) for s in present or ["val"]]
    if fmt == "lasot":
        # Default: every sequence folder present, whatever its split.
        return [(f"split {split or 'all'}", {"split": None if split in (None, "all") else split})]
    if fmt == "otb":
        v = None if version in (None, "all") else (int(version) if str(version).isdigit() else version)
        return [(f"version {v or 'all'}", {"version": v})]
    if fmt == "uav123":
        return [(f"version {version or 'UAV123'}", {"version": version or "UAV123"})]
    if fmt == "nfs":
        return [(f"{fps or 30} fps", {"fps": fps or 30})]
    return [("folder", {})]


def _first_frame_problems(records: List[dict]) -> List[DatasetFormatError]:
    problems = []
    for r in records:
        if len(r["visible"]) and not r["visible"][0]:
            problems.append(DatasetFormatError(
                f"{r['anno_file']}:1: first frame of {r['seq_name']} has no visible target box "
                f"({r['boxes_xywh'][0].tolist()}); trackers are initialised from it",
                path=r["anno_file"], line=1))
    return problems


def check_dataset(root: str, fmt: str, split: Optional[str] = None, version: Optional[str] = None,
                  fps: Optional[int] = None) -> Tuple[List[dict], List[Exception]]:
    """Load every sequence of ``root``; return (records, problems) without raising
    for problems in the data (a missing root is a problem too)."""
    records: List[dict] = []
    problems: List[Exception] = []
    for _label, kwargs in _subsets(fmt, root, split, version, fps):
        errors: List[Exception] = []
        try:
            loaded = LOADERS[fmt](root, errors=errors, **kwargs)
        except (DatasetFormatError, FileNotFoundError, ValueError, ImportError) as e:
            errors.append(e)
            loaded = []
        records.extend(loaded)
        problems.extend(errors)
        problems.extend(_first_frame_problems(loaded))
    return records, problems


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m guided_tracking.data.check",
        description="Validate a tracking dataset folder: loads every sequence, reports every problem.",
    )
    parser.add_argument("root", help="dataset folder")
    parser.add_argument("--format", required=True, choices=sorted(LOADERS), help="layout of ROOT")
    parser.add_argument("--split", default=None,
                        help="got10k: train/val/test (default: every split present); "
                             "lasot: train/test/all (default all)")
    parser.add_argument("--version", default=None,
                        help="otb: 2013/2015/tb50/tb100/all (default all folders); uav123: UAV123/UAV20L/UAV123@10fps")
    parser.add_argument("--fps", type=int, default=None, choices=(30, 240), help="nfs frame rate (default 30)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parse_args(argv)
    # Loader warnings (e.g. sequences of a split missing) go to stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    records, problems = check_dataset(args.root, args.format, args.split, args.version, args.fps)
    for problem in problems:
        print(problem)
    n_frames = sum(len(r["file_names"]) for r in records)
    n_hidden = sum(int((~r["visible"]).sum()) for r in records)
    print(f"summary: {len(records)} sequences, {n_frames} frames ({n_hidden} without a visible target), "
          f"{len(problems)} problems in {args.root} ({args.format})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
