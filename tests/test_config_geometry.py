"""Geometry invariants of every shipped config (shared/docs/design.md, issue
"Boxes that fit real objects"): anchors cover the canonical target, colour order
matches the pretrained weights, exemplar and search see the target at one size."""
import glob
import math
import os

import numpy as np
import pytest
import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling.anchor_generator import build_anchor_generator
from detectron2.structures import Boxes, pairwise_iou

from guided_tracking.config import get_guided_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True)
                 if not os.path.basename(p).startswith("Base-"))
# FPN strides of P2-P6 (ResNet-FPN and MobileNetV2-FPN alike) and VGG-16's outputs.
STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64,
           "conv3": 4, "conv4": 8, "conv5": 16, "fc7": 16, "conv8": 32}
# The coverage rule of every config: each target of 1/2x-2x the canonical size at
# aspect 1:3-3:1 has an anchor with IoU >= 0.7 (the two-stage RPN's positive threshold).
COVERAGE_IOU = 0.7
# torchvision's ImageNet normalisation (RGB, 0-1 pixels).
TV_MEAN, TV_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _cfg(path):
    cfg = get_guided_cfg()
    cfg.merge_from_file(path)
    return cfg


def canonical_target_px(cfg) -> float:
    """Side of the target in the search crop: the crop is SEARCH_CONTEXT x the
    current target, resized to SEARCH_SIZE."""
    return cfg.INPUT.GUIDED.SEARCH_SIZE / cfg.INPUT.GUIDED.SEARCH_CONTEXT


def anchor_levels(cfg):
    """The levels carrying anchors: the RPN's (two-stage) or the dense head's (GuidedSSD)."""
    return cfg.MODEL.RETINANET.IN_FEATURES if cfg.MODEL.META_ARCHITECTURE == "GuidedSSD" else cfg.MODEL.RPN.IN_FEATURES


def _all_anchors(cfg):
    levels = anchor_levels(cfg)
    shapes = [ShapeSpec(channels=8, stride=STRIDES[f]) for f in levels]
    generator = build_anchor_generator(cfg, shapes)
    size = cfg.INPUT.GUIDED.SEARCH_SIZE
    features = [torch.zeros(1, 8, math.ceil(size / STRIDES[f]), math.ceil(size / STRIDES[f])) for f in levels]
    return generator, Boxes.cat(generator(features))


def _target_boxes(cfg, n=13):
    """Centred targets of 1/2x-2x the canonical size at aspect 1:3-3:1 (w/h)."""
    c = cfg.INPUT.GUIDED.SEARCH_SIZE / 2.0
    s0 = canonical_target_px(cfg)
    boxes, labels = [], []
    for k in np.exp(np.linspace(math.log(0.5), math.log(2.0), n)):
        for a in np.exp(np.linspace(math.log(1 / 3), math.log(3.0), n)):
            w, h = s0 * k * math.sqrt(a), s0 * k / math.sqrt(a)
            boxes.append([c - w / 2, c - h / 2, c + w / 2, c + h / 2])
            labels.append((round(float(k), 2), round(float(a), 2)))
    return Boxes(torch.tensor(boxes, dtype=torch.float32)), labels


def test_configs_found():
    names = {os.path.relpath(p, ROOT) for p in CONFIGS}
    assert {"configs/CPU/guided_rcnn_mnv2_FPN.yaml", "configs/GOT-10k/guided_rcnn_R_50_FPN.yaml",
            "configs/CPU/guided_ssd_mnv2_FPN.yaml", "configs/GOT-10k/guided_ssd_VGG16.yaml",
            "configs/GOT-10k/guided_rcnn_VGG16.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_anchor_covers_canonical_target(path):
    cfg = _cfg(path)
    _, anchors = _all_anchors(cfg)
    targets, labels = _target_boxes(cfg)
    best = pairwise_iou(targets, anchors).max(dim=1).values
    worst = int(best.argmin())
    # Every such target has an anchor at the coverage IoU, which is also at or
    # above the positive threshold of whichever head labels the anchors.
    positive = cfg.MODEL.RETINANET.IOU_THRESHOLDS[-1] if cfg.MODEL.META_ARCHITECTURE == "GuidedSSD" \
        else cfg.MODEL.RPN.IOU_THRESHOLDS[-1]
    assert positive <= COVERAGE_IOU
    assert float(best.min()) >= COVERAGE_IOU, \
        f"(size x, aspect) {labels[worst]}: best anchor IoU {float(best[worst]):.3f}"


def test_old_single_size_anchors_fail_the_coverage_rule():
    """The check can fail: today's former CPU anchors (one size a level) do."""
    cfg = _cfg(os.path.join(ROOT, "configs", "CPU", "guided_rcnn_mnv2_FPN.yaml"))
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16], [32], [64], [128], [256]]
    cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]
    _, anchors = _all_anchors(cfg)
    targets, _ = _target_boxes(cfg)
    assert float(pairwise_iou(targets, anchors).max(dim=1).values.min()) < 0.6


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_roi_positives_are_tight(path):
    """A centred box 1.3x the target's side (IoU 0.59) is not a positive (of the
    ROI head, or of the one-stage head's anchors)."""
    cfg = _cfg(path)
    loose_iou = 1.0 / 1.3 ** 2
    heads = cfg.MODEL.RETINANET if cfg.MODEL.META_ARCHITECTURE == "GuidedSSD" else cfg.MODEL.ROI_HEADS
    assert heads.IOU_THRESHOLDS[-1] > loose_iou


def _normalised_as_model(cfg, rgb_uint8):
    """What the model computes from a frame: the frame in INPUT.FORMAT, then
    (x - PIXEL_MEAN) / PIXEL_STD per channel."""
    fmt = cfg.INPUT.FORMAT
    image = rgb_uint8 if fmt == "RGB" else rgb_uint8[:, :, ::-1]
    x = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(3, 1, 1)
    return (x - mean) / std


def test_colour_order_matches_pretrained_weights():
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 250, 120, 10  # strongly red: order matters
    # torchvision MobileNetV2 (ImageNet): RGB in [0, 1], torchvision mean/std.
    cpu = _cfg(os.path.join(ROOT, "configs", "CPU", "guided_rcnn_mnv2_FPN.yaml"))
    assert cpu.MODEL.GUIDED.BACKBONE_NAME.startswith("build_mobilenetv2")
    expected = (torch.as_tensor(rgb.transpose(2, 0, 1)).float() / 255.0 - torch.tensor(TV_MEAN).view(3, 1, 1)) \
        / torch.tensor(TV_STD).view(3, 1, 1)
    assert torch.allclose(_normalised_as_model(cpu, rgb), expected, atol=1e-4)
    # The first convolution sees the channels in the order its weights were
    # trained on: swapping R and B changes the normalised input a lot.
    assert not torch.allclose(_normalised_as_model(cpu, rgb[:, :, ::-1].copy()), expected, atol=0.5)

    # detectron2's MSRA ResNets: BGR, 0-255, detectron2's default mean/std.
    paper = _cfg(os.path.join(ROOT, "configs", "GOT-10k", "guided_rcnn_R_50_FPN.yaml"))
    assert paper.INPUT.FORMAT == "BGR"
    assert paper.MODEL.PIXEL_MEAN == pytest.approx([103.530, 116.280, 123.675])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_exemplar_and_search_agree_on_target_size(path):
    """Paper 3.5: the target has one pixel size in the exemplar and in the search
    crop (192 / 2 = 480 / 5 = 96 px) at the level whose anchors hold that size;
    with multi-resolution guidance each other level's exemplar shows the target
    at a size of that level's anchors (Fig. 3)."""
    cfg = _cfg(path)
    canonical = canonical_target_px(cfg)
    sizes = cfg.MODEL.GUIDED.EXEMPLAR_SIZES
    levels = anchor_levels(cfg)
    index = list(cfg.MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL) or \
        [min(i, len(sizes) - 1) for i in range(len(levels))]
    anchor_sizes = cfg.MODEL.ANCHOR_GENERATOR.SIZES
    if len(anchor_sizes) == 1:
        anchor_sizes = anchor_sizes * len(levels)
    # The level holding the canonical size: its anchor sizes are nearest in log scale.
    home = min(range(len(levels)),
               key=lambda i: min(abs(math.log(s / canonical)) for s in anchor_sizes[i]))
    exemplar_target_px = [sizes[index[i]] / cfg.INPUT.GUIDED.EXEMPLAR_CONTEXT for i in range(len(levels))]
    assert exemplar_target_px[home] == pytest.approx(canonical, rel=0.01)
    for i, px in enumerate(exemplar_target_px):
        lo, hi = min(anchor_sizes[i]), max(anchor_sizes[i])
        assert lo / 1.5 <= px <= hi * 1.5 or px == pytest.approx(canonical, rel=0.01), \
            f"level {levels[i]}: exemplar target {px:.1f} px, anchors {anchor_sizes[i]}"
