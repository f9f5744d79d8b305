"""VGG-16 backbone (guided_tracking.modeling.vgg): torchvision's layout, SSD300's
conv4_3 / fc7 / conv8_2 and Faster R-CNN's conv5_3, weights from a local file."""
import pytest
import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY

from guided_tracking.modeling.vgg import VGG16, fc_to_conv_weights


def test_registered_and_ssd300_shapes(tiny_cfg):
    cfg = tiny_cfg("mnv2_fpn", ["MODEL.VGG.OUT_FEATURES", ["conv4", "fc7", "conv8"]])
    net = BACKBONE_REGISTRY.get("build_vgg16_backbone")(cfg, ShapeSpec(channels=3))
    with torch.no_grad():
        out = net(torch.randn(1, 3, 300, 300))
    # SSD300: 38 x 38 conv4_3, 19 x 19 conv7, 10 x 10 conv8_2.
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == \
        {"conv4": (512, 38, 38), "fc7": (1024, 19, 19), "conv8": (512, 10, 10)}
    assert {k: (s.channels, s.stride) for k, s in net.output_shape().items()} == \
        {"conv4": (512, 8), "fc7": (1024, 16), "conv8": (512, 32)}
    # conv4_3 is L2-normalised with a learned scale of 20 per channel (SSD).
    assert torch.allclose(out["conv4"].norm(dim=1), torch.full((38, 38), 20.0), rtol=1e-4)
    # conv1 and conv2 frozen (MODEL.VGG.FREEZE_AT 2), conv3 trained.
    assert not net.features[2].weight.requires_grad and not net.features[7].weight.requires_grad
    assert net.features[10].weight.requires_grad


def test_frcnn_layout_loads_torchvision_features_from_a_local_file(tmp_path):
    source = VGG16(["conv5"], conv4_l2norm=False)
    assert not hasattr(source, "conv6") and len(source.features) == 30  # nothing after conv5_3
    state = {"features." + k: v for k, v in source.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(1)  # present in torchvision's file; unused here
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    loaded = VGG16(["conv5"], weights=str(path), conv4_l2norm=False)
    for k, v in source.features.state_dict().items():
        assert torch.equal(loaded.features.state_dict()[k], v)
    with torch.no_grad():
        assert loaded(torch.randn(1, 3, 64, 64))["conv5"].shape == (1, 512, 4, 4)


def test_fc6_fc7_become_ssd_conv6_conv7_by_subsampling():
    # fp16 keeps the real-size fc6 (4096 x 25088) at 200 MB; values encode their index.
    rows = torch.arange(4096, dtype=torch.float16)
    fc6 = rows.view(-1, 1).expand(4096, 512 * 49).contiguous()
    taps = torch.arange(49, dtype=torch.float16).repeat(512)
    fc6_taps = fc6.clone()
    fc6_taps.copy_(taps.expand(4096, -1))
    fc7 = torch.arange(4096, dtype=torch.float16).view(1, -1).expand(4096, -1).contiguous()
    state = {"classifier.0.weight": fc6, "classifier.0.bias": rows.clone(), "classifier.3.weight": fc7,
             "classifier.3.bias": rows.clone()}
    out = fc_to_conv_weights(state)
    assert out["conv6.weight"].shape == (1024, 512, 3, 3) and out["conv7.weight"].shape == (1024, 1024, 1, 1)
    # Every 4th output unit ...
    assert torch.equal(out["conv6.weight"][:, 0, 0, 0], torch.arange(0, 4096, 4, dtype=torch.float16))
    assert torch.equal(out["conv6.bias"], torch.arange(0, 4096, 4, dtype=torch.float16))
    # ... every 3rd tap of the 7 x 7 kernel (taps 0, 3, 6 per axis: flat 0, 3, 6, 21, ..., 48) ...
    state["classifier.0.weight"] = fc6_taps
    taps_kept = fc_to_conv_weights(state)["conv6.weight"][0, 0].flatten().tolist()
    assert taps_kept == [0, 3, 6, 21, 24, 27, 42, 45, 48]
    # ... and every 4th input unit of fc7.
    assert torch.equal(out["conv7.weight"][0, :, 0, 0], torch.arange(0, 4096, 4, dtype=torch.float16))


def test_bad_weights_and_outputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="MODEL.VGG.WEIGHTS"):
        VGG16(["conv5"], weights=str(tmp_path / "missing.pth"))
    path = tmp_path / "not_vgg.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="not a torchvision VGG-16"):
        VGG16(["conv5"], weights=str(path))
    with pytest.raises(ValueError, match="MODEL.VGG.OUT_FEATURES"):
        VGG16(["conv6"])
    with pytest.raises(ValueError, match="FREEZE_AT"):
        VGG16(["conv5"], freeze_at=7)
