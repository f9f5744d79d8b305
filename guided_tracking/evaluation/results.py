"""Result files in got10k's layout (boxes, times, confidence) plus the list of
unreadable frames; written atomically, the box file last (it marks a sequence done)."""
import os

import numpy as np

from ..io import atomic_savetxt, count_rows


def _result_paths(result_dir, seq_name, got10k_layout):
    """Paths got10k's experiments read (boxes, times) plus our confidence file."""
    if got10k_layout:
        seq_dir = os.path.join(result_dir, seq_name)
        return {
            "boxes": os.path.join(seq_dir, f"{seq_name}_001.txt"),
            "times": os.path.join(seq_dir, f"{seq_name}_time.txt"),
            # Not matched by got10k's "<seq>_[0-9]*.txt" repetition glob.
            "confidence": os.path.join(seq_dir, f"{seq_name}_confidence.txt"),
            "unreadable": os.path.join(seq_dir, f"{seq_name}_unreadable.txt"),
        }
    return {
        "boxes": os.path.join(result_dir, f"{seq_name}.txt"),
        "times": os.path.join(result_dir, "times", f"{seq_name}_time.txt"),
        "confidence": os.path.join(result_dir, f"{seq_name}_confidence.txt"),
        "unreadable": os.path.join(result_dir, "unreadable", f"{seq_name}_unreadable.txt"),
    }


def _is_complete(paths, num_frames):
    return (count_rows(paths["boxes"], 4) == num_frames
            and count_rows(paths["times"], 1) == num_frames)


def _write_results(paths, boxes_xywh, times_s, confidences, unreadable_frame_ids=()):
    # The box file is written last: it is what marks a sequence as done.
    atomic_savetxt(paths["times"], times_s, fmt="%.8f")
    if confidences is not None:
        atomic_savetxt(paths["confidence"], confidences, fmt="%.5f")
    if unreadable_frame_ids:  # 1-based frame numbers, one per line
        atomic_savetxt(paths["unreadable"], np.asarray(unreadable_frame_ids) + 1, fmt="%d")
    elif os.path.exists(paths["unreadable"]):
        os.remove(paths["unreadable"])
    atomic_savetxt(paths["boxes"], boxes_xywh, fmt="%.3f", delimiter=",")


def _read_unreadable(paths):
    """1-based numbers of the frames that could not be read, [] when none."""
    if not os.path.isfile(paths["unreadable"]):
        return []
    return [int(v) for v in np.atleast_1d(np.loadtxt(paths["unreadable"], dtype=np.int64))]
