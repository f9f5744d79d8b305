"""End to end: train a tiny guided detector for 2 iterations on synthetic videos
(GuidedTrainer, in-process), then run ``track_net.main`` on a folder benchmark
and on an image folder.
"""
import json
import logging
import os
import sys

import numpy as np
import pytest

from guided_tracking import get_guided_cfg
from guided_tracking.data.datasets import load_folder, register_all_video_datasets
from guided_tracking.data.synthetic import generate_videos
from guided_tracking.engine import GuidedTrainer

from conftest import CPU_YAML, REPO_ROOT, SSD_CPU_YAML, synthetic_dataset_opts

sys.path.insert(0, REPO_ROOT)
import track_net  # noqa: E402

TRACKER_NAME = "GuidedRCNN"

TINY_YAML = """\
_BASE_: "{base}"
MODEL:
  DEVICE: "cpu"
  MOBILENET:
    PRETRAINED: False
  FPN:
    OUT_CHANNELS: 16
  GUIDED:
    EXEMPLAR_SIZES: [32]
    EXEMPLAR_SIZE_OF_LEVEL: []
  RPN:
    PRE_NMS_TOPK_TRAIN: 200
    POST_NMS_TOPK_TRAIN: 32
    PRE_NMS_TOPK_TEST: 100
    POST_NMS_TOPK_TEST: 32
    BATCH_SIZE_PER_IMAGE: 32
  ROI_HEADS:
    BATCH_SIZE_PER_IMAGE: 16
  ROI_BOX_HEAD:
    FC_DIM: 32
INPUT:
  GUIDED:
    SEARCH_SIZE: 64
TRACKER:
  INIT_SAMPLES: 4
  UPDATE_INTERVAL: 3
  ROIS_PER_SAMPLE: 16
"""

TINY_SSD_YAML = """\
_BASE_: "{base}"
MODEL:
  DEVICE: "cpu"
  MOBILENET:
    PRETRAINED: False
  FPN:
    OUT_CHANNELS: 16
  GUIDED:
    EXEMPLAR_SIZES: [32, 64]
    EXEMPLAR_SIZE_OF_LEVEL: [0, 1, 1]
INPUT:
  GUIDED:
    SEARCH_SIZE: 64
TRACKER:
  INIT_SAMPLES: 4
  UPDATE_INTERVAL: 3
"""


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    """torch and OpenCV single-threaded for this module (see conftest.single_threaded)."""
    yield


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("track_net")


@pytest.fixture(scope="module")
def tiny_yaml(workdir):
    path = workdir / "tiny_guided_rcnn.yaml"
    path.write_text(TINY_YAML.format(base=os.path.abspath(CPU_YAML)))
    return str(path)


@pytest.fixture(scope="module")
def ssd_yaml(workdir):
    """The one-stage CPU model (GuidedSSD), tiny."""
    path = workdir / "tiny_guided_ssd.yaml"
    path.write_text(TINY_SSD_YAML.format(base=os.path.abspath(SSD_CPU_YAML)))
    return str(path)


def _train_two_iterations(config_file, output_dir, synthetic_videos):
    """model_final.pth of 2 real training iterations (MAML on synthetic triplets), in-process."""
    cfg = get_guided_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(synthetic_dataset_opts(synthetic_videos) + [
        "DATALOADER.NUM_WORKERS", 0, "SOLVER.IMS_PER_BATCH", 2, "SOLVER.MAX_ITER", 2, "SOLVER.WARMUP_ITERS", 0,
        "SOLVER.CHECKPOINT_PERIOD", 1000, "SOLVER.MAX_MINUTES", 0.0, "OUTPUT_DIR", output_dir,
        "SEED", 0,
    ])
    cfg.freeze()
    try:
        trainer = GuidedTrainer(cfg)
        trainer.resume_or_load(resume=False)
        trainer.train()
        assert trainer.iter == cfg.SOLVER.MAX_ITER  # training finished
    finally:
        # Put the standard names back where the import-time registration had them.
        register_all_video_datasets()
    path = os.path.join(cfg.OUTPUT_DIR, "model_final.pth")
    assert os.path.isfile(path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tiny_yaml, workdir, synthetic_videos):
    return _train_two_iterations(tiny_yaml, str(workdir / "train"), synthetic_videos)


@pytest.fixture(scope="module")
def sequences(workdir):
    """Two short synthetic sequences in GOT-10k layout (with list.txt)."""
    generate_videos(str(workdir / "sequences"), num_videos=2, num_frames=7, seed=5, split="val",
                    image_size_wh=(96, 72))
    return str(workdir / "sequences" / "val")


def _iou(a, b):
    x0, y0 = np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])
    x1 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def test_benchmark_end_to_end_and_resume(tiny_yaml, checkpoint, sequences, workdir):
    out = str(workdir / "eval")
    argv = ["--config-file", tiny_yaml, "--benchmark", "folder", "--root", sequences, "--output", out,
            "MODEL.WEIGHTS", checkpoint]
    assert track_net.main(argv) == 0

    result_dir = os.path.join(out, "results", "folder", TRACKER_NAME)
    report_dir = os.path.join(out, "reports", "folder", TRACKER_NAME)
    with open(os.path.join(report_dir, "report.json")) as f:
        report = json.load(f)
    seqs = load_folder(sequences)
    names = [s["seq_name"] for s in seqs]
    assert len(names) == 2
    assert report["benchmark"] == "folder" and report["tracker"] == TRACKER_NAME
    assert report["failed"] == [] and sorted(report["sequences"]) == sorted(names)
    assert 0.0 <= report["overall"]["auc"] <= 1.0 and 0.0 <= report["overall"]["op50"] <= 1.0
    assert report["plots"] and all(os.path.isfile(p) and os.path.getsize(p) > 0 for p in report["plots"])

    mtimes = {}
    for seq in seqs:
        name, gt = seq["seq_name"], np.asarray(seq["boxes_xywh"], np.float64)
        boxes_path = os.path.join(result_dir, f"{name}.txt")
        boxes = np.loadtxt(boxes_path, delimiter=",", ndmin=2)
        assert boxes.shape == (len(seq["file_names"]), 4)  # one box per frame
        assert np.all(np.isfinite(boxes)) and np.all(boxes[:, 2:] > 0)
        np.testing.assert_allclose(boxes[0], gt[0], atol=1e-3)  # frame 0 is the given box
        times = np.loadtxt(os.path.join(result_dir, "times", f"{name}_time.txt"), ndmin=1)
        confidence = np.loadtxt(os.path.join(result_dir, f"{name}_confidence.txt"), ndmin=1)
        assert times.shape == confidence.shape == (len(boxes),) and np.all(times > 0)
        assert confidence[0] == 1.0 and np.all((confidence >= 0) & (confidence <= 1))
        # The report's AUC is the success AUC of these very files (got10k: 21 thresholds, IoU > t).
        visible = np.all(np.isfinite(gt), axis=1) & np.asarray(seq.get("visible", np.ones(len(gt), bool)), bool)
        ious = _iou(boxes[visible], gt[visible])
        auc = np.mean([(ious > t).mean() for t in np.linspace(0, 1, 21)])
        assert report["sequences"][name]["auc"] == pytest.approx(auc, abs=1e-6)
        mtimes[name] = os.stat(boxes_path).st_mtime_ns

    # A rerun finds every sequence done: nothing is tracked again, the files stay untouched.
    assert track_net.main(argv) == 0
    for name, mtime in mtimes.items():
        assert os.stat(os.path.join(result_dir, f"{name}.txt")).st_mtime_ns == mtime
    with open(os.path.join(report_dir, "report.json")) as f:
        assert json.load(f)["overall"] == report["overall"]


def test_one_stage_model_trains_and_tracks_end_to_end(ssd_yaml, sequences, workdir, synthetic_videos):
    """train_net's trainer and track_net run GuidedSSD from its config alone."""
    weights = _train_two_iterations(ssd_yaml, str(workdir / "train_ssd"), synthetic_videos)
    out = str(workdir / "eval_ssd")
    argv = ["--config-file", ssd_yaml, "--benchmark", "folder", "--root", sequences, "--output", out,
            "MODEL.WEIGHTS", weights]  # named GuidedSSD by its config
    assert track_net.main(argv) == 0
    with open(os.path.join(out, "reports", "folder", "GuidedSSD", "report.json")) as f:
        report = json.load(f)
    assert report["failed"] == [] and len(report["sequences"]) == 2
    for seq in load_folder(sequences):
        boxes = np.loadtxt(os.path.join(out, "results", "folder", "GuidedSSD", f"{seq['seq_name']}.txt"),
                           delimiter=",", ndmin=2)
        assert boxes.shape == (len(seq["file_names"]), 4) and np.all(np.isfinite(boxes)) and np.all(boxes[:, 2:] > 0)


def test_image_folder_writes_video_and_boxes(tiny_yaml, checkpoint, sequences, workdir):
    seq = load_folder(sequences)[0]
    x, y, w, h = np.asarray(seq["boxes_xywh"][0], np.float64)
    out = str(workdir / "single")
    argv = ["--config-file", tiny_yaml, "--images", os.path.dirname(seq["file_names"][0]),
            "--init-box", f"{x},{y},{w},{h}", "--output", out, "--confidence", "MODEL.WEIGHTS", checkpoint]
    assert track_net.main(argv) == 0
    rows = np.loadtxt(os.path.join(out, "boxes.txt"), delimiter=",", ndmin=2)
    assert rows.shape == (len(seq["file_names"]), 5)  # one line per frame, x,y,w,h,confidence
    np.testing.assert_allclose(rows[0, :4], [x, y, w, h], atol=1e-3)
    assert np.all(np.isfinite(rows))
    videos = [n for n in os.listdir(out) if n.startswith("tracked")]
    assert videos, os.listdir(out)
    video = os.path.join(out, videos[0])
    assert os.path.isdir(video) or os.path.getsize(video) > 0


def test_bad_init_box_is_a_clear_error(tiny_yaml, checkpoint, sequences, workdir):
    seq_dir = os.path.dirname(load_folder(sequences)[0]["file_names"][0])
    argv = ["--config-file", tiny_yaml, "--images", seq_dir, "--init-box", "1,2,0,5",
            "--output", str(workdir / "bad"), "MODEL.WEIGHTS", checkpoint]
    with pytest.raises(ValueError, match="width and height"):
        track_net.main(argv)


def test_without_config_and_weights_the_reference_model_tracks(tmp_path):
    """``track_net.py --images DIR --init-box ...``: no config, no weights -> the
    shipped reference model, named in the log."""
    import cv2
    from test_model_zoo import object_sequence

    frames, boxes = object_sequence(num=6)
    frame_dir = tmp_path / "frames"
    frame_dir.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(frame_dir / f"{i:04d}.jpg"), frame)
    x, y, w, h = boxes[0]
    out = str(tmp_path / "out")
    # The message, whatever handlers earlier setup_logger calls left on the logger.
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    log = logging.getLogger("guided_tracking.tracking.build")
    log.addHandler(handler)
    try:
        assert track_net.main(["--images", str(frame_dir), "--init-box", f"{x},{y},{w},{h}", "--output", out]) == 0
    finally:
        log.removeHandler(handler)
    assert any("using the reference model" in r.getMessage() for r in records)
    rows = np.loadtxt(os.path.join(out, "boxes.txt"), delimiter=",", ndmin=2)
    assert rows.shape == (6, 4)
    centre_error = np.abs(rows[-1, :2] + rows[-1, 2:] / 2 - (boxes[-1][:2] + boxes[-1][2:] / 2))
    assert np.all(centre_error < boxes[-1][2:] / 3), (rows[-1], boxes[-1])


def test_missing_nanotrack_files_stop_the_run_before_tracking(tmp_path):
    root = tmp_path / "seqs"
    root.mkdir()
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="nanotrack_backbone_sim.onnx.*--nanotrack-dir"):
        track_net.main(["--benchmark", "folder", "--root", str(root), "--output", str(out),
                        "--baselines", "csrt,nano", "--nanotrack-dir", str(tmp_path)])
    assert not out.exists()  # nothing was tracked or written


def test_demo_trains_each_architecture_in_its_own_folder(tmp_path):
    """``make demo CONFIG=...``: the one-stage demo model never reuses the two-stage checkpoint."""
    from guided_tracking.demo import DEFAULT_CONFIG, demo_config, demo_model_dir

    out = str(tmp_path)
    assert demo_model_dir(DEFAULT_CONFIG, out) == os.path.join(out, "model")
    cfg = demo_config(SSD_CPU_YAML, out, 1.0, train_iters=5)
    assert cfg.OUTPUT_DIR == os.path.join(out, "model_guided_ssd_mnv2_FPN")
    assert cfg.MODEL.META_ARCHITECTURE == "GuidedSSD" and cfg.SOLVER.MAX_ITER == 5
