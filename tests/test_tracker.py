"""GuidedTracker (paper 3.4) on tiny CPU models and synthetic frames.

Eq. 4 is in test_anchored.py and Eq. 5 in test_localization.py; here: the
crop -> detect -> uncrop round trip of the tracker, bounded memory, bad inputs,
lost target, the got10k adapter and devices. Where the tracker's behaviour must
not depend on what an untrained detector finds, ``model.detect`` is wrapped so
that its candidates are chosen by the test (its proposals stay real, so sample
collection and updates still run).
"""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from guided_tracking.data.crop import search_geometry
from guided_tracking.tracking import GuidedTracker, Got10kGuidedTracker, build_tracker
from guided_tracking.modeling.guided_rcnn import GuidedRCNN

# Tiny settings of the brief: one 32 px exemplar, 64 px search region, 4 first-frame samples.
TINY_TRACKER_OPTS = [
    "MODEL.GUIDED.EXEMPLAR_SIZES", [32], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
    "INPUT.GUIDED.SEARCH_SIZE", 64, "TRACKER.INIT_SAMPLES", 4,
]
# Untrained detectors score low: collect every frame, never "lose" the target.
ALWAYS_COLLECT = ["TRACKER.COLLECT_THRESHOLD", 0.0, "TRACKER.LOST_THRESHOLD", 0.0]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    """torch and OpenCV single-threaded for this module (see conftest.single_threaded)."""
    yield


# Scripted candidates are the tracker's final candidates: no second head pass.
NO_REFINE = ["TRACKER.REFINE", False]


@pytest.fixture
def make_tracker(tiny_cfg):
    """``make_tracker(opts=(), seed=0) -> GuidedTracker`` on a fresh tiny model."""

    def _make(opts=(), seed=0):
        cfg = tiny_cfg("mnv2_fpn", TINY_TRACKER_OPTS + list(opts))
        torch.manual_seed(seed)
        return GuidedTracker(cfg, build_model(cfg))

    return _make


def moving_sequence(num, size_wh=(160, 120), seed=0):
    """BGR uint8 frames of a textured box moving and changing shape on noise; (frames, xywh boxes)."""
    rng = np.random.default_rng(seed)
    w, h = size_wh
    background = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    texture = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(num):
        bw, bh = 20.0 + 1.5 * i, 30.0 - 1.0 * i
        cx, cy = 50.0 + 3.0 * i, 55.0 + 2.0 * i
        box = np.array([cx - bw / 2, cy - bh / 2, bw, bh])
        frame = background.copy()
        x0, y0 = int(round(box[0])), int(round(box[1]))
        x1, y1 = int(round(box[0] + bw)), int(round(box[1] + bh))
        frame[y0:y1, x0:x1] = texture[: y1 - y0, : x1 - x0]
        frames.append(frame)
        boxes.append(box)
    return frames, boxes


def xywh_to_xyxy64(box):
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y + h], dtype=np.float64)


class ScriptedDetect:
    """Replaces ``model.detect``'s candidates by ``self.boxes_xywh`` (image coordinates,
    mapped into the current search crop exactly as the tracker crops) with ``self.scores``."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.real = tracker.model.detect
        self.boxes_xywh, self.scores = [], []

    def __call__(self, images, features, params=None, **kwargs):
        results, proposals = self.real(images, features, params, **kwargs)
        state = self.tracker.state  # still the previous frame's box: the crop's centre
        geom = search_geometry(state.box_xywh, self.tracker.search_context, self.tracker.search_px)
        boxes = np.array([geom.box_to_crop(xywh_to_xyxy64(b)) for b in self.boxes_xywh], np.float64).reshape(-1, 4)
        candidates = Instances(results[0]["candidates"].image_size)
        candidates.pred_boxes = torch.as_tensor(boxes)
        candidates.scores = torch.as_tensor(np.asarray(self.scores, np.float64).reshape(-1))
        results[0]["candidates"] = candidates
        return results, proposals


def expected_size(prev_wh, gt_wh, score, sigma, lr=0.275):
    """Paper 3.4 by hand: size moves towards B* with lr * p_sr (Eq. 5, 1 at no change) * score,
    in log space; the sequence's size change per frame is below TRACKER.MAX_SCALE_STEP."""
    (w, h), (bw, bh) = prev_wh, gt_wh
    d_r = max((bw / bh) / (w / h), (w / h) / (bw / bh))
    d_s = max(math.sqrt(bw * bh) / math.sqrt(w * h), math.sqrt(w * h) / math.sqrt(bw * bh))
    p_sr = math.exp(-abs(d_r + d_s - 1.0) / sigma) / math.exp(-1.0 / sigma)
    rate = min(max(lr * p_sr * score, 0.0), 1.0)
    # In log space (TRACKER.SIZE_LOG_SPACE): w * (bw / w) ** rate.
    return w * (bw / w) ** rate, h * (bh / h) ** rate


def centre(box):
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


# ---------------------------------------------------------------------------
# crop / uncrop round trip
# ---------------------------------------------------------------------------
def test_round_trip_returns_ground_truth_centre_and_smoothed_size(make_tracker, monkeypatch):
    tracker = make_tracker(NO_REFINE)
    frames, gt = moving_sequence(12)
    detect = ScriptedDetect(tracker)
    monkeypatch.setattr(tracker.model, "detect", detect)
    tracker.initialize(frames[0], gt[0])
    prev = np.asarray(gt[0], np.float64)
    for frame, box in zip(frames[1:], gt[1:]):
        detect.boxes_xywh, detect.scores = [box], [0.9]
        out = tracker.track(frame)
        np.testing.assert_allclose(centre(out), centre(box), rtol=0, atol=1e-6)
        np.testing.assert_allclose(out[2:], expected_size(prev[2:], box[2:], 0.9, tracker.sigma), rtol=1e-9, atol=1e-9)
        # The size moves towards the ground truth, never past it.
        assert np.all(np.abs(out[2:] - box[2:]) <= np.abs(prev[2:] - box[2:]) + 1e-9)
        assert tracker.last_confidence == pytest.approx(0.9) and not tracker.lost
        prev = out
    assert len(tracker.state.memory) == len(frames) - 1  # 0.9 >= COLLECT_THRESHOLD: one sample per frame


def test_round_trip_with_rgb_model_input(make_tracker, monkeypatch):
    """INPUT.FORMAT RGB only changes what the network sees, not the geometry."""
    tracker = make_tracker(["INPUT.FORMAT", "RGB"] + NO_REFINE)
    frames, gt = moving_sequence(4)
    detect = ScriptedDetect(tracker)
    monkeypatch.setattr(tracker.model, "detect", detect)
    tracker.initialize(frames[0], gt[0])
    for frame, box in zip(frames[1:], gt[1:]):
        detect.boxes_xywh, detect.scores = [box], [0.9]
        np.testing.assert_allclose(centre(tracker.track(frame)), centre(box), atol=1e-6)


# ---------------------------------------------------------------------------
# lost target
# ---------------------------------------------------------------------------
def test_lost_target_keeps_state_then_recovers(make_tracker, monkeypatch):
    tracker = make_tracker(["TRACKER.UPDATE_INTERVAL", 2] + NO_REFINE)
    frames, gt = moving_sequence(10)
    detect = ScriptedDetect(tracker)
    monkeypatch.setattr(tracker.model, "detect", detect)
    tracker.initialize(frames[0], gt[0])
    detect.boxes_xywh, detect.scores = [gt[1]], [0.9]
    kept = tracker.track(frames[1])
    memory = len(tracker.state.memory)
    far = np.array([120.0, 10.0, 30.0, 12.0])
    lost_frames = [  # (candidates, scores, confidence = B*'s score or 0 without B*)
        ([far, gt[2]], [0.15, 0.05], 0.05),    # all below LOST_THRESHOLD (0.2); B* = the central one
        ([far], [0.1], 0.1),
        ([], [], 0.0),                         # no candidate at all
        ([gt[4], far], [np.nan, np.nan], 0.0), # only NaN scores
        ([gt[5]], [0.19], 0.19),
    ]
    for i, (boxes, scores, confidence) in enumerate(lost_frames, start=2):
        detect.boxes_xywh, detect.scores = boxes, scores
        out = tracker.track(frames[i])
        np.testing.assert_array_equal(out, kept)  # no drift
        assert np.all(np.isfinite(out)) and tracker.lost and tracker.state.lost
        assert tracker.last_confidence == pytest.approx(confidence)
        assert len(tracker.state.memory) == memory  # nothing collected while lost
        assert all(torch.isfinite(v).all() for v in tracker.state.theta.values())
    # Good candidates again: tracking resumes from the kept box.
    for i in range(len(lost_frames) + 2, len(frames)):
        detect.boxes_xywh, detect.scores = [gt[i]], [0.8]
        out = tracker.track(frames[i])
        assert not tracker.lost and tracker.last_confidence == pytest.approx(0.8)
        np.testing.assert_allclose(centre(out), centre(gt[i]), atol=1e-6)
    assert len(tracker.state.memory) == memory + len(frames) - len(lost_frames) - 2


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------
def _tensor_bytes(samples):
    inputs, proposals = samples
    total = inputs.untyped_storage().nbytes()
    for p in proposals:
        for value in p.get_fields().values():
            total += getattr(value, "tensor", value).untyped_storage().nbytes()
    return total


def test_memory_stays_bounded_over_a_long_sequence(make_tracker):
    memory_size, rois = 5, 12
    tracker = make_tracker(ALWAYS_COLLECT + ["TRACKER.MEMORY_SIZE", memory_size, "TRACKER.UPDATE_INTERVAL", 4,
                                             "TRACKER.ROIS_PER_SAMPLE", rois])
    rng = np.random.default_rng(1)
    background = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
    tracker.initialize(background, [40, 30, 16, 12])
    init_rows = tracker.state.init_samples[0].shape[0]
    sizes, updates = [], 0
    for i in range(1, 61):
        frame = np.roll(background, i, axis=1)
        box = tracker.track(frame)
        assert np.all(np.isfinite(box)), (i, box)
        memory = tracker.state.memory
        assert len(memory) == min(i, memory_size)
        for inputs, proposals in memory:
            # ROI head inputs only (R x FC_DIM), not views into a feature map.
            assert inputs.dim() == 2 and inputs.shape[0] == sum(len(p) for p in proposals) <= rois
            assert inputs.untyped_storage().nbytes() == inputs.numel() * inputs.element_size()
        sizes.append(sum(_tensor_bytes(m) for m in memory))
        if tracker.last_updated:
            updates += 1
            assert GuidedRCNN.concat_samples(list(memory))[0].shape[0] <= memory_size * rois
    assert updates == 60 // 4
    assert max(sizes[memory_size:]) <= max(sizes[:memory_size]) * 1.5  # full from frame 5 on, no growth
    assert all(torch.isfinite(v).all() for v in tracker.state.theta.values())


def test_memory_size_zero_and_updates_disabled(make_tracker):
    """MEMORY_SIZE 0: nothing kept, no update; UPDATE_INTERVAL 0: never update (θ_1 kept)."""
    frames, gt = moving_sequence(5)
    for opts in (["TRACKER.MEMORY_SIZE", 0, "TRACKER.UPDATE_INTERVAL", 1], ["TRACKER.UPDATE_INTERVAL", 0]):
        tracker = make_tracker(ALWAYS_COLLECT + opts)
        tracker.initialize(frames[0], gt[0])
        theta1 = {k: v.clone() for k, v in tracker.state.theta.items()}
        for frame in frames[1:]:
            assert np.all(np.isfinite(tracker.track(frame)))
            assert not tracker.last_updated
        assert all(torch.equal(theta1[k], v) for k, v in tracker.state.theta.items())


def test_rois_per_sample_is_honoured(make_tracker):
    tracker = make_tracker(["TRACKER.ROIS_PER_SAMPLE", 6])
    frames, gt = moving_sequence(2)
    tracker.initialize(frames[0], gt[0])
    inputs, proposals = tracker.state.init_samples
    assert [len(p) for p in proposals] == [6] * 4 and inputs.shape[0] == 24
    assert tracker.model.roi_heads.batch_size_per_image == 16  # the model's own setting is restored


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------
def test_track_before_initialize_is_a_runtime_error(make_tracker):
    tracker = make_tracker()
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.track(np.zeros((48, 64, 3), np.uint8))
    assert not tracker.lost


@pytest.mark.parametrize("box", [
    [10, 10, 0, 20], [10, 10, 20, 0], [10, 10, -5, 20], [np.nan, 10, 20, 20], [10, 10, np.inf, 20],
    [200, 10, 20, 20], [-50, -50, 20, 20], [10, 10, 20], None, [10, 10, 0.5, 0.5],
], ids=["zero-w", "zero-h", "negative-w", "nan", "inf", "right-of-image", "above-left", "three-values", "none",
        "sub-pixel"])
def test_invalid_initial_box_is_one_clear_value_error(make_tracker, box):
    tracker = make_tracker()
    with pytest.raises(ValueError, match="initial box"):
        tracker.initialize(np.zeros((48, 64, 3), np.uint8), box)
    assert tracker.state is None
    with pytest.raises(RuntimeError):
        tracker.track(np.zeros((48, 64, 3), np.uint8))


def test_unreadable_frame_is_a_value_error_and_tracking_goes_on(make_tracker):
    tracker = make_tracker(ALWAYS_COLLECT)
    frames, gt = moving_sequence(4)
    tracker.initialize(frames[0], gt[0])
    box = tracker.track(frames[1])
    frame_id = tracker.state.frame_id
    for bad in (None, np.zeros((0, 0, 3), np.uint8), np.zeros((48, 64, 5), np.uint8), np.zeros(7, np.uint8)):
        with pytest.raises(ValueError, match="image"):
            tracker.track(bad)
        assert tracker.state.frame_id == frame_id
        np.testing.assert_array_equal(tracker.state.box_xywh, box)
    assert np.all(np.isfinite(tracker.track(frames[2])))


def test_reinitialize_after_a_failed_sequence_matches_a_fresh_tracker(make_tracker):
    """run_benchmark reuses one tracker for all sequences, also after one failed: no state leaks."""
    seq_a, gt_a = moving_sequence(6, seed=3)
    seq_b, gt_b = moving_sequence(6, seed=4)
    fresh = make_tracker(ALWAYS_COLLECT + ["TRACKER.UPDATE_INTERVAL", 2])
    fresh.initialize(seq_b[0], gt_b[0])
    expected = [fresh.track(f) for f in seq_b[1:]]

    reused = make_tracker(ALWAYS_COLLECT + ["TRACKER.UPDATE_INTERVAL", 2])
    params_before = {k: v.clone() for k, v in reused.model.state_dict().items()}
    reused.initialize(seq_a[0], gt_a[0])
    for frame in seq_a[1:4]:
        reused.track(frame)
    with pytest.raises(ValueError):
        reused.track(None)  # the sequence fails here (e.g. a corrupt frame)
    reused.initialize(seq_b[0], gt_b[0])
    got = [reused.track(f) for f in seq_b[1:]]
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=0, atol=1e-5)
    # θ_t lives in the tracker state; the model's own weights are never changed.
    assert all(torch.equal(params_before[k], v) for k, v in reused.model.state_dict().items())


def _track_all(tracker, frames, box):
    tracker.initialize(frames[0], box)
    return np.array([tracker.track(f) for f in frames[1:]])


def test_grayscale_rgba_and_16bit_frames_track_like_8bit_bgr(make_tracker):
    tracker = make_tracker(ALWAYS_COLLECT + ["TRACKER.UPDATE_INTERVAL", 2])
    frames, gt = moving_sequence(5)
    gray = [f.mean(axis=2).astype(np.uint8) for f in frames]
    reference_gray = _track_all(tracker, [np.repeat(g[:, :, None], 3, axis=2) for g in gray], gt[0])
    assert np.all(np.isfinite(reference_gray))
    np.testing.assert_allclose(_track_all(tracker, gray, gt[0]), reference_gray, atol=1e-5)  # H x W
    np.testing.assert_allclose(_track_all(tracker, [g[:, :, None] for g in gray], gt[0]), reference_gray, atol=1e-5)
    reference = _track_all(tracker, frames, gt[0])
    bgra = [np.dstack([f, np.full(f.shape[:2], 77, np.uint8)]) for f in frames]
    np.testing.assert_allclose(_track_all(tracker, bgra, gt[0]), reference, atol=1e-5)
    sixteen = [f.astype(np.uint16) * 257 for f in frames]  # full 16-bit range
    np.testing.assert_allclose(_track_all(tracker, sixteen, gt[0]), reference, atol=1e-5)


def test_image_smaller_than_the_search_region(make_tracker):
    tracker = make_tracker(ALWAYS_COLLECT + ["TRACKER.UPDATE_INTERVAL", 2])
    rng = np.random.default_rng(2)
    for (w, h), box in (((40, 30), [12, 8, 12, 10]), ((12, 9), [2, 2, 6, 5])):
        frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(5)]
        boxes = _track_all(tracker, frames, box)
        assert np.all(np.isfinite(boxes))
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        assert np.all((centres >= 0) & (centres <= [w, h]))
        assert np.all((boxes[:, 2] > 0) & (boxes[:, 2] <= w) & (boxes[:, 3] > 0) & (boxes[:, 3] <= h))


def test_box_partly_outside_the_image_is_tracked(make_tracker):
    tracker = make_tracker(ALWAYS_COLLECT)
    frames, _ = moving_sequence(4)
    tracker.initialize(frames[0], [-10, -6, 30, 24])
    np.testing.assert_array_equal(tracker.state.box_xywh, [-10, -6, 30, 24])
    for frame in frames[1:]:
        box = tracker.track(frame)
        assert np.all(np.isfinite(box)) and np.all(centre(box) >= 0)


# ---------------------------------------------------------------------------
# got10k adapter
# ---------------------------------------------------------------------------
def test_got10k_adapter_on_pil_rgb_matches_tracker_on_bgr(make_tracker):
    tracker = make_tracker(ALWAYS_COLLECT + ["TRACKER.UPDATE_INTERVAL", 2])
    frames, gt = moving_sequence(6)
    tracker.initialize(frames[0], gt[0])
    expected, confidences = [], []
    for frame in frames[1:]:
        expected.append(tracker.track(frame))
        confidences.append(tracker.last_confidence)

    adapter = Got10kGuidedTracker(tracker, name="Tiny")
    assert adapter.name == "Tiny" and adapter.is_deterministic
    for mode in ("RGB", "RGBA"):
        pil = [Image.fromarray(np.ascontiguousarray(f[:, :, ::-1])).convert(mode) for f in frames]
        adapter.init(pil[0], gt[0])
        assert adapter.last_confidence == 1.0
        for image, box, confidence in zip(pil[1:], expected, confidences):
            np.testing.assert_allclose(adapter.update(image), box, rtol=0, atol=1e-5)
            assert adapter.last_confidence == pytest.approx(confidence)


def test_got10k_adapter_on_grayscale_pil(make_tracker):
    tracker = make_tracker(ALWAYS_COLLECT)
    frames, gt = moving_sequence(4)
    gray = [Image.fromarray(f[:, :, ::-1]).convert("L") for f in frames]
    expected = _track_all(tracker, [np.asarray(g) for g in gray], gt[0])
    adapter = Got10kGuidedTracker(tracker)
    adapter.init(gray[0], gt[0])
    np.testing.assert_allclose(np.array([adapter.update(g) for g in gray[1:]]), expected, atol=1e-5)


# ---------------------------------------------------------------------------
# configuration: device, step size
# ---------------------------------------------------------------------------
def test_tracker_honours_cfg_device(tiny_cfg, tmp_path):
    cfg = tiny_cfg("mnv2_fpn", TINY_TRACKER_OPTS + ["MODEL.DEVICE", "cpu"])
    tracker = build_tracker(cfg)
    assert tracker.device.type == "cpu"
    assert all(p.device.type == "cpu" for p in tracker.model.parameters())
    frames, gt = moving_sequence(3)
    tracker.initialize(frames[0], gt[0])
    tracker.track(frames[1])
    assert all(v.device.type == "cpu" for v in tracker.state.theta.values())
    cfg.MODEL.WEIGHTS = str(tmp_path / "missing.pth")
    with pytest.raises(FileNotFoundError, match="MODEL.WEIGHTS"):
        build_tracker(cfg)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_tracker_on_cuda(tiny_cfg):
    cfg = tiny_cfg("mnv2_fpn", TINY_TRACKER_OPTS + ALWAYS_COLLECT + ["TRACKER.UPDATE_INTERVAL", 2])
    tracker = build_tracker(cfg, device="cuda")
    assert tracker.device.type == "cuda" and cfg.MODEL.DEVICE == "cpu"
    frames, gt = moving_sequence(6)
    boxes = _track_all(tracker, frames, gt[0])
    assert np.all(np.isfinite(boxes)) and tracker.last_updated is not None
    assert all(v.device.type == "cuda" for v in tracker.state.theta.values())
    assert all(m[0].device.type == "cuda" for m in tracker.state.memory)


def test_learned_meta_sgd_step_sizes_are_used_online(make_tracker):
    """TRACKER.STEP_SIZE < 0 means the model's α: with LEARN_INNER_LR that is the learned one."""
    frames, gt = moving_sequence(2)
    tracker = make_tracker(["MODEL.META.LEARN_INNER_LR", True])
    with torch.no_grad():
        for alpha in tracker.model.step_sizes.alphas.values():
            alpha.zero_()  # learned α = 0: online fine-tuning must not move θ
    tracker.initialize(frames[0], gt[0])
    assert all(torch.equal(tracker.state.theta[k], v) for k, v in tracker.state.theta0.items())
    tracker = make_tracker(["MODEL.META.LEARN_INNER_LR", True, "TRACKER.STEP_SIZE", 0.1])
    with torch.no_grad():
        for alpha in tracker.model.step_sizes.alphas.values():
            alpha.zero_()
    tracker.initialize(frames[0], gt[0])  # an explicit TRACKER.STEP_SIZE wins
    assert not all(torch.equal(tracker.state.theta[k], v) for k, v in tracker.state.theta0.items())


# ---------------------------------------------------------------------------
# first-frame flips, refinement, size limits
# ---------------------------------------------------------------------------
def test_flipped_first_frame_samples_are_guided_by_the_flipped_exemplar(make_tracker, monkeypatch):
    tracker = make_tracker(["TRACKER.INIT_SAMPLES", 16])
    model = tracker.model
    encoded, task_ids = [], []
    real_encode, real_features = model.encode_targets, model.guided_features

    def encode(exemplars, boxes):
        encoded.append(([e.clone() for e in exemplars], boxes.clone()))
        return real_encode(exemplars, boxes)

    def features(images, guidance, ids=None):
        task_ids.append(None if ids is None else ids.tolist())
        return real_features(images, guidance, ids)

    monkeypatch.setattr(model, "encode_targets", encode)
    monkeypatch.setattr(model, "guided_features", features)
    frames, gt = moving_sequence(2)
    tracker.initialize(frames[0], gt[0])
    (exemplars, boxes), = encoded
    assert len(exemplars) == 2 and torch.equal(exemplars[1], exemplars[0].flip(-1))
    side = exemplars[0].shape[-1]
    torch.testing.assert_close(boxes[1], torch.stack([side - boxes[0][2], boxes[0][1], side - boxes[0][0],
                                                       boxes[0][3]]))
    ids = task_ids[0]
    assert len(ids) == 16 and ids[0] == 0 and set(ids) == {0, 1}  # sample 0 is the plain crop
    # Tracking uses the un-flipped target only.
    task_ids.clear()
    tracker.track(frames[1])
    assert task_ids == [None]  # the state's guidance is used as is: the un-flipped target only (below)
    alone = real_encode(exemplars[:1], boxes[:1])
    if tracker.fold_tgm:
        alone = model.fold_guidance(alone)
    for level, g in tracker.state.guidance.items():
        for a, b in zip(vars(g).values(), vars(alone[level]).values()):
            if isinstance(a, torch.Tensor):
                torch.testing.assert_close(a, b)


def test_refined_candidates_are_the_ones_localised(make_tracker, monkeypatch):
    tracker = make_tracker(["TRACKER.REFINE", True])
    frames, gt = moving_sequence(3)
    detect = ScriptedDetect(tracker)
    monkeypatch.setattr(tracker.model, "detect", detect)
    tracker.initialize(frames[0], gt[0])
    calls = []

    def refine(features, boxes_xyxy, theta, image_size):
        calls.append(boxes_xyxy.clone())
        geom = search_geometry(tracker.state.box_xywh, tracker.search_context, tracker.search_px)
        return torch.as_tensor(geom.box_to_crop(xywh_to_xyxy64(gt[1]))[None]), torch.tensor([0.8], dtype=torch.float64)

    monkeypatch.setattr(tracker.model, "rescore", refine)
    detect.boxes_xywh, detect.scores = [np.asarray(gt[1]) + [6.0, -4.0, 0.0, 0.0]], [0.9]
    out = tracker.track(frames[1])
    assert len(calls) == 1 and calls[0].shape == (1, 4)
    np.testing.assert_allclose(centre(out), centre(gt[1]), atol=1e-6)  # the refined box, not the detected one
    assert tracker.last_confidence == pytest.approx(0.8)


def test_refine_pass_scores_the_given_boxes(make_tracker):
    tracker = make_tracker()
    frames, gt = moving_sequence(2)
    tracker.initialize(frames[0], gt[0])
    geom = search_geometry(gt[0], tracker.search_context, tracker.search_px)
    _, features = tracker._features([geom.crop_image(frames[1])])
    boxes = torch.tensor([[20.0, 20.0, 40.0, 44.0], [5.0, 6.0, 30.0, 20.0]])
    refined, scores = tracker.model.rescore(features, boxes, tracker.state.theta,
                                            (tracker.search_px, tracker.search_px))
    assert refined.shape == (2, 4) and scores.shape == (2,)
    assert torch.isfinite(refined).all() and ((scores >= 0) & (scores <= 1)).all()
    # Same as running the ROI head by hand at those boxes.
    roi_heads = tracker.model.roi_heads
    p = Instances((tracker.search_px, tracker.search_px))
    p.proposal_boxes = Boxes(boxes)
    preds = roi_heads.head_forward(roi_heads.roi_features(features, [p]), tracker.state.theta)
    b, s = roi_heads.candidates(preds, [p])
    torch.testing.assert_close(refined, b[0])
    torch.testing.assert_close(scores, s[0])


def test_size_never_leaves_bounds_or_jumps(make_tracker, monkeypatch):
    tracker = make_tracker(NO_REFINE + ["TRACKER.MAX_SCALE_STEP", 0.1, "TRACKER.SIZE_BOUNDS", [0.5, 1.5],
                                        "TRACKER.SIZE_LR_DAMPED", False, "TRACKER.SIZE_LR", 1.0])
    frames, gt = moving_sequence(12)
    detect = ScriptedDetect(tracker)
    monkeypatch.setattr(tracker.model, "detect", detect)
    tracker.initialize(frames[0], gt[0])
    init_side = math.sqrt(gt[0][2] * gt[0][3])
    prev_side = init_side
    for frame, box in zip(frames[1:], gt[1:]):
        huge = np.array([box[0] - 40, box[1] - 40, box[2] + 80, box[3] + 80])  # B* far too large
        detect.boxes_xywh, detect.scores = [huge], [0.9]
        out = tracker.track(frame)
        side = math.sqrt(out[2] * out[3])
        assert side <= prev_side * 1.1 + 1e-6
        assert side <= 1.5 * init_side + 1e-6
        prev_side = side
    assert side == pytest.approx(1.5 * init_side)
