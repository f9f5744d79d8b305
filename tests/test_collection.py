"""Online samples that cannot teach drift (issue 19): the appearance check before a
frame is collected (guided_tracking.tracking.verification + the tracker's gate),
look-alikes as hard negatives of the next update, and N_1 = N by default."""
import numpy as np
import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Instances
from guided_tracking.data.crop import search_geometry
from guided_tracking.tracking import GuidedTracker
from guided_tracking.tracking.verification import TargetVerifier, head_feature_strides

OPTS = ["MODEL.GUIDED.EXEMPLAR_SIZES", [32], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
        "INPUT.GUIDED.SEARCH_SIZE", 64, "TRACKER.INIT_SAMPLES", 4, "TRACKER.REFINE", False,
        "TRACKER.COLLECT_THRESHOLD", 0.0, "TRACKER.LOST_THRESHOLD", 0.0]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    yield


def _textures(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (24, 24, 3), dtype=np.uint8),  # the target
            np.repeat(rng.integers(0, 256, (24, 1, 3), dtype=np.uint8), 24, axis=1))  # a striped look-alike


def _frame(target_xy, other_xy=None, seed=0, size=(160, 120)):
    target, other = _textures(seed)
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    x, y = target_xy
    frame[y:y + 24, x:x + 24] = target
    if other_xy is not None:
        frame[other_xy[1]:other_xy[1] + 24, other_xy[0]:other_xy[0] + 24] = other
    return frame


def _tracker(tiny_cfg, backbone="mnv2_fpn", opts=()):
    cfg = tiny_cfg(backbone, OPTS + list(opts))
    torch.manual_seed(0)
    return GuidedTracker(cfg, build_model(cfg))


@pytest.mark.parametrize("backbone", ["mnv2_fpn", "mnv2_ssd"])
def test_same_appearance_elsewhere_is_more_similar_than_another_object(tiny_cfg, backbone):
    tracker = _tracker(tiny_cfg, backbone)
    assert set(tracker.verifier.names) == set(head_feature_strides(tracker.model))
    tracker.initialize(_frame((40, 40)), [40, 40, 24, 24])
    # Target and look-alike side by side in one crop, each measured at its own box.
    frame = _frame((50, 44), other_xy=(90, 44))
    geom = search_geometry([62 - 12, 56 - 12, 24, 24], tracker.search_context, tracker.search_px)
    _, features, _, _ = tracker.detect_in(frame, geom)
    boxes = torch.as_tensor(np.stack([geom.box_to_crop(np.array([[x, 44, x + 24, 68]], np.float64))[0]
                                      for x in (50, 90)]), dtype=torch.float32)
    sims = tracker.verifier.embed(features, boxes) @ tracker.state.target_embedding
    assert sims[0] > 0.9 and sims[0] > sims[1] + 0.05
    assert torch.all(sims <= 1.0 + 1e-5)


def test_verifier_reads_a_target_of_the_canonical_size_from_one_level():
    verifier = TargetVerifier({"p2": 4, "p3": 8, "p4": 16, "p5": 32}, canonical_box_size=51.2)
    features = {n: torch.randn(1, 8, 256 // s, 256 // s) for n, s in (("p2", 4), ("p3", 8), ("p4", 16), ("p5", 32))}
    # 0.75x - 1.4x the canonical size: one level (stride 8), so the same box at
    # slightly different sizes stays comparable.
    from detectron2.modeling.poolers import assign_boxes_to_levels
    from detectron2.structures import Boxes
    sides = torch.tensor([38.5, 45.0, 51.2, 60.0, 72.0])
    boxes = torch.stack([100 - sides / 2, 100 - sides / 2, 100 + sides / 2, 100 + sides / 2], dim=1)
    levels = assign_boxes_to_levels([Boxes(boxes)], verifier.pooler.min_level, verifier.pooler.max_level,
                                    verifier.pooler.canonical_box_size, verifier.pooler.canonical_level)
    assert levels.tolist() == [1] * 5  # index 1 = p3
    assert verifier.embed(features, boxes).shape == (5, 8 * 25)


class _ScriptedBest:
    """``model.detect`` whose best candidate is the box given (image coordinates)."""

    def __init__(self, tracker):
        self.tracker, self.real = tracker, tracker.model.detect
        self.box_xyxy = None

    def __call__(self, images, features, params=None, **kwargs):
        results, aux = self.real(images, features, params, **kwargs)
        cand = results[0]["candidates"]
        geom = search_geometry(self.tracker.state.box_xywh, self.tracker.search_context, self.tracker.search_px)
        box = torch.as_tensor(geom.box_to_crop(np.asarray([self.box_xyxy], np.float64)), dtype=cand.pred_boxes.dtype)
        results[0]["candidates"] = Instances(cand.image_size, pred_boxes=torch.cat([box, cand.pred_boxes]),
                                             scores=torch.cat([torch.ones(1, dtype=cand.scores.dtype),
                                                               cand.scores * 0.5]))
        return results, aux


def test_a_look_alike_chosen_as_the_target_is_not_collected(tiny_cfg, monkeypatch):
    tracker = _tracker(tiny_cfg, opts=["TRACKER.UPDATE_INTERVAL", 0])
    tracker.initialize(_frame((60, 48)), [60, 48, 24, 24])
    scripted = _ScriptedBest(tracker)
    monkeypatch.setattr(tracker.model, "detect", scripted)
    tracker.measure_similarity = True  # read below while the gate is off
    frame = _frame((60, 48), other_xy=(100, 48))
    # Threshold between the target's similarity and the look-alike's, measured here.
    sims = {}
    for name, x in (("target", 60), ("other", 100)):
        state = tracker.state
        saved = (state.box_xywh.copy(), len(state.memory))
        scripted.box_xyxy = [x, 48, x + 24, 72]
        tracker.collect_similarity = None
        tracker.track(frame)
        sims[name] = state.similarity_scale.normalize(state.similarity)
        assert len(state.memory) == saved[1] + 1  # gate off: collected whatever B* is
        state.box_xywh = saved[0]
    assert sims["target"] > sims["other"]
    tracker.collect_similarity = 0.5 * (sims["target"] + sims["other"])
    before = len(tracker.state.memory)
    scripted.box_xyxy = [100, 48, 124, 72]
    tracker.track(frame)
    assert len(tracker.state.memory) == before  # the look-alike is not taught as the target
    tracker.state.box_xywh = np.array([60.0, 48.0, 24.0, 24.0])
    scripted.box_xyxy = [60, 48, 84, 72]
    tracker.track(frame)
    assert len(tracker.state.memory) == before + 1


def test_distractors_are_high_scoring_candidates_away_from_the_target(tiny_cfg):
    tracker = _tracker(tiny_cfg, opts=["TRACKER.DISTRACTOR_SCORE", 0.5, "TRACKER.MAX_DISTRACTORS", 2])
    boxes = torch.tensor([[10, 10, 30, 30], [11, 10, 31, 30], [40, 40, 60, 60], [0, 40, 20, 60],
                          [40, 0, 60, 20], [12, 12, 30, 30]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.6, 0.95, 0.3, 0.99])
    # Row 0 is B*: rows 1 and 5 overlap it, row 4 scores too low; 3 before 2 (higher).
    assert tracker._distractors(boxes, scores, 0) == [3, 2]
    tracker.distractor_score = 1.1
    assert tracker._distractors(boxes, scores, 0) == []


def test_rcnn_samples_take_the_distractors_as_background(tiny_cfg):
    tracker = _tracker(tiny_cfg, opts=["TRACKER.ROIS_PER_SAMPLE", 4])
    tracker.initialize(_frame((60, 48)), [60, 48, 24, 24])
    geom = search_geometry([60, 48, 24, 24], tracker.search_context, tracker.search_px)
    images, features, (boxes, _), aux = tracker.detect_in(_frame((60, 48)), geom)
    target = np.clip(geom.box_to_crop(np.array([[60, 48, 84, 72]], np.float64)), 0, 64)
    model = tracker.model
    far = torch.nonzero(torch.as_tensor([float(b[0]) > 40 or float(b[2]) < 20 for b in boxes])).flatten()[:3].tolist()
    assert far, "the tiny RPN gave no proposal away from the target"
    torch.manual_seed(0)
    plain_inputs, plain = model.tracking_samples(images, features, target, aux, rois_per_image=4)
    torch.manual_seed(0)
    inputs, sampled = model.tracking_samples(images, features, target, aux, rois_per_image=4, negatives=[far])
    added = len(sampled[0]) - len(plain[0])
    assert 1 <= added <= len(far)
    tail = sampled[0][len(plain[0]):]
    assert (tail.gt_classes == model.roi_heads.num_classes).all()
    expected = {tuple(aux.proposals[0].proposal_boxes.tensor[r].tolist()) for r in far}
    assert {tuple(b.tolist()) for b in tail.proposal_boxes.tensor} <= expected
    np.testing.assert_allclose(inputs[:len(plain_inputs)], plain_inputs)
    rows = [next(r for r in far if torch.equal(aux.proposals[0].proposal_boxes.tensor[r], b))
            for b in tail.proposal_boxes.tensor]
    np.testing.assert_allclose(inputs[len(plain_inputs):], aux.roi_inputs[rows])
    assert torch.isfinite(model.sample_loss(tracker.state.theta, (inputs, sampled)))


def test_first_frame_steps_minus_one_means_the_meta_training_steps(tiny_cfg):
    cfg = tiny_cfg("mnv2_fpn", OPTS + ["MODEL.META.INNER_STEPS", 3])
    assert GuidedTracker.from_config(cfg, build_model(cfg))["init_steps"] == 5  # paper's N1
    cfg.TRACKER.INIT_STEPS = -1
    assert GuidedTracker.from_config(cfg, build_model(cfg))["init_steps"] == 3
    cfg.TRACKER.INIT_STEPS = 7
    assert GuidedTracker.from_config(cfg, build_model(cfg))["init_steps"] == 7


def test_similarity_is_measured_only_when_something_reads_it(tiny_cfg):
    tracker = _tracker(tiny_cfg)
    assert not tracker.measure_similarity
    tracker.initialize(_frame((60, 48)), [60, 48, 24, 24])
    tracker.track(_frame((62, 48)))
    assert np.isnan(tracker.state.similarity)  # no ROIAlign spent on it
    assert _tracker(tiny_cfg, opts=["TRACKER.COLLECT_VERIFY", True]).measure_similarity
    assert _tracker(tiny_cfg, opts=["TRACKER.PRESENCE_WEIGHTS", [1.0, 0.0, 0.0]]).measure_similarity
