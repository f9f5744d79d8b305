"""Issue 12: a folder of broken sequences, run together; each one is tracked or
gets one clear line (file, line, what is wrong), and nothing stops the run."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from got10k.trackers import Tracker

from guided_tracking.evaluation.benchmark import run_benchmark

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 5  # frames per sequence
BOX = "12,10,16,12"


class StillTracker(Tracker):
    """Reports the first box on every frame: the tests are about the data, not tracking."""

    def __init__(self, device=None):
        super().__init__(name="Still", is_deterministic=True)

    def init(self, image, box):
        self.box, self.last_confidence = np.asarray(box, dtype=float), 1.0

    def update(self, image):
        np.asarray(image)  # the frame must be a real image
        return self.box


def _frame(size_wh=(48, 36), value=None, channels=3, dtype=np.uint8, seed=0):
    w, h = size_wh
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    image = rng.integers(0, top, size=(h, w, channels)).astype(dtype) if value is None else \
        np.full((h, w, channels), value, dtype)
    return image[:, :, 0] if channels == 1 else image


def _write_seq(root, name, frames=None, anno=None, anno_text=None, layout="otb", ext=".jpg", encoding="utf-8",
               newline="\n", names=None):
    seq = os.path.join(root, name)
    img_dir = os.path.join(seq, "img") if layout == "otb" else seq
    os.makedirs(img_dir, exist_ok=True)
    frames = [_frame(seed=i) for i in range(N)] if frames is None else frames
    for i, frame in enumerate(frames):
        file_name = names[i] if names else f"{i + 1:04d}{ext}"
        assert cv2.imwrite(os.path.join(img_dir, file_name), frame)
    if anno_text is None:
        anno_text = newline.join([BOX] * len(frames) if anno is None else anno) + newline
    if anno_text is not False:
        with open(os.path.join(seq, "groundtruth_rect.txt"), "w", encoding=encoding, newline="") as f:
            f.write(anno_text)
    return seq


def _corrupt(seq, index, data=b"not an image at all"):
    path = os.path.join(seq, "img", f"{index:04d}.jpg")
    with open(path, "wb") as f:
        f.write(data)
    return path


def build_broken_folder(root):
    """{sequence: expected outcome}: "tracked", ("unreadable", [frames]) or
    ("failed", [substrings of its one-line reason])."""
    os.makedirs(root, exist_ok=True)
    expect = {}

    def add(name, outcome, **kw):
        _write_seq(root, name, **kw)
        expect[name] = outcome

    add("good", "tracked")
    add("tabs", "tracked", anno_text="\n".join(["12\t10\t16\t12"] * N) + "\n")
    add("spaces", "tracked", anno_text="\n".join(["12 10 16 12"] * N) + "\n")
    add("crlf", "tracked", newline="\r\n")
    add("bom", "tracked", anno_text="\ufeff" + "\n".join([BOX] * N) + "\n")
    add("scientific", "tracked", anno_text="\n".join(["1.2e1,1e1,1.6E1,12.0"] * N) + "\n")
    add("trailing_blank_lines", "tracked", anno_text="\n".join([BOX] * N) + "\n\n\n")
    add("gray", "tracked", frames=[_frame(channels=1, seed=i) for i in range(N)])
    add("rgba_png", "tracked", frames=[_frame(channels=4, seed=i) for i in range(N)], ext=".png")
    add("16bit_png", "tracked", frames=[_frame(dtype=np.uint16, seed=i) for i in range(N)], ext=".png")
    add("tiny_frames", "tracked", frames=[_frame((8, 6), seed=i) for i in range(N)], anno=["1,1,4,3"] * N)
    add("huge_frames", "tracked", frames=[_frame((2400, 1600), value=90) for _ in range(N)])
    add("black_frames", "tracked", frames=[_frame(value=0) for _ in range(N)])
    add("sizes_vary", "tracked", frames=[_frame((48 + 8 * i, 36 + 4 * i), seed=i) for i in range(N)])
    add("box_partly_outside", "tracked", anno=["40,30,20,20"] * N)
    add("box_larger_than_frame", "tracked", anno=["-10,-10,80,60"] * N)
    add("Café_séquence", "tracked")
    add("one_frame", ("failed", ["one frame only", "nothing to score"]), frames=[_frame(seed=0)], anno=[BOX])
    add("nan_first_box", ("failed", ["groundtruth_rect.txt:1", "NaN"]), anno=["NaN,NaN,NaN,NaN"] + [BOX] * (N - 1))
    add("zero_first_box", ("failed", ["groundtruth_rect.txt:1", "zero width or height"]),
        anno=["12,10,0,0"] + [BOX] * (N - 1))
    add("first_box_outside", ("failed", ["groundtruth_rect.txt:1", "outside the 48x36 first frame"]),
        anno=["100,100,10,10"] + [BOX] * (N - 1))
    add("negative_width", ("failed", ["groundtruth_rect.txt:3", "negative width"]),
        anno=[BOX, BOX, "12,10,-16,12", BOX, BOX])
    add("wrong_field_count", ("failed", ["groundtruth_rect.txt:2", "expected 4 numbers"]),
        anno=[BOX, "12,10,16", BOX, BOX, BOX])
    add("more_boxes_than_frames", ("failed", ["groundtruth_rect.txt", f"{N + 2} annotation lines but {N} frames"]),
        anno=[BOX] * (N + 2))
    add("empty_annotation", ("failed", ["groundtruth_rect.txt", "empty annotation file"]), anno_text="")
    add("no_annotation", ("failed", ["groundtruth_rect.txt", "file not found"]), anno_text=False)
    add("missing_frame", ("failed", [f"{N} annotation lines but {N - 1} frames", "frame numbers missing: 3"]),
        names=[f"{i:04d}.jpg" for i in (1, 2, 4, 5)], frames=[_frame(seed=i) for i in range(N - 1)], anno=[BOX] * N)
    # Frames defects.
    seq = _write_seq(root, "corrupt_mid_frame")
    _corrupt(seq, 3)
    expect["corrupt_mid_frame"] = ("unreadable", [3])
    seq = _write_seq(root, "truncated_mid_frame")
    with open(os.path.join(seq, "img", "0004.jpg"), "rb") as f:
        data = f.read()
    _corrupt(seq, 4, data[: len(data) // 3])
    expect["truncated_mid_frame"] = ("unreadable", [4])
    seq = _write_seq(root, "corrupt_first_frame")
    _corrupt(seq, 1)
    expect["corrupt_first_frame"] = ("failed", ["0001.jpg"])
    seq = _write_seq(root, "symlinked_frames")
    for i in range(1, N + 1):
        path = os.path.join(seq, "img", f"{i:04d}.jpg")
        os.rename(path, path + ".data")
        os.symlink(os.path.basename(path) + ".data", path)
    expect["symlinked_frames"] = "tracked"
    if os.geteuid() != 0:  # root reads any file: the defect cannot be built
        seq = _write_seq(root, "unreadable_permissions")
        os.chmod(os.path.join(seq, "img", "0002.jpg"), 0)
        expect["unreadable_permissions"] = ("unreadable", [2])
    # Folders that are no sequence, or an empty one.
    os.makedirs(os.path.join(root, "empty_sequence", "img"))
    with open(os.path.join(root, "empty_sequence", "groundtruth_rect.txt"), "w") as f:
        f.write(BOX + "\n")
    expect["empty_sequence"] = ("failed", ["no frames"])
    seq = os.path.join(root, "no_img_folder")
    os.makedirs(seq)
    with open(os.path.join(seq, "groundtruth_rect.txt"), "w") as f:
        f.write(BOX + "\n")
    expect["no_img_folder"] = ("failed", ["no_img_folder", "no frames"])
    return expect


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("broken") / "data")
    expect = build_broken_folder(root)
    out = str(tmp_path_factory.mktemp("out"))
    report = run_benchmark(StillTracker, "folder", root, out, "Still")
    return root, out, expect, report


def test_every_sequence_is_tracked_or_has_one_clear_line(broken_run):
    _, _, expect, report = broken_run
    tracked = {k for k, v in expect.items() if v == "tracked" or v[0] == "unreadable"}
    failed = {k: v[1] for k, v in expect.items() if v != "tracked" and v[0] == "failed"}
    assert set(report["sequences"]) == tracked
    assert set(report["failures"]) == set(failed) and report["failed"] == sorted(failed)
    for name, parts in failed.items():
        reason = report["failures"][name]
        assert "\n" not in reason and "Traceback" not in reason, (name, reason)
        for part in parts:
            assert part in reason, (name, part, reason)
    unreadable = {k: v[1] for k, v in expect.items() if v != "tracked" and v[0] == "unreadable"}
    assert report["unreadable_frames"] == unreadable
    assert len(expect) >= 30 and report["overall"] is not None


def test_results_survive_and_a_rerun_resumes(broken_run, tmp_path):
    root, out, _, report = broken_run
    again = run_benchmark(StillTracker, "folder", root, out, "Still")
    assert again["failures"] == report["failures"] and again["unreadable_frames"] == report["unreadable_frames"]
    assert again["overall"] == report["overall"]
    with pytest.raises(Exception, match="corrupt_first_frame"):  # the first broken one, in name order
        run_benchmark(StillTracker, "folder", root, str(tmp_path / "strict"), "Still", strict=True)


def test_track_net_exit_status_and_no_traceback(broken_run, tmp_path):
    """The CLI run over the whole folder: exit status 1, one line per failed
    sequence, no traceback unless --debug, report.json on disk."""
    root = broken_run[0]
    code = ("import sys, track_net, tests.test_reliability as t; "
            "track_net.make_got10k_tracker = lambda *a, **k: t.StillTracker(); sys.exit(track_net.main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "--benchmark", "folder", "--root", root, "--output",
                          str(tmp_path), "--name", "Still"], cwd=REPO_ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": REPO_ROOT}, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 1, log[-3000:]
    assert "Traceback" not in log and "could not be tracked" in log
    report = json.load(open(os.path.join(tmp_path, "reports", "folder", "Still", "report.json")))
    assert report["failures"] == broken_run[3]["failures"]
