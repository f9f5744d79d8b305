"""Negative triplets (issue 19): the sampler's kinds, the mapper's target-free
queries, and that both guided detectors then see no positive anchor or ROI
(guided_tracking.data.sampler, data.mapper, data.datasets.folder; the labels of
GuidedRCNN / GuidedSSD)."""
import collections
import os

import cv2
import numpy as np
import pytest
import torch

from detectron2.structures import Boxes, Instances
from guided_tracking.boxes import xywh_to_xyxy
from guided_tracking.data.crop import visible_fraction
from guided_tracking.data.datasets import load_folder
from guided_tracking.data.mapper import TripletDatasetMapper
from guided_tracking.data.sampler import NEGATIVE_KINDS, TripletDataset, coarse_class, sample_triplet_frames


def _identity(sample):
    return sample


def _video(name, object_class=None, num_frames=10):
    record = {"seq_name": name, "file_names": [f"{name}/{i + 1:08d}.jpg" for i in range(num_frames)],
              "boxes_xywh": np.tile(np.float32([[10, 10, 20, 20]]), (num_frames, 1)),
              "visible": np.ones(num_frames, bool)}
    if object_class is not None:
        record["object_class"] = object_class
    return record


# ---------------------------------------------------------------- sampler
def test_coarse_class_drops_details():
    assert coarse_class("Person (thermal IR)") == "person"
    assert coarse_class("person + BMX bike") == "person"
    assert coarse_class("car  (satellite view)") == "car"
    assert coarse_class("toy tiger") == "toy tiger"
    assert coarse_class(None) == coarse_class("") == ""


def test_exemplar_frame_is_never_support_or_query_unless_alone():
    rng = np.random.default_rng(0)
    for _ in range(500):
        visible = rng.random(30) < 0.5
        visible[rng.integers(30)] = True
        e, s, q = sample_triplet_frames(visible, 6, rng)
        if visible.sum() > 1:
            assert s != e and q != e
    single = np.zeros(12, bool)
    single[4] = True
    assert sample_triplet_frames(single, 3, rng) == (4, 4, 4)


def test_negatives_off_draws_no_kind_and_keeps_every_triplet_positive():
    ds = TripletDataset([[_video("a", "cat"), _video("b", "cat")]], _identity, seed=0)
    assert all(ds[k]["kind"] == "positive" for k in range(50))


def test_negative_kinds_follow_their_probabilities():
    videos = [_video(f"p{i}", "person (walking)") for i in range(4)] + [_video(f"c{i}", "car") for i in range(4)]
    ds = TripletDataset([videos], _identity, seed=1, neg_prob=0.4, neg_kind_probs=[1.0, 2.0, 1.0])
    kinds = collections.Counter(ds[k]["kind"] for k in range(3000))
    assert kinds["positive"] / 3000 == pytest.approx(0.6, abs=0.03)
    for kind, share in zip(NEGATIVE_KINDS, (0.25, 0.5, 0.25)):
        # "negative" loses the rare draws of its own sequence to "background".
        assert kinds[kind] / 3000 == pytest.approx(0.4 * share, abs=0.03)


def test_negative_query_comes_from_another_sequence_and_same_class_from_that_class():
    videos = [_video(f"p{i}", "person (walking)") for i in range(3)] + [_video(f"c{i}", "car") for i in range(3)]
    ds = TripletDataset([videos], _identity, seed=2, neg_prob=1.0, neg_kind_probs=[1.0, 1.0, 0.0])
    seen = collections.Counter()
    for k in range(400):
        t = ds[k]
        seen[t["kind"]] += 1
        if t["kind"] == "background":
            continue
        other = t["query_seq_name"]
        assert other != t["seq_name"]
        assert t["file_names"][2].startswith(other + "/") and t["file_names"][1].startswith(t["seq_name"] + "/")
        if t["kind"] == "same_class":
            assert other[0] == t["seq_name"][0]  # p* with p*, c* with c*
    assert seen["same_class"] > 150 and seen["negative"] > 150


def test_same_class_without_a_partner_falls_back_to_another_sequence():
    videos = [_video("lonely", "zebra"), _video("x", "car"), _video("y", "car")]
    ds = TripletDataset([videos], _identity, seed=3, neg_prob=1.0, neg_kind_probs=[0.0, 1.0, 0.0])
    lonely = [t for t in (ds[k] for k in range(300)) if t["seq_name"] == "lonely"]
    assert lonely and all(t["kind"] in ("negative", "background") for t in lonely)
    assert any(t["kind"] == "negative" and t["query_seq_name"] in ("x", "y") for t in lonely)


def test_bad_negative_settings_are_named():
    with pytest.raises(ValueError, match="NEG_PROB"):
        TripletDataset([[_video("a")]], _identity, neg_prob=1.5)
    with pytest.raises(ValueError, match="NEG_KIND_PROBS"):
        TripletDataset([[_video("a")]], _identity, neg_prob=0.2, neg_kind_probs=[1.0, 1.0])


def test_folder_index_gives_object_classes(tmp_path):
    for name in ("walker", "sedan"):
        os.makedirs(tmp_path / name / "img")
        for i in range(3):
            cv2.imwrite(str(tmp_path / name / "img" / f"{i + 1:04d}.jpg"), np.zeros((20, 30, 3), np.uint8))
        (tmp_path / name / "groundtruth_rect.txt").write_text("2,2,8,8\n" * 3)
    (tmp_path / "INDEX.tsv").write_text("sequence\tframes\tobject_class\nwalker\t3\tperson (far)\nsedan\t3\tcar\n")
    classes = {r["seq_name"]: r.get("object_class") for r in load_folder(tmp_path)}
    assert classes == {"walker": "person (far)", "sedan": "car"}


# ---------------------------------------------------------------- mapper
SEARCH_PX, EXEMPLAR_PX = 64, 32


@pytest.fixture
def frames(tmp_path):
    """Three 200x160 frames with a bright 16x20 target; a second "sequence" frame."""
    paths = []
    for i, x in enumerate((60, 70, 80)):
        image = np.full((160, 200, 3), 40, np.uint8)
        image[50:70, x:x + 16] = 230
        paths.append(str(tmp_path / f"{i}.png"))
        cv2.imwrite(paths[-1], image)
    return paths


def _sample(paths, kind="positive", seed=0):
    boxes = np.float32([[60, 50, 16, 20], [70, 50, 16, 20], [80, 50, 16, 20]])
    return {"seq_name": "rect", "frame_ids": (0, 1, 2), "file_names": paths, "boxes_xywh": boxes,
            "still_image": False, "kind": kind, "seed": seed}


def _mapper(**kw):
    return TripletDatasetMapper(exemplar_px=EXEMPLAR_PX, search_px=SEARCH_PX, **kw)


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_negative_query_has_no_ground_truth_and_support_keeps_it(frames, kind):
    for seed in range(5):
        out = _mapper()(_sample(frames, kind, seed))
        assert out["kind"] == kind
        assert len(out["support"]["instances"]) == 1
        query = out["query"]["instances"]
        assert len(query) == 0 and query.gt_boxes.tensor.shape == (0, 4) and query.gt_classes.numel() == 0


def test_background_query_holds_none_of_the_target(frames):
    for seed in range(20):
        out = _mapper()(_sample(frames, "background", seed))
        geom = out["query"]["geometry"]
        target = geom.box_to_crop(xywh_to_xyxy([80, 50, 16, 20])[None])
        assert float(visible_fraction(target, SEARCH_PX)[0]) == 0.0
        # Still at the target's scale (5x its size, times the scale jitter).
        assert 0.74 * 5 * np.sqrt(16 * 20) <= geom.side_px <= 1.36 * 5 * np.sqrt(16 * 20)
        # Next to the target: the crop's edge at most BACKGROUND_MARGIN (1) target size past it.
        gap = np.maximum(np.abs(np.asarray(geom.center_xy) - [88, 60]) - geom.side_px / 2 - [8, 10], 0)
        assert gap.max() <= np.sqrt(16 * 20) + 1e-6
        assert 0 <= geom.center_xy[0] < 200 and 0 <= geom.center_xy[1] < 160
        # The bright target is not in the image either.
        assert out["query"]["image"].max() < 200


def test_background_query_that_cannot_fit_is_degenerate(tmp_path):
    path = str(tmp_path / "full.png")
    cv2.imwrite(path, np.full((40, 40, 3), 200, np.uint8))  # the target fills the frame
    sample = {"seq_name": "full", "frame_ids": (0, 1, 2), "file_names": [path] * 3,
              "boxes_xywh": np.float32([[2, 2, 36, 36]] * 3), "still_image": False, "kind": "background", "seed": 0}
    assert _mapper()(sample) is None


@pytest.mark.parametrize("shift", [0.5, 1.5])
def test_target_offset_follows_the_configured_uniform_shift(frames, shift):
    mapper = _mapper(shift_jitter=shift, scale_jitter=0.0, flip_prob=0.0)
    side = np.sqrt(16 * 20)
    offsets = []
    for seed in range(400):
        out = mapper(_sample(frames, seed=seed))
        for part, box_xywh in (("support", [70, 50, 16, 20]), ("query", [80, 50, 16, 20])):
            geom = out[part]["geometry"]
            target_centre = np.asarray(box_xywh[:2]) + 0.5 * np.asarray(box_xywh[2:])
            offsets.append((np.asarray(geom.center_xy) - target_centre) / side)
    offsets = np.concatenate(offsets)
    assert np.abs(offsets).max() <= shift + 1e-6
    # Uniform on [-shift, shift]: quartiles at -shift/2, 0, shift/2 (1,600 draws:
    # a quartile's standard error is ~0.02 shift), and a fifth of the offsets
    # beyond 0.8 shift (a bell-shaped jitter of this range would put few there).
    np.testing.assert_allclose(np.quantile(offsets, [0.25, 0.5, 0.75]), [-shift / 2, 0, shift / 2], atol=0.1 * shift)
    assert np.mean(np.abs(offsets) > 0.8 * shift) == pytest.approx(0.2, abs=0.03)


# ---------------------------------------------------------------- labels in both models
def _negative_batch(make_triplets, num=2):
    triplets = make_triplets(num, search_px=64, exemplar_px=64, seed=0)
    empty = Instances((64, 64))
    empty.gt_boxes = Boxes(torch.zeros(0, 4))
    empty.gt_classes = torch.zeros(0, dtype=torch.int64)
    triplets[0]["query"]["instances"] = empty
    return triplets


def test_rcnn_negative_query_has_no_positive_anchor_or_roi(tiny_model, make_triplets, event_storage):
    model = tiny_model("mnv2_fpn")
    triplets = _negative_batch(make_triplets)
    features, images, gt = model.encode_triplets(triplets)
    query = {k: v[2:3] for k, v in features.items()}
    q_images = type(images)(images.tensor[2:3], images.image_sizes[2:3])
    anchors = model.proposal_generator.anchor_generator([query[f] for f in model.proposal_generator.in_features])
    labels, _ = model.proposal_generator.label_and_sample_anchors(anchors, [gt[2]])
    assert (labels[0] != 1).all() and (labels[0] == 0).any()
    proposals, _ = model.proposal_generator(q_images, query, [gt[2]])
    sampled = model.roi_heads.label_and_sample_proposals(proposals, [gt[2]])
    assert (sampled[0].gt_classes == model.roi_heads.num_classes).all() and len(sampled[0]) > 0
    losses = model(triplets)  # the whole meta-training step runs and stays finite
    assert all(torch.isfinite(v) for v in losses.values())


def test_ssd_negative_query_has_no_positive_anchor(tiny_model, make_triplets, event_storage):
    model = tiny_model("mnv2_ssd")
    triplets = _negative_batch(make_triplets)
    features, _, gt = model.encode_triplets(triplets)
    feats = [features[f][2:3] for f in model.head_in_features]
    labels, _ = model.anchor_targets(model.anchor_generator(feats), [gt[2]])
    assert ((labels == -1) | (labels == model.num_classes)).all() and (labels == model.num_classes).any()
    losses = model(triplets)
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_cls"] > 0


def test_wide_shifts_come_with_their_probability(frames):
    mapper = _mapper(shift_jitter=0.5, scale_jitter=0.0, flip_prob=0.0, wide_shift_prob=0.3, wide_shift_jitter=1.5)
    side = np.sqrt(16 * 20)
    offsets = []
    for seed in range(500):
        geom = mapper(_sample(frames, seed=seed))["query"]["geometry"]
        offsets.append(np.abs(np.asarray(geom.center_xy) - [88, 60]).max() / side)
    offsets = np.asarray(offsets)
    assert offsets.max() <= 1.5 + 1e-6 and offsets.max() > 1.2
    # Beyond 0.5: only wide crops, each there with P = 1 - (0.5 / 1.5)^2 = 8/9.
    assert np.mean(offsets > 0.5) == pytest.approx(0.3 * 8 / 9, abs=0.05)
