"""Tests of the deterministic synthetic tracking-video generator (CPU, tiny sizes)."""

import configparser
import os

import numpy as np
import pytest

from guided_tracking.data import synthetic
from guided_tracking.data.synthetic import (
    SHAPE_CLASSES,
    SyntheticConfig,
    generate_videos,
    main,
    make_video,
    sequence_name,
)

SIZE_WH = (96, 72)
NUM_FRAMES = 12


def _make(seed, num_frames=NUM_FRAMES, **overrides):
    return make_video(np.random.default_rng(seed), num_frames, SIZE_WH, return_meta=True, **overrides)


def _read_lines(path):
    with open(path, "r", encoding="utf-8") as f:
        return f.read().splitlines()


def _snapshot(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def _mtimes(root):
    return {
        os.path.relpath(os.path.join(d, n), root): os.stat(os.path.join(d, n)).st_mtime_ns
        for d, _, files in os.walk(root)
        for n in files
    }


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn_a")
    paths = generate_videos(str(root), 3, NUM_FRAMES, seed=0, image_size_wh=SIZE_WH)
    return root, paths


# ----------------------------------------------------------------------------------
# In-memory generator
# ----------------------------------------------------------------------------------
def test_make_video_shapes_and_annotation_consistency():
    width, height = SIZE_WH
    for seed in range(3):
        frames, boxes_xywh, visible, cover, meta = _make(seed)
        assert len(frames) == NUM_FRAMES
        assert all(f.shape == (height, width, 3) and f.dtype == np.uint8 for f in frames)
        assert boxes_xywh.shape == (NUM_FRAMES, 4) and boxes_xywh.dtype == np.float32
        assert visible.shape == cover.shape == (NUM_FRAMES,)
        # Every box is a valid in-image box; positive wherever the target is visible.
        tol = 1e-3
        assert np.all(boxes_xywh[:, :2] >= -tol)
        assert np.all(boxes_xywh[:, 0] + boxes_xywh[:, 2] <= width + tol)
        assert np.all(boxes_xywh[:, 1] + boxes_xywh[:, 3] <= height + tol)
        assert np.all(boxes_xywh[visible, 2:] > 0)
        # absence <-> cover 0; cover in 0..8 and roughly visible_frac * 8.
        assert np.all((cover == 0) == ~visible)
        assert cover.min() >= 0 and cover.max() <= 8
        vis_frac = meta["visible_frac"]
        assert np.all(np.abs(cover[visible] - vis_frac[visible] * 8) <= 1.0)
        # The initialisation frame shows the whole target.
        assert visible[0] and cover[0] == 8
        assert meta["target_class"] in SHAPE_CLASSES
        # Frames are not blank: textured background + noise.
        assert frames[0].std() > 5


def test_make_video_is_deterministic():
    a = _make(7)
    b = _make(7)
    for frame_a, frame_b in zip(a[0], b[0]):
        np.testing.assert_array_equal(frame_a, frame_b)
    for x, y in zip(a[1:4], b[1:4]):
        np.testing.assert_array_equal(x, y)
    c = _make(8)
    assert not np.array_equal(a[1], c[1])
    assert not np.array_equal(a[0][0], c[0][0])


def test_global_rng_does_not_matter():
    np.random.seed(1)
    a = _make(3)
    np.random.seed(2)
    np.random.rand(100)
    b = _make(3)
    np.testing.assert_array_equal(a[0][5], b[0][5])
    np.testing.assert_array_equal(a[1], b[1])


def test_same_class_distractors_in_every_video():
    for seed in range(6):
        _, _, _, _, meta = _make(seed)
        roles, classes = meta["object_roles"], meta["object_classes"]
        assert roles[0] == "target" and classes[0] == meta["target_class"]
        same = [i for i, r in enumerate(roles) if r == "same_class_distractor"]
        assert 1 <= len(same) <= 4
        assert all(classes[i] == meta["target_class"] for i in same)
        assert meta["params"]["num_same_class_distractors"] == len(same)
        # At least one look-alike is actually on screen for most of the video.
        on_screen = (meta["object_boxes_xywh"][same, :, 2] > 0) & (meta["object_boxes_xywh"][same, :, 3] > 0)
        assert on_screen.any(axis=0).mean() >= 0.5
        # ... and objects of other classes too.
        assert any(r == "other_distractor" and c != meta["target_class"] for r, c in zip(roles, classes))


def test_forced_full_occlusion_produces_absent_frames():
    for seed in range(3):
        _, boxes_xywh, visible, cover, meta = _make(seed, occlusion_prob=1.0, full_occlusion_prob=1.0)
        assert meta["occluder_active"].any()
        assert (~visible).any() and (cover == 0).any()
        # Occluded frames keep the full object box (GOT-10k convention): still valid.
        assert np.all(boxes_xywh[~visible, 2:] > 0)


def test_forced_partial_occlusion_lowers_cover():
    covers = [_make(seed, occlusion_prob=1.0, full_occlusion_prob=0.0)[3] for seed in range(3)]
    assert min(c.min() for c in covers) < 8


def test_no_occlusion_when_disabled():
    _, _, visible, cover, meta = _make(
        0, occlusion_prob=0.0, exit_prob=0.0, num_same_class_range=(1, 1), num_other_class_range=(0, 0),
        distractor_above_prob=0.0,
    )
    assert not meta["occluder_active"].any()
    assert visible.all()


def test_scale_change_is_bounded():
    _, _, _, _, meta = _make(4, num_frames=150)
    ratio = meta["target_size_px"] / meta["target_size_px"][0]
    assert ratio.min() >= 0.5 - 1e-4 and ratio.max() <= 2.0 + 1e-4
    assert ratio.max() / ratio.min() > 1.1  # it does zoom


def test_unknown_override_rejected():
    with pytest.raises(TypeError):
        SyntheticConfig().replace(not_a_field=1)


def test_textures_dir(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"tex{i}.png"), rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    a = make_video(np.random.default_rng(1), 4, SIZE_WH, textures=str(tmp_path))
    b = make_video(np.random.default_rng(1), 4, SIZE_WH, textures=str(tmp_path))
    np.testing.assert_array_equal(a[0][3], b[0][3])


# ----------------------------------------------------------------------------------
# GOT-10k writer
# ----------------------------------------------------------------------------------
def test_layout(dataset_dir):
    root, paths = dataset_dir
    split_dir = root / "train"
    names = _read_lines(split_dir / "list.txt")
    assert names == [sequence_name("train", i) for i in (1, 2, 3)] == ["SYN_train_000001", "SYN_train_000002", "SYN_train_000003"]
    assert paths == [str(split_dir / n) for n in names]
    width, height = SIZE_WH
    for name in names:
        seq = split_dir / name
        jpgs = sorted(p for p in os.listdir(seq) if p.endswith(".jpg"))
        assert jpgs == [f"{i:08d}.jpg" for i in range(1, NUM_FRAMES + 1)]
        gt = _read_lines(seq / "groundtruth.txt")
        absence = [int(v) for v in _read_lines(seq / "absence.label")]
        cover = [int(v) for v in _read_lines(seq / "cover.label")]
        assert len(gt) == len(absence) == len(cover) == NUM_FRAMES
        for line, absent, cov in zip(gt, absence, cover):
            fields = line.split(",")
            assert len(fields) == 4 and all(len(f.split(".")[1]) == 4 for f in fields)
            x, y, w, h = (float(f) for f in fields)
            assert x >= 0 and y >= 0 and x + w <= width + 1e-3 and y + h <= height + 1e-3
            assert (absent == 1) == (cov == 0) and 0 <= cov <= 8
            if not absent:
                assert w > 0 and h > 0
        meta = configparser.ConfigParser()
        meta.read(seq / "meta_info.ini")
        info = meta["METAINFO"]
        assert info["object_class"] in SHAPE_CLASSES
        assert int(info["num_same_class_distractors"]) >= 1
        assert info["resolution"] == f"({width}, {height})"
        assert len(info["params_hash"]) == 40
    # No temporary folders left behind.
    assert not [p for p in os.listdir(split_dir) if p.startswith(".tmp")]


def test_disk_matches_memory(dataset_dir):
    import cv2

    root, _ = dataset_dir
    rng = np.random.default_rng(synthetic.video_seed_sequence(0, "train", 2))
    frames, boxes_xywh, visible, cover = make_video(rng, NUM_FRAMES, SIZE_WH)
    seq = root / "train" / "SYN_train_000002"
    gt = np.array([[float(v) for v in line.split(",")] for line in _read_lines(seq / "groundtruth.txt")])
    np.testing.assert_allclose(gt, boxes_xywh, atol=1e-4)
    assert [int(v) for v in _read_lines(seq / "cover.label")] == cover.tolist()
    disk = cv2.cvtColor(cv2.imread(str(seq / "00000005.jpg")), cv2.COLOR_BGR2RGB)
    # JPEG q90 (with chroma subsampling on a tiny, noisy frame): close, not equal;
    # far closer than a frame of another video.
    error = np.abs(disk.astype(int) - frames[4].astype(int)).mean()
    other = make_video(np.random.default_rng(123), 1, SIZE_WH)[0][0]
    assert error < 12
    assert error < 0.5 * np.abs(disk.astype(int) - other.astype(int)).mean()


def test_files_deterministic_and_seed_dependent(dataset_dir, tmp_path):
    root, _ = dataset_dir
    generate_videos(str(tmp_path / "b"), 3, NUM_FRAMES, seed=0, image_size_wh=SIZE_WH)
    assert _snapshot(root) == _snapshot(tmp_path / "b")
    generate_videos(str(tmp_path / "c"), 3, NUM_FRAMES, seed=1, image_size_wh=SIZE_WH)
    for name in ("SYN_train_000001", "SYN_train_000002", "SYN_train_000003"):
        a = (root / "train" / name / "groundtruth.txt").read_bytes()
        c = (tmp_path / "c" / "train" / name / "groundtruth.txt").read_bytes()
        assert a != c


def test_video_independent_of_count(dataset_dir, tmp_path):
    root, _ = dataset_dir
    generate_videos(str(tmp_path), 2, NUM_FRAMES, seed=0, image_size_wh=SIZE_WH)
    for name in ("SYN_train_000001", "SYN_train_000002"):
        assert _snapshot(root / "train" / name) == _snapshot(tmp_path / "train" / name)


def test_idempotent_rerun_and_resume(tmp_path):
    generate_videos(str(tmp_path), 2, 6, seed=5, image_size_wh=SIZE_WH)
    before = _mtimes(tmp_path)
    generate_videos(str(tmp_path), 2, 6, seed=5, image_size_wh=SIZE_WH)
    assert _mtimes(tmp_path) == before
    # A damaged sequence is regenerated; the intact one is not touched.
    os.remove(tmp_path / "train" / "SYN_train_000002" / "00000006.jpg")
    generate_videos(str(tmp_path), 2, 6, seed=5, image_size_wh=SIZE_WH)
    after = _mtimes(tmp_path)
    assert os.path.exists(tmp_path / "train" / "SYN_train_000002" / "00000006.jpg")
    for path, mtime in before.items():
        if "SYN_train_000001" in path or path.endswith("list.txt"):
            assert after[path] == mtime
    # Different parameters -> regenerated.
    generate_videos(str(tmp_path), 2, 6, seed=5, image_size_wh=SIZE_WH, config=SyntheticConfig(noise_std_range=(0.0, 0.0)))
    changed = _mtimes(tmp_path)
    assert changed["train/SYN_train_000001/groundtruth.txt"] != after["train/SYN_train_000001/groundtruth.txt"]


def test_cli_main(tmp_path):
    out = tmp_path / "cli"
    rc = main(
        ["--out", str(out), "--videos", "2", "--frames", "4", "--seed", "3", "--size", "96x72",
         "--split", "val", "--set", "occlusion_prob=0.5"]
    )
    assert rc == 0
    assert _read_lines(out / "val" / "list.txt") == ["SYN_val_000001", "SYN_val_000002"]
    assert len(_read_lines(out / "val" / "SYN_val_000002" / "groundtruth.txt")) == 4
    meta = configparser.ConfigParser()
    meta.read(out / "val" / "SYN_val_000001" / "meta_info.ini")
    assert '"occlusion_prob": 0.5' in meta["METAINFO"]["config"]
