"""Triplet sampling (paper 3.1): exemplar <= support <= query frames of one video,
dataset mixing, still images, and determinism of the sample stream
(guided_tracking.data.sampler, guided_tracking.data.build)."""
import os

import numpy as np
import pytest
import torch

from conftest import synthetic_dataset_opts
from detectron2.structures import BoxMode
from guided_tracking.data import sampler as sampler_module
from guided_tracking.data.build import build_triplet_train_loader
from guided_tracking.data.datasets import load_got10k
from guided_tracking.data.mapper import TripletDatasetMapper
from guided_tracking.data.sampler import IndexStream, TripletDataset, sample_triplet_frames


def _identity(sample):
    """A mapper that returns the sampled (unread, uncropped) triplet."""
    return sample


def _video(name, num_frames=10, visible=None):
    return {"seq_name": name, "file_names": [f"{name}/{i + 1:08d}.jpg" for i in range(num_frames)],
            "boxes_xywh": np.tile(np.float32([[10, 10, 20, 20]]), (num_frames, 1)),
            "visible": np.ones(num_frames, bool) if visible is None else np.asarray(visible, bool)}


def _assert_same_triplet(a, b):
    assert (a["seq_name"], a["frame_ids"]) == (b["seq_name"], b["frame_ids"])
    assert torch.equal(a["exemplar"], b["exemplar"])
    assert torch.equal(a["exemplar_box"], b["exemplar_box"])
    for part in ("support", "query"):
        assert torch.equal(a[part]["image"], b[part]["image"])
        assert torch.equal(a[part]["instances"].gt_boxes.tensor, b[part]["instances"].gt_boxes.tensor)


# ---------------------------------------------------------------- frame sampling
@pytest.mark.parametrize("seed", [0, 1])
def test_frames_chronological_visible_and_within_max_gap(seed):
    rng = np.random.default_rng(seed)
    max_gap = 8
    spans = []
    for _ in range(400):
        n = int(rng.integers(1, 80))
        visible = rng.random(n) < rng.uniform(0.2, 1.0)
        visible[rng.integers(n)] = True
        e, s, q = sample_triplet_frames(visible, max_gap, rng)
        assert 0 <= e <= s <= q < n
        assert visible[[e, s, q]].all()
        if visible[e:e + max_gap + 1].sum() >= 3:  # enough frames qualify: no growth
            assert q - e <= max_gap
            spans.append(q - e)
    # Not degenerate: most triplets span several frames, up to max_gap itself.
    assert len(spans) > 200
    assert np.mean(np.asarray(spans) > 0) > 0.6
    assert max(spans) == max_gap


def test_gap_grows_until_enough_visible_frames_qualify():
    visible = np.zeros(60, bool)
    visible[[0, 40, 41]] = True  # within max_gap of frame 0: only frame 0 itself
    rng = np.random.default_rng(0)
    from_zero = [sample_triplet_frames(visible, 5, rng) for _ in range(300)]
    from_zero = [t for t in from_zero if t[0] == 0]
    assert len(from_zero) > 50
    # The gap grew past 40; support and query are never the exemplar frame itself.
    assert {q for _, _, q in from_zero} == {40, 41}
    assert {s for _, s, _ in from_zero} == {40, 41}
    # All visible: the window at max_gap has enough frames, the gap never grows.
    for _ in range(200):
        e, _, q = sample_triplet_frames(np.ones(60, bool), 5, rng)
        assert q - e <= 5


def test_no_visible_frame_gives_none():
    assert sample_triplet_frames(np.zeros(7, bool), 3, np.random.default_rng(0)) is None


# ---------------------------------------------------------------- dataset mixing
def _b_frequency(ds, num=3000):
    return np.mean([ds[k]["seq_name"].startswith("b") for k in range(num)])


def test_dataset_mixing_by_probability():
    a = [_video(f"a{i}") for i in range(5)]
    b = [_video("b0")]
    assert abs(_b_frequency(TripletDataset([a, b], _identity, probs=[0.3, 0.7], seed=0)) - 0.7) < 0.03
    assert abs(_b_frequency(TripletDataset([a, b], _identity, probs=[0.9, 0.1], seed=0)) - 0.1) < 0.03
    # No DATASET_PROBS: by number of sequences (5 : 1).
    assert abs(_b_frequency(TripletDataset([a, b], _identity, seed=0)) - 1 / 6) < 0.03


def test_dataset_probs_skip_empty_datasets_and_check_length():
    a, b = [_video("a0")], [_video("b0")]
    ds = TripletDataset([[], a, b], _identity, probs=[0.5, 1.0, 3.0])
    np.testing.assert_allclose(ds.probs, [0.25, 0.75])
    with pytest.raises(ValueError, match="DATASET_PROBS has 2 entries for 3 datasets"):
        TripletDataset([[], a, b], _identity, probs=[0.5, 0.5])
    with pytest.raises(ValueError, match="no sequences"):
        TripletDataset([[], []], _identity)


def test_invisible_videos_are_resampled():
    hidden = _video("a_hidden", visible=np.zeros(10, bool))
    ds = TripletDataset([[hidden, _video("b0")]], _identity, seed=0)
    assert all(ds[k]["seq_name"] == "b0" for k in range(40))
    assert ds.num_degenerate > 0
    with pytest.raises(RuntimeError, match="degenerate triplets in a row at sample 3"):
        TripletDataset([[hidden]], _identity, max_retries=5)[3]


# ---------------------------------------------------------------- still images
def test_still_image_records_give_triplets_of_one_image():
    record = {"file_name": "coco/000001.jpg", "height": 100, "width": 120, "image_id": 1, "annotations": [
        {"bbox": [10, 20, 50, 60], "bbox_mode": BoxMode.XYXY_ABS, "category_id": 3},
        {"bbox": [60, 5, 30, 15], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 7},
        {"bbox": [0, 0, 90, 90], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 1, "iscrowd": 1},
        {"bbox": [5, 5, 1, 30], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 1},  # 1 px wide: unusable
    ]}
    ds = TripletDataset([[record]], _identity, seed=0)
    seen = set()
    for k in range(40):
        t = ds[k]
        assert t["still_image"] and t["frame_ids"] == (0, 0, 0)
        assert t["file_names"] == ["coco/000001.jpg"] * 3 and t["seq_name"] == "coco/000001.jpg"
        assert (t["boxes_xywh"] == t["boxes_xywh"][0]).all()  # one box for all three
        seen.add(tuple(t["boxes_xywh"][0].tolist()))
    assert seen == {(10.0, 20.0, 40.0, 40.0), (60.0, 5.0, 30.0, 15.0)}  # crowd / 1-px boxes never


def test_still_image_without_usable_box_is_resampled():
    empty = {"file_name": "crowd.jpg", "annotations": [
        {"bbox": [0, 0, 50, 50], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 1}]}
    ds = TripletDataset([[empty, _video("v")]], _identity, seed=1)
    assert all(ds[k]["seq_name"] == "v" for k in range(30))
    assert ds.num_degenerate > 0


# ---------------------------------------------------------------- determinism
def test_sample_is_a_function_of_seed_and_index(synthetic_videos):
    records = load_got10k(os.path.join(synthetic_videos, "synthetic"), "train")
    mapper = TripletDatasetMapper(exemplar_px=64, search_px=64)
    first = TripletDataset([records], mapper, max_gap=5, seed=3)
    again = TripletDataset([records], mapper, max_gap=5, seed=3)
    forward = [first[k] for k in range(6)]
    backward = {k: again[k] for k in reversed(range(6))}
    for k in range(6):
        _assert_same_triplet(forward[k], backward[k])
    _assert_same_triplet(first[4], forward[4])  # asking again: same sample
    assert len({(t["seq_name"], t["frame_ids"]) for t in forward}) > 3  # indices differ
    other = TripletDataset([records], mapper, max_gap=5, seed=4)
    assert any(not torch.equal(other[k]["support"]["image"], forward[k]["support"]["image"]) for k in range(6))


def test_index_stream_shards_over_ranks(monkeypatch):
    monkeypatch.setattr(sampler_module.comm, "get_world_size", lambda: 2)
    for rank, expected in ((0, [6, 8, 10]), (1, [7, 9, 11])):
        monkeypatch.setattr(sampler_module.comm, "get_rank", lambda r=rank: r)
        stream = iter(IndexStream(start=3))
        assert [next(stream) for _ in range(3)] == expected


def _batches(loader, num):
    it = iter(loader)
    return [next(it) for _ in range(num)]


def test_loader_batches_independent_of_workers_and_resumable(tiny_cfg, synthetic_videos, default_dataset_registry):
    cfg = tiny_cfg("mnv2_fpn", synthetic_dataset_opts(synthetic_videos) + ["SEED", 5, "DATALOADER.NUM_WORKERS", 0])
    serial = _batches(build_triplet_train_loader(cfg), 3)
    assert [len(b) for b in serial] == [2, 2, 2]
    resumed = _batches(build_triplet_train_loader(cfg, start_iter=1), 2)
    cfg.DATALOADER.NUM_WORKERS = 2
    parallel = _batches(build_triplet_train_loader(cfg), 3)
    for i in range(3):
        for a, b in zip(serial[i], parallel[i]):
            _assert_same_triplet(a, b)
    for a, b in zip(serial[1] + serial[2], resumed[0] + resumed[1]):
        _assert_same_triplet(a, b)
