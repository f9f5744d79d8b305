"""The shipped reference model (guided_tracking/model_zoo): file, card, defaults, export."""
import hashlib
import json
import logging
import os

import numpy as np
import pytest
import torch
import yaml

from detectron2.modeling import build_model
from guided_tracking import get_guided_cfg
from guided_tracking.model_zoo import (REFERENCE_CONFIG, REFERENCE_WEIGHTS, export_inference_checkpoint,
                                       get_reference_cfg, load_model_card, reference_fits)
from guided_tracking.model_zoo.export import recipe_config, render_card_markdown
from guided_tracking.tracking.build import build_tracker



def object_sequence(num=10, size_wh=(240, 180)):
    """BGR frames of a patterned object (red/yellow checker, 36x28 px) moving and
    growing over a smooth, lightly textured background; (frames, xywh boxes)."""
    rng = np.random.default_rng(0)
    w, h = size_wh
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([80 + 60 * np.sin(xx / 37), 110 + 50 * np.cos(yy / 29), 90 + 40 * np.sin((xx + yy) / 53)], -1)
    background = np.clip(background + rng.normal(0, 6, background.shape), 0, 255).astype(np.uint8)
    frames, boxes = [], []
    for i in range(num):
        bw, bh = 36 + i, 28 + i
        x, y = 60 + 4 * i, 50 + 3 * i
        frame = background.copy()
        checker = ((np.arange(bh)[:, None] // 6 + np.arange(bw)[None] // 6) % 2).astype(bool)
        patch = np.where(checker[..., None], np.uint8([0, 0, 220]), np.uint8([0, 220, 240]))  # BGR red / yellow
        frame[y:y + bh, x:x + bw] = patch
        frames.append(frame)
        boxes.append(np.array([x, y, bw, bh], dtype=np.float64))
    return frames, boxes


@pytest.fixture
def build_log():
    """Messages logged by guided_tracking.tracking.build (whatever setup_logger did
    to propagation elsewhere in the session)."""
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    log = logging.getLogger("guided_tracking.tracking.build")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield records
    log.removeHandler(handler)
    log.setLevel(old_level)


@pytest.fixture(scope="module")
def card():
    return load_model_card()


def test_shipped_file_is_small_inference_only_and_matches_its_card(card):
    assert os.path.getsize(REFERENCE_WEIGHTS) <= 15 * 1024 * 1024
    assert card["weights"]["bytes"] == os.path.getsize(REFERENCE_WEIGHTS)
    with open(REFERENCE_WEIGHTS, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == card["weights"]["sha256"]
    checkpoint = torch.load(REFERENCE_WEIGHTS, map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"model", "iteration", "__author__", "dtype"}  # no optimizer/scheduler state
    assert checkpoint["dtype"] == card["weights"]["dtype"]
    floats = [v for v in checkpoint["model"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == getattr(torch, checkpoint["dtype"]) for v in floats)
    assert checkpoint["iteration"] + 1 == card["iterations"]


def test_card_matches_the_recipe_config_and_states_the_caveat(card):
    """The card's config is configs/CPU/reference_mnv2_FPN.yaml (as merged): editing
    the recipe without retraining fails here; the run trained to its MAX_ITER."""
    cfg = get_guided_cfg()
    cfg.merge_from_file(REFERENCE_CONFIG)
    # Compared as dumped YAML: a YAML round trip turns nested tuples into lists.
    assert yaml.safe_load(recipe_config(cfg).dump()) == yaml.safe_load(get_reference_cfg().dump())
    assert card["config_file"] == "configs/CPU/reference_mnv2_FPN.yaml"
    assert card["iterations"] == cfg.SOLVER.MAX_ITER
    for benchmark in ("OTB", "UAV123", "DTB70", "VOT", "UAVDT", "LaSOT"):
        assert benchmark in card["caveat"]
    assert "must not be used to report results" in card["caveat"]
    assert card["training_data"]["real"]["sequences"] == len(card["training_data"]["real"]["list"]) > 0
    for label in ("val", "dev"):
        assert 0.0 < card["evaluation"][label]["overall"]["auc"] <= 1.0
    text = render_card_markdown(card)
    assert card["caveat"] in text and f"{card['evaluation']['val']['overall']['auc']:.3f}" in text


def test_reference_cfg_tracks_with_the_package_tracker_defaults(card, tmp_path):
    """Tracker settings are chosen on val after training: a card whose TRACKER
    section says otherwise still tracks with the package's defaults."""
    old = dict(card, config_yaml=card["config_yaml"].replace("WINDOW_INFLUENCE:", "WINDOW_INFLUENCE: 0.123 #"))
    path = tmp_path / "card.json"
    path.write_text(json.dumps(old))
    assert yaml.safe_load(old["config_yaml"])["TRACKER"]["WINDOW_INFLUENCE"] == 0.123
    cfg = get_reference_cfg(str(path))
    assert cfg.TRACKER == get_guided_cfg().TRACKER
    assert cfg.MODEL.META_ARCHITECTURE == yaml.safe_load(card["config_yaml"])["MODEL"]["META_ARCHITECTURE"]


def test_empty_weights_load_the_reference_model_and_track(build_log):
    cfg = get_reference_cfg()
    assert cfg.MODEL.WEIGHTS == ""
    unfolded = cfg.clone()
    unfolded.merge_from_list(["TRACKER.FOLD_BN", False])  # folding rewrites the backbone's weights
    tracker = build_tracker(unfolded)
    assert any("using the reference model" in r.getMessage() for r in build_log)
    shipped = torch.load(REFERENCE_WEIGHTS, map_location="cpu", weights_only=True)["model"]
    for name, value in tracker.model.state_dict().items():
        assert torch.equal(value, shipped[name].to(value.dtype)), name
    tracker = build_tracker(cfg)
    frames, boxes = object_sequence()
    tracker.initialize(frames[0], boxes[0])
    for frame, gt in zip(frames[1:], boxes[1:]):
        box = tracker.track(frame)
        assert np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0
    # A trained model follows the object: centre within a third of its size.
    centre_error = np.abs((box[:2] + box[2:] / 2) - (gt[:2] + gt[2:] / 2))
    assert np.all(centre_error < gt[2:] / 3), (box, gt)


def test_a_config_the_reference_does_not_fit_stays_untrained(tiny_cfg, build_log):
    cfg = tiny_cfg()  # 16 FPN channels: not the reference's shapes
    assert not reference_fits(build_model(cfg))
    build_tracker(cfg)
    assert any("UNTRAINED" in r.getMessage() for r in build_log)


def test_export_keeps_model_tensors_only_in_fp16(tmp_path):
    model = {"a.weight": torch.randn(3, 4), "b.num_batches_tracked": torch.tensor(7)}
    checkpoint = {"model": model, "optimizer": {"state": {0: torch.randn(100)}}, "scheduler": {}, "iteration": 41}
    src, dst = tmp_path / "model_final.pth", tmp_path / "out" / "ref.pth"
    torch.save(checkpoint, src)
    info = export_inference_checkpoint(str(src), str(dst))
    out = torch.load(dst, weights_only=True)
    assert info["iteration"] == out["iteration"] == 41 and info["dtype"] == "float16"
    assert set(out["model"]) == set(model) and "optimizer" not in out
    assert out["model"]["a.weight"].dtype == torch.float16
    assert torch.allclose(out["model"]["a.weight"].float(), model["a.weight"], atol=1e-2)
    assert out["model"]["b.num_batches_tracked"].dtype == torch.int64
    assert os.listdir(dst.parent) == ["ref.pth"]  # no temporary file left
    fp32 = export_inference_checkpoint(str(src), str(tmp_path / "fp32.pth"), fp16=False)
    assert fp32["dtype"] == "float32"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        export_inference_checkpoint(str(tmp_path / "nope.pth"), str(dst))


def test_longterm_config_tracks_with_the_reference_model_and_reports_absence(build_log):
    """configs/CPU/reference_longterm.yaml: the shipped weights, presence and
    re-detection on, the paper's σ / window; the target's frames read present,
    frames with the object painted out read absent."""
    cfg = get_guided_cfg()
    cfg.merge_from_file(os.path.join(os.path.dirname(REFERENCE_CONFIG), "reference_longterm.yaml"))
    assert cfg.MODEL.WEIGHTS == "" and cfg.TRACKER.REDETECT and len(cfg.TRACKER.PRESENCE_WEIGHTS) == 3
    assert (cfg.TRACKER.PENALTY_SIGMA, cfg.TRACKER.WINDOW_INFLUENCE) == (0.55, 0.3)
    tracker = build_tracker(cfg)
    assert any("using the reference model" in r.getMessage() for r in build_log)
    frames, boxes = object_sequence()
    tracker.initialize(frames[0], boxes[0])
    present = []
    for frame in frames[1:6]:
        tracker.track(frame)
        present.append(tracker.last_confidence)
    x, y, w, h = boxes[0].astype(int)
    empty = frames[5].copy()
    empty[:, :] = np.median(frames[0][y + h + 5:, :], axis=(0, 1))  # a plain frame: nothing to find
    absent = []
    for _ in range(3):
        tracker.track(empty)
        absent.append(tracker.last_confidence)
    assert min(present) >= cfg.TRACKER.PRESENCE_THRESHOLD, present
    assert max(absent) < cfg.TRACKER.PRESENCE_THRESHOLD, absent
