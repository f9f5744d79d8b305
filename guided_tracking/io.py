"""Atomic file writes for result, report and box files.

A tracking run over a benchmark can be interrupted at any frame (Ctrl-C, OOM,
pre-emption). Results are therefore written to a temporary file in the target
directory and moved into place with ``os.replace``, which is atomic on POSIX and
Windows: a result file either exists complete or not at all, so a rerun can trust
any file it finds (see ``benchmark.run_benchmark``'s resume logic).
"""
import io
import json
import os
import tempfile

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_savetxt", "atomic_write_json", "count_rows"]


def atomic_write_bytes(path, data: bytes):
    """Write ``data`` to ``path`` atomically, creating parent directories."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # The temporary file must live in the same directory: os.replace is only
    # atomic within one file system.
    fd, tmp_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def atomic_write_text(path, text: str):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_savetxt(path, array, fmt="%.3f", delimiter=","):
    """``np.savetxt`` to ``path`` atomically (same format arguments)."""
    buffer = io.StringIO()
    np.savetxt(buffer, np.asarray(array), fmt=fmt, delimiter=delimiter)
    atomic_write_text(path, buffer.getvalue())


def atomic_write_json(path, obj, indent=2):
    """``json.dump`` to ``path`` atomically; numpy scalars/arrays are converted."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def count_rows(path, num_columns=4, delimiter=","):
    """Number of complete rows of ``num_columns`` numbers in a text file.

    Returns -1 when the file is missing or unparsable, so callers can compare the
    result with an expected frame count without special cases.
    """
    if not os.path.isfile(path):
        return -1
    try:
        rows = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    except ValueError:
        return -1
    if rows.size and rows.shape[1] != num_columns:
        return -1
    return int(rows.shape[0])


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
