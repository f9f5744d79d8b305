"""Tests of guided_tracking.evaluation (benchmark runner, reports, video) on tiny synthetic data.

Sequences are a few 64x48 frames with a white rectangle moving on black; the
trackers below are top-level classes so spawned worker processes can unpickle them.
"""
import json
import os
import socket

import cv2
import numpy as np
import pytest
from got10k.trackers import Tracker
from PIL import Image

from guided_tracking.evaluation import benchmark as benchmark_module
from guided_tracking.evaluation import (
    BENCHMARKS,
    FrameReadError,
    load_rgb_frame,
    parse_box_arg,
    plot_curves,
    print_table,
    run_benchmark,
    track_video,
)

FRAME_W, FRAME_H = 64, 48
TARGET_W, TARGET_H = 12, 10
REPORT_KEYS = {"auc", "precision_20", "op50", "op75", "fps"}


# ---------------------------------------------------------------------------
# Dummy trackers
# ---------------------------------------------------------------------------
class SquareTracker(Tracker):
    """Finds the bright rectangle: exact on the synthetic sequences (a "perfect" tracker)."""

    def __init__(self, device=None):
        super().__init__(name="Square", is_deterministic=True)
        self.device = device

    def init(self, image, box):
        self.box = np.asarray(box, dtype=float)
        self.last_confidence = 1.0

    def update(self, image):
        gray = np.asarray(image.convert("L"))
        ys, xs = np.nonzero(gray > 128)
        if len(xs):
            self.box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
        self.last_confidence = 0.9
        return self.box


class ConstantTracker(Tracker):
    """Returns the initial box forever; has no ``last_confidence``."""

    def __init__(self):
        super().__init__(name="Constant", is_deterministic=True)

    def init(self, image, box):
        self.box = np.asarray(box, dtype=float)

    def update(self, image):
        return self.box


class NeverBuilt:
    """A factory that must not be called (resume test)."""

    def __call__(self, **kwargs):
        raise AssertionError("the tracker factory was called although every sequence was finished")


class CountingFactory:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return SquareTracker()


# ---------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------
def target_box(frame_id, offset):
    return np.array([4 + offset + 3 * frame_id, 6 + 2 * frame_id, TARGET_W, TARGET_H], dtype=float)


def make_frame(box_xywh):
    frame = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    x, y, w, h = (int(v) for v in box_xywh)
    frame[y:y + h, x:x + w] = 255
    return frame


def write_sequence(root, name, layout="otb", num_frames=6, offset=0, separator=","):
    """Write one sequence; returns its ground-truth boxes (num_frames, 4)."""
    seq_dir = os.path.join(root, name)
    frame_dir = os.path.join(seq_dir, "img") if layout == "otb" else seq_dir
    os.makedirs(frame_dir, exist_ok=True)
    boxes = np.stack([target_box(i, offset) for i in range(num_frames)])
    digits = 4 if layout == "otb" else 8
    for i, box in enumerate(boxes):
        Image.fromarray(make_frame(box)).save(os.path.join(frame_dir, f"{i + 1:0{digits}d}.jpg"), quality=100)
    anno_name = "groundtruth_rect.txt" if layout == "otb" else "groundtruth.txt"
    with open(os.path.join(seq_dir, anno_name), "w") as f:
        f.writelines(separator.join(f"{v:g}" for v in box) + "\n" for box in boxes)
    return boxes


def make_folder(root, names=("seqA", "seqB", "seqC"), num_frames=6):
    for i, name in enumerate(names):
        write_sequence(root, name, layout="otb" if i % 2 == 0 else "got10k", num_frames=num_frames + i,
                       offset=i, separator=[",", "\t", " "][i % 3])
    return root


def result_rows(path):
    return np.loadtxt(path, delimiter=",", ndmin=2)


@pytest.fixture(scope="module")
def folder_root(tmp_path_factory):
    return str(make_folder(str(tmp_path_factory.mktemp("sequences"))))


@pytest.fixture(scope="module")
def perfect_run(folder_root, tmp_path_factory):
    output_dir = str(tmp_path_factory.mktemp("out"))
    report = run_benchmark(SquareTracker, "folder", folder_root, output_dir, "Square")
    return output_dir, report


# ---------------------------------------------------------------------------
# run_benchmark
# ---------------------------------------------------------------------------
def test_result_files_one_box_per_frame(perfect_run):
    output_dir, report = perfect_run
    result_dir = os.path.join(output_dir, "results", "folder", "Square")
    for name, num_frames in (("seqA", 6), ("seqB", 7), ("seqC", 8)):
        boxes = result_rows(os.path.join(result_dir, f"{name}.txt"))
        assert boxes.shape == (num_frames, 4)
        assert np.loadtxt(os.path.join(result_dir, "times", f"{name}_time.txt")).shape == (num_frames,)
        confidences = np.loadtxt(os.path.join(result_dir, f"{name}_confidence.txt"))
        assert confidences.shape == (num_frames,) and confidences[1] == pytest.approx(0.9)
    assert report["failed"] == []


def test_report_json_and_plots(perfect_run):
    output_dir, report = perfect_run
    report_dir = os.path.join(output_dir, "reports", "folder", "Square")
    with open(os.path.join(report_dir, "report.json")) as f:
        on_disk = json.load(f)
    assert on_disk["overall"] == report["overall"]
    assert set(report["overall"]) == REPORT_KEYS
    assert set(report["sequences"]) == {"seqA", "seqB", "seqC"}
    for scores in list(report["sequences"].values()) + [report["overall"]]:
        assert set(scores) == REPORT_KEYS
        assert 0 <= scores["auc"] <= 1 and scores["fps"] > 0
        # got10k/OTB success AUC averages 21 thresholds 0, 0.05, ..., 1 with IoU > threshold,
        # so a perfect tracker scores 20/21, not 1.
        assert scores["auc"] == pytest.approx(20 / 21, abs=1e-6)
        assert scores["precision_20"] == 1.0 and scores["op50"] == 1.0 and scores["op75"] == 1.0
    for name in ("success_plot.png", "precision_plot.png"):
        assert os.path.getsize(os.path.join(report_dir, name)) > 1000
    assert os.path.isfile(os.path.join(report_dir, "performance.json"))  # got10k's own report


def test_constant_tracker_scores_lower(folder_root, perfect_run, tmp_path, capsys):
    report = run_benchmark(ConstantTracker, "folder", folder_root, str(tmp_path), "Constant")
    perfect = perfect_run[1]
    assert 0 <= report["overall"]["auc"] < perfect["overall"]["auc"]
    assert report["overall"]["precision_20"] < 1.0
    assert not os.path.exists(os.path.join(tmp_path, "results", "folder", "Constant", "seqA_confidence.txt"))
    # Comparing trackers: one table and one plot.
    text = print_table({"Square": perfect, "Constant": report})
    assert "Square" in text and "Constant" in text and "0.952" in text
    paths = plot_curves([perfect, os.path.join(tmp_path, "reports", "folder", "Constant", "report.json")],
                        str(tmp_path / "compare"))
    assert [os.path.basename(p) for p in paths] == ["success_plot.png", "precision_plot.png"]


def test_resume_skips_finished_sequences(folder_root, tmp_path):
    output_dir = str(tmp_path)
    first = run_benchmark(SquareTracker, "folder", folder_root, output_dir, "Square")
    result_dir = os.path.join(output_dir, "results", "folder", "Square")
    mtimes = {f: os.stat(os.path.join(result_dir, f)).st_mtime_ns for f in os.listdir(result_dir) if f.endswith(".txt")}
    second = run_benchmark(NeverBuilt(), "folder", folder_root, output_dir, "Square")
    assert second["overall"] == first["overall"]
    assert {f: os.stat(os.path.join(result_dir, f)).st_mtime_ns for f in mtimes} == mtimes

    # A truncated result file (one box missing) is tracked again, and only that one.
    with open(os.path.join(result_dir, "seqB.txt")) as f:
        lines = f.readlines()
    with open(os.path.join(result_dir, "seqB.txt"), "w") as f:
        f.writelines(lines[:-1])
    factory = CountingFactory()
    third = run_benchmark(factory, "folder", folder_root, output_dir, "Square")
    assert factory.calls == 1 and third["failed"] == []
    assert result_rows(os.path.join(result_dir, "seqB.txt")).shape == (len(lines), 4)
    assert os.stat(os.path.join(result_dir, "seqA.txt")).st_mtime_ns == mtimes["seqA.txt"]


def test_corrupt_frame_mid_sequence_keeps_the_previous_box(tmp_path, caplog):
    """Issue 12: an unreadable frame does not end its sequence: the previous box is
    kept, the confidence file marks the frame with NaN, the report lists it."""
    root = make_folder(str(tmp_path / "data"))
    bad_frame = os.path.join(root, "seqB", "00000003.jpg")
    with open(bad_frame, "wb") as f:
        f.write(b"definitely not a jpeg")
    report = run_benchmark(SquareTracker, "folder", root, str(tmp_path / "out"), "Square")
    assert report["failed"] == [] and set(report["sequences"]) == {"seqA", "seqB", "seqC"}
    assert report["unreadable_frames"] == {"seqB": [3]}
    assert bad_frame in caplog.text and "Traceback" not in caplog.text
    result_dir = os.path.join(tmp_path, "out", "results", "folder", "Square")
    boxes = result_rows(os.path.join(result_dir, "seqB.txt"))
    np.testing.assert_array_equal(boxes[2], boxes[1])  # frame 3 keeps frame 2's box
    confidence = np.loadtxt(os.path.join(result_dir, "seqB_confidence.txt"))
    assert np.isnan(confidence[2]) and np.all(np.isfinite(np.delete(confidence, 2)))
    # A rerun reuses the results and still reports the frame.
    again = run_benchmark(SquareTracker, "folder", root, str(tmp_path / "out"), "Square")
    assert again["unreadable_frames"] == {"seqB": [3]}


def test_unreadable_first_frame_fails_only_its_sequence(tmp_path):
    root = make_folder(str(tmp_path / "data"))
    with open(os.path.join(root, "seqB", "00000001.jpg"), "wb") as f:
        f.write(b"definitely not a jpeg")
    report = run_benchmark(SquareTracker, "folder", root, str(tmp_path / "out"), "Square")
    assert report["failed"] == ["seqB"] and "00000001.jpg" in report["failures"]["seqB"]
    assert set(report["sequences"]) == {"seqA", "seqC"}
    assert report["overall"]["auc"] == pytest.approx(20 / 21, abs=1e-6)
    assert not os.path.exists(os.path.join(tmp_path, "out", "results", "folder", "Square", "seqB.txt"))


def test_two_workers_match_one_worker(folder_root, perfect_run, tmp_path):
    # The default "spawn" start method: "fork" after torch has started its thread
    # pools can deadlock (seen in the full suite), and spawn is what users run.
    report = run_benchmark(SquareTracker, "folder", folder_root, str(tmp_path), "Square", num_workers=2,
                           devices=["cpu"])
    assert report["failed"] == []
    for name in ("seqA", "seqB", "seqC"):
        one = result_rows(os.path.join(perfect_run[0], "results", "folder", "Square", f"{name}.txt"))
        two = result_rows(os.path.join(tmp_path, "results", "folder", "Square", f"{name}.txt"))
        np.testing.assert_array_equal(one, two)
    assert {k: v for k, v in report["overall"].items() if k != "fps"} == \
        {k: v for k, v in perfect_run[1]["overall"].items() if k != "fps"}


def test_factory_without_device_keyword_is_reported(folder_root, tmp_path):
    report = run_benchmark(ConstantTracker, "folder", folder_root, str(tmp_path), "Constant", devices=["cuda:0"])
    assert report["failed"] == ["seqA", "seqB", "seqC"] and report["overall"] is None


@pytest.mark.parametrize("benchmark", [b for b in BENCHMARKS])
def test_missing_root_is_a_clear_error_without_network(benchmark, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr("got10k.utils.ioutils.download", no_network)
    missing = str(tmp_path / "not_here")
    with pytest.raises(FileNotFoundError, match="not_here") as info:
        run_benchmark(NeverBuilt(), benchmark, missing, str(tmp_path / "out"), "T")
    assert "Expected layout" in str(info.value)
    os.makedirs(missing)  # an empty root is just as missing
    with pytest.raises(FileNotFoundError, match="Expected layout"):
        run_benchmark(NeverBuilt(), benchmark, missing, str(tmp_path / "out"), "T")


# ---------------------------------------------------------------------------
# The other named benchmarks, in their got10k layouts (tiny fake copies)
# ---------------------------------------------------------------------------
def write_frames(frame_dir, boxes, digits):
    os.makedirs(frame_dir, exist_ok=True)
    for i, box in enumerate(boxes):
        Image.fromarray(make_frame(box)).save(os.path.join(frame_dir, f"{i + 1:0{digits}d}.jpg"), quality=100)


def make_named_benchmark(root, benchmark):
    """Returns the sequence names written."""
    boxes = np.stack([target_box(i % 12, 0) for i in range(8)])
    if benchmark == "otb2015":
        for name in ("Crossing", "Basketball"):
            write_frames(os.path.join(root, name, "img"), boxes, 4)
            np.savetxt(os.path.join(root, name, "groundtruth_rect.txt"), boxes, fmt="%g", delimiter=",")
        return {"Crossing", "Basketball"}
    if benchmark == "uav123":  # uav6 is UAV123's shortest sequence: frames 1..109 in got10k's uav123.json
        boxes = np.stack([target_box(i % 12, 0) for i in range(109)])
        write_frames(os.path.join(root, "data_seq", "UAV123", "uav6"), boxes, 6)
        anno = boxes.copy()
        anno[50:60] = np.nan  # UAV123 marks absent targets with NaN rows: not scored
        os.makedirs(os.path.join(root, "anno", "UAV123"))
        np.savetxt(os.path.join(root, "anno", "UAV123", "uav6.txt"), anno, fmt="%g", delimiter=",")
        return {"uav6"}
    if benchmark == "nfs":  # "<track> xmin ymin xmax ymax frame lost occluded generated label"
        write_frames(os.path.join(root, "Gymnastics", "30", "Gymnastics"), boxes, 5)
        with open(os.path.join(root, "Gymnastics", "30", "Gymnastics.txt"), "w") as f:
            for i, (x, y, w, h) in enumerate(boxes):
                f.write(f"1 {x:g} {y:g} {x + w:g} {y + h:g} {i + 1} 0 0 0 \"person\"\n")
        return {"Gymnastics"}
    if benchmark == "lasot":
        write_frames(os.path.join(root, "airplane", "airplane-1", "img"), boxes, 8)
        np.savetxt(os.path.join(root, "airplane", "airplane-1", "groundtruth.txt"), boxes, fmt="%g", delimiter=",")
        return {"airplane-1"}
    raise ValueError(benchmark)


@pytest.mark.parametrize("benchmark", ["otb2015", "uav123", "nfs", "lasot"])
def test_named_benchmark_layouts(benchmark, tmp_path):
    root = str(tmp_path / benchmark)
    names = make_named_benchmark(root, benchmark)
    report = run_benchmark(SquareTracker, benchmark, root, str(tmp_path / "out"), "Square")
    assert set(report["sequences"]) == names and report["failed"] == []
    assert report["overall"]["auc"] == pytest.approx(20 / 21, abs=1e-6)
    assert report["overall"]["precision_20"] == 1.0
    if benchmark == "lasot":
        assert report["overall"]["norm_precision"] == 1.0
        assert os.path.isfile(os.path.join(tmp_path, "out", "reports", "lasot", "Square", "norm_precision_plot.png"))
    if benchmark in ("otb2015", "lasot"):  # the rest of the benchmark is reported missing, not silently dropped
        # OTB-2015 lists 98 folders (Jogging and Skating2 hold two targets each: 100 sequences).
        assert len(report["missing"]) == {"otb2015": 98 - 2, "lasot": 280 - 1}[benchmark]
    for name in names:
        assert os.path.isfile(os.path.join(tmp_path, "out", "results", benchmark, "Square", f"{name}.txt"))


# ---------------------------------------------------------------------------
# GOT-10k layout (results <seq>/<seq>_001.txt, got10k's AO, submission zip)
# ---------------------------------------------------------------------------
def make_got10k(root, subset, names=("GOT-10k_Val_000001", "GOT-10k_Val_000002")):
    subset_dir = os.path.join(root, subset)
    os.makedirs(subset_dir, exist_ok=True)
    with open(os.path.join(subset_dir, "list.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    for i, name in enumerate(names):
        boxes = write_sequence(subset_dir, name, layout="got10k", num_frames=5 + i, offset=i)
        seq_dir = os.path.join(subset_dir, name)
        if subset == "test":  # the test set only has the first box
            np.savetxt(os.path.join(seq_dir, "groundtruth.txt"), boxes[:1], fmt="%g", delimiter=",")
            continue
        with open(os.path.join(seq_dir, "meta_info.ini"), "w") as f:
            f.write(f"[METAINFO]\nobject_class: square\nresolution: ({FRAME_W}, {FRAME_H})\n")
        for label, value in (("cover", 8), ("absence", 0), ("cut_by_image", 0)):
            np.savetxt(os.path.join(seq_dir, f"{label}.label"), np.full(len(boxes), value), fmt="%d")
    return root


def test_got10k_val_layout_and_scores(tmp_path):
    root = make_got10k(str(tmp_path / "got10k"), "val")
    report = run_benchmark(SquareTracker, "got10k_val", root, str(tmp_path / "out"), "Square", visualize=True)
    assert len(os.listdir(tmp_path / "out" / "visualize" / "got10k_val" / "Square" / "GOT-10k_Val_000002")) == 6
    seq_dir = os.path.join(tmp_path, "out", "results", "got10k_val", "Square", "GOT-10k_Val_000002")
    assert result_rows(os.path.join(seq_dir, "GOT-10k_Val_000002_001.txt")).shape == (6, 4)
    assert os.path.isfile(os.path.join(seq_dir, "GOT-10k_Val_000002_time.txt"))
    assert os.path.isfile(os.path.join(seq_dir, "GOT-10k_Val_000002_confidence.txt"))
    # GOT-10k's AO is a mean IoU: a perfect tracker gets 1.
    assert report["overall"]["auc"] == pytest.approx(1.0, abs=1e-6)
    assert report["overall"]["op50"] == 1.0 and report["overall"]["precision_20"] is None
    assert set(report["sequences"]) == {"GOT-10k_Val_000001", "GOT-10k_Val_000002"}


def test_got10k_test_writes_submission_zip(tmp_path):
    import zipfile

    root = make_got10k(str(tmp_path / "got10k"), "test", names=("GOT-10k_Test_000001",))
    report = run_benchmark(ConstantTracker, "got10k_test", root, str(tmp_path / "out"), "Const")
    assert report["overall"] is None and report["failed"] == []
    with zipfile.ZipFile(report["submission"]) as archive:
        names = archive.namelist()
    assert any(n.endswith("GOT-10k_Test_000001/GOT-10k_Test_000001_001.txt") for n in names)


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------
def test_frames_are_converted_to_8bit_rgb(tmp_path):
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 7)]), "RGBA").save(tmp_path / "rgba.png")
    cv2.imwrite(str(tmp_path / "deep.png"), gray.astype(np.uint16) * 257)  # 16-bit PNG
    for name in ("gray.png", "rgba.png", "deep.png"):
        image = load_rgb_frame(str(tmp_path / name))
        assert image.mode == "RGB" and image.size == (64, 48), name
        np.testing.assert_array_equal(np.asarray(image)[..., 1], gray, err_msg=name)
    with open(tmp_path / "broken.jpg", "wb") as f:
        f.write(b"\xff\xd8garbage")
    with pytest.raises(FrameReadError, match="broken.jpg"):
        load_rgb_frame(str(tmp_path / "broken.jpg"))
    with pytest.raises(FrameReadError, match="absent.jpg"):
        load_rgb_frame(str(tmp_path / "absent.jpg"))


# ---------------------------------------------------------------------------
# video.py
# ---------------------------------------------------------------------------
def test_track_video_file(tmp_path):
    video_path = str(tmp_path / "input.mp4")
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*"mp4v"), 10, (FRAME_W, FRAME_H))
    assert writer.isOpened()
    boxes = [target_box(i, 0) for i in range(8)]
    for box in boxes:
        writer.write(make_frame(box))
    writer.release()
    result = track_video(SquareTracker(), video_path, "4,6,12,10", str(tmp_path / "out"), write_confidence=True)
    rows = np.loadtxt(result["boxes_path"], delimiter=",", ndmin=2)
    assert result["num_frames"] == 8 and rows.shape == (8, 5)
    # mp4v is lossy: allow a pixel of blur around the square.
    np.testing.assert_allclose(rows[:, :4], np.stack(boxes), atol=2)
    assert os.path.getsize(result["video_path"]) > 0
    capture = cv2.VideoCapture(result["video_path"])
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) in (0, 8)  # 0: container without a count
    capture.release()


def test_track_video_image_folder(tmp_path):
    frame_dir = tmp_path / "frames"
    frame_dir.mkdir()
    for i in range(5):
        Image.fromarray(make_frame(target_box(i, 0))).save(frame_dir / f"{i:03d}.png")
    result = track_video(ConstantTracker(), str(frame_dir), np.array([4, 6, 12, 10]), str(tmp_path / "out"))
    rows = np.loadtxt(result["boxes_path"], delimiter=",", ndmin=2)
    assert rows.shape == (5, 4) and np.all(rows == [4, 6, 12, 10])
    assert os.path.exists(result["video_path"])


def test_track_video_falls_back_to_frames_without_codec(tmp_path, monkeypatch):
    from guided_tracking.evaluation import video

    monkeypatch.setattr(video, "_VIDEO_CODECS", (("ZZZZ", "tracked.mp4"),))  # no such codec
    frame_dir = tmp_path / "frames"
    frame_dir.mkdir()
    for i in range(3):
        Image.fromarray(make_frame(target_box(i, 0))).save(frame_dir / f"{i}.jpg")
    result = track_video(SquareTracker(), str(frame_dir), "4,6,12,10", str(tmp_path / "out"))
    assert os.path.isdir(result["video_path"]) and len(os.listdir(result["video_path"])) == 3
    assert not os.path.exists(tmp_path / "out" / "tracked.mp4")


def test_track_video_without_box_or_display_asks_for_init_box(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    frame_dir = tmp_path / "frames"
    frame_dir.mkdir()
    Image.fromarray(make_frame(target_box(0, 0))).save(frame_dir / "0.png")
    with pytest.raises(ValueError, match="--init-box"):
        track_video(ConstantTracker(), str(frame_dir), None, str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="nowhere.mp4"):
        track_video(ConstantTracker(), str(tmp_path / "nowhere.mp4"), "1,2,3,4", str(tmp_path / "out"))


def test_parse_box_arg():
    np.testing.assert_array_equal(parse_box_arg("10,20,30,40"), [10, 20, 30, 40])
    np.testing.assert_array_equal(parse_box_arg(" 1.5 2 3 4 "), [1.5, 2, 3, 4])
    for bad in ("1,2,3", "1,2,3,4,5", "a,b,c,d", "1,2,0,4", "1,2,3,-4", "nan,1,2,3", ""):
        with pytest.raises(ValueError, match="x,y,w,h"):
            parse_box_arg(bad)
