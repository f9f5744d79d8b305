"""ONNX export of the per-frame network and the ONNX Runtime tracking backend
(guided_tracking.modeling.per_frame, tracking.onnx_backend, export_onnx)."""
import copy
import logging

import numpy as np
import pytest
import torch

from detectron2.modeling import build_model
from guided_tracking.modeling.per_frame import PerFrameNetwork
from guided_tracking.tracking import build_tracker
from guided_tracking.tracking import onnx_backend

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is installed by make test")

OPTS = ["MODEL.GUIDED.EXEMPLAR_SIZES", [32], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
        "INPUT.GUIDED.SEARCH_SIZE", 64, "TRACKER.INIT_SAMPLES", 4, "TRACKER.COLLECT_THRESHOLD", 0.0,
        "TRACKER.LOST_THRESHOLD", 0.0, "TRACKER.UPDATE_INTERVAL", 3]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    yield


def _frames(num=8, seed=0):
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    texture = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(num):
        frame = background.copy()
        x, y = 40 + 2 * i, 30 + i
        frame[y:y + 20, x:x + 24] = texture
        frames.append(frame)
        boxes.append([x, y, 24, 20])
    return frames, boxes


def _trackers(tiny_cfg, backbone, tmp_path, opts=()):
    """(torch tracker, ORT tracker) of the same tiny model (seeded weights saved to a file)."""
    cfg = tiny_cfg(backbone, OPTS + list(opts))
    torch.manual_seed(0)
    weights = str(tmp_path / "model.pth")
    torch.save({"model": build_model(cfg).state_dict()}, weights)
    cfg.MODEL.WEIGHTS = weights
    cfg_ort = cfg.clone()
    cfg_ort.merge_from_list(["TRACKER.BACKEND", "onnxruntime", "TRACKER.ONNX_FILE", ""])
    return build_tracker(cfg), build_tracker(cfg_ort)


@pytest.mark.parametrize("backbone", ["mnv2_fpn", "mnv2_ssd"])
def test_exported_network_equals_torch(tiny_cfg, backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch_tracker, ort_tracker = _trackers(tiny_cfg, backbone, tmp_path)
    assert ort_tracker.per_frame is not None and torch_tracker.per_frame is None
    frames, boxes = _frames()
    ort_tracker.initialize(frames[0], boxes[0])
    net = ort_tracker.per_frame.net
    names = net.output_names()
    assert names[:len(net.feature_names)] == net.feature_names
    if backbone == "mnv2_fpn":
        assert any(n.startswith("rpn_logits_") for n in names)
    for batch in (1, 3):  # dynamic batch
        raw = torch.rand(batch, 3, 64, 64) * 255
        guidance = net_guidance = ort_tracker.model.backbone.index_guidance(
            ort_tracker.state.guidance, torch.zeros(batch, dtype=torch.long))
        folded = PerFrameNetwork.folded_inputs(net_guidance, net.tgm_levels)
        with torch.no_grad():
            expected = net(raw, *folded)
        got = ort_tracker.per_frame.session.run(
            None, {n: x.numpy() for n, x in zip(net.input_names(), [raw] + folded)})
        for name, a, b in zip(names, got, expected):
            np.testing.assert_allclose(a, b.numpy(), atol=2e-4, rtol=1e-4, err_msg=name)
        del guidance


@pytest.mark.parametrize("backbone", ["mnv2_fpn", "mnv2_ssd"])
def test_ort_tracker_boxes_match_torch_per_frame(tiny_cfg, backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    torch_tracker, ort_tracker = _trackers(tiny_cfg, backbone, tmp_path)
    frames, boxes = _frames()
    torch_tracker.initialize(frames[0], boxes[0])
    ort_tracker.initialize(frames[0], boxes[0])
    for k in torch_tracker.state.theta:  # θ_1 from the first-frame steps on ORT features
        torch.testing.assert_close(ort_tracker.state.theta[k], torch_tracker.state.theta[k], atol=1e-4, rtol=1e-4)
    updates = 0
    for frame in frames[1:]:
        # The state handed over every frame: each frame's boxes compare like for like.
        ort_tracker.state = copy.deepcopy(torch_tracker.state)
        expected = torch_tracker.track(frame)
        got = ort_tracker.track(frame)
        np.testing.assert_allclose(got, expected, atol=1e-3)
        updates += torch_tracker.last_updated
    assert updates >= 2  # online updates ran on ORT features too


def test_without_onnxruntime_the_torch_backend_runs_and_says_why(tiny_cfg, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(onnx_backend, "onnxruntime_available", lambda: "onnxruntime is not installed (test)")
    cfg = tiny_cfg("mnv2_fpn", OPTS + ["TRACKER.BACKEND", "onnxruntime"])
    with caplog.at_level(logging.WARNING):
        tracker = build_tracker(cfg)
    assert tracker.per_frame is None
    assert "onnxruntime is not installed" in caplog.text and "torch backend" in caplog.text
    with pytest.raises(ValueError, match="TRACKER.BACKEND"):
        build_tracker(tiny_cfg("mnv2_fpn", OPTS + ["TRACKER.BACKEND", "tensorrt"]))


def test_export_cli_writes_a_checked_file(tiny_cfg, tmp_path, capsys):
    from guided_tracking import export_onnx
    from conftest import SSD_CPU_YAML

    out = tmp_path / "ssd.onnx"
    opts = ["MODEL.MOBILENET.PRETRAINED", "False", "MODEL.FPN.OUT_CHANNELS", "16", "INPUT.GUIDED.SEARCH_SIZE", "64",
            "MODEL.GUIDED.EXEMPLAR_SIZES", "[32, 64]", "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", "[0, 1, 1]",
            "TRACKER.INIT_SAMPLES", "4", "MODEL.WEIGHTS", ""]
    assert export_onnx.main(["--config-file", SSD_CPU_YAML, "--output", str(out)] + opts) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "max |torch - onnxruntime|" in text
    diffs = [float(v) for v in text.split("per output:")[1].split("\n")[0].replace(",", " ").split()[1::2]]
    assert diffs and max(diffs) < 1e-3
