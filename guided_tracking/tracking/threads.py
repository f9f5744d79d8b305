"""How many threads a tracking process uses, chosen once and said in the log.

One sequence at a time gets every core this process may use: a per-frame
forward on a 256 px crop is small, and on this project's 2-core machine two
threads run it ~1.4x faster than one. K tracking processes side by side get
cores // K threads each, so they do not oversubscribe the CPU (each of K
processes with all cores is slower than one thread each).
"""
import logging
import os
import sys
from typing import Optional

__all__ = ["available_cores", "configure_threads"]

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity mask, e.g. a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def configure_threads(num_processes: int = 1, threads: Optional[int] = None, opencv: bool = True) -> int:
    """Set torch's (and OpenCV's) intra-op threads for one of ``num_processes``
    tracking processes: ``threads`` if given, else available cores // processes
    (at least 1). ``opencv`` False leaves OpenCV alone (a process forked from a
    parent whose OpenCV pool is running must not reconfigure it: it deadlocks).
    Returns the thread count."""
    import torch

    count = int(threads) if threads else max(1, available_cores() // max(1, int(num_processes)))
    torch.set_num_threads(count)
    if opencv and "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(count)
    logger.info(f"Tracking with {count} torch{' and OpenCV' if opencv else ''} thread(s) per process "
                f"({available_cores()} cores, {num_processes} tracking process(es))")
    return count
