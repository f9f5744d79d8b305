"""Long-term tracking in the tracker: the presence probability (tracking/presence.py),
absence (no move, no learning) and whole-frame re-detection (tracking/redetect.py)."""
import numpy as np
import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Instances
from guided_tracking.data.crop import search_geometry
from guided_tracking.tracking import GuidedTracker
from guided_tracking.tracking import tracker as tracker_module
from guided_tracking.tracking.presence import PresenceModel, SimilarityScale, fit_presence_weights
from guided_tracking.tracking.redetect import tile_geometries

OPTS = ["MODEL.GUIDED.EXEMPLAR_SIZES", [32], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
        "INPUT.GUIDED.SEARCH_SIZE", 64, "TRACKER.INIT_SAMPLES", 4, "TRACKER.REFINE", False,
        "TRACKER.COLLECT_THRESHOLD", 0.0, "TRACKER.LOST_THRESHOLD", 0.0,
        # presence = the detector's score (w_s = 1 on its logit, nothing else)
        "TRACKER.PRESENCE_WEIGHTS", [1.0, 0.0, 0.0], "TRACKER.PRESENCE_THRESHOLD", 0.5]


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_threaded):
    yield


# ---------------------------------------------------------------- presence model
def test_presence_grows_with_score_and_similarity_and_is_a_probability():
    model = PresenceModel((1.5, 3.0, -2.0))
    assert 0.0 < model(0.05, 0.0) < model(0.9, 0.0) < model(0.9, 1.0) < 1.0
    assert model(float("nan"), 1.0) == 0.0
    scale = SimilarityScale(target=0.9, background=0.8)
    assert scale.normalize(0.9) == pytest.approx(1.0) and scale.normalize(0.8) == pytest.approx(0.0)
    assert np.isfinite(SimilarityScale(0.5, 0.5).normalize(0.7))


def test_fitted_presence_separates_found_from_not_found_frames():
    rng = np.random.default_rng(0)
    found = rng.random(400) < 0.5
    scores = np.where(found, rng.uniform(0.5, 1.0, 400), rng.uniform(0.0, 0.9, 400))
    sims = np.where(found, rng.normal(1.0, 0.3, 400), rng.normal(0.0, 0.3, 400))
    model = PresenceModel(fit_presence_weights(scores, sims, found))
    p = np.array([model(s, v) for s, v in zip(scores, sims)])
    assert np.mean((p >= 0.5) == found) > 0.9
    assert model.weights[1] > 0  # similarity counts
    with pytest.raises(ValueError, match="both labels"):
        fit_presence_weights([0.5, 0.6], [0.1, 0.2], [True, True])


# ---------------------------------------------------------------- tiles
def test_tiles_cover_the_frame_at_the_target_scale():
    tiles = tile_geometries((320, 240), 20.0, 5.0, 64, max_tiles=30)
    assert all(g.side_px == pytest.approx(100.0) and g.out_px == 64 for g in tiles)
    # Every 20 px target inside the frame lies wholly inside some tile, and nearer
    # its centre than its border where the frame allows (tiles overlap by half).
    centres = np.stack(np.meshgrid(np.arange(10, 311, 5), np.arange(10, 231, 5)), -1).reshape(-1, 2)
    for x, y in centres:
        slack = [max(abs(x - g.center_xy[0]), abs(y - g.center_xy[1])) for g in tiles]
        assert min(slack) <= 50 - 10
    interior = centres[(centres[:, 0] > 50) & (centres[:, 0] < 270) & (centres[:, 1] > 50) & (centres[:, 1] < 190)]
    assert max(min(max(abs(x - g.center_xy[0]), abs(y - g.center_xy[1])) for g in tiles) for x, y in interior) <= 25
    assert len(tile_geometries((100, 80), 30.0, 5.0, 64)) == 1  # the target's crop holds the whole frame


def test_tiles_grow_then_keep_those_nearest_the_last_position():
    grown = tile_geometries((1280, 720), 20.0, 5.0, 64, max_tiles=16)
    assert len(grown) <= 16 and grown[0].side_px > 100.0
    capped = tile_geometries((4000, 3000), 10.0, 5.0, 64, max_tiles=4, near_xy=(3900, 2900))
    assert len(capped) == 4 and all(g.center_xy[0] > 3000 and g.center_xy[1] > 2000 for g in capped)


def test_tiles_within_a_radius_of_the_last_position():
    everywhere = tile_geometries((640, 480), 20.0, 5.0, 64, max_tiles=200)
    near = tile_geometries((640, 480), 20.0, 5.0, 64, max_tiles=200, near_xy=(100, 100), radius_px=60.0)
    assert 0 < len(near) < len(everywhere)
    for g in everywhere:  # kept exactly when the crop's square reaches within 60 px of (100, 100)
        dx = max(abs(g.center_xy[0] - 100) - 50, 0)
        dy = max(abs(g.center_xy[1] - 100) - 50, 0)
        assert (g in near) == (dx * dx + dy * dy <= 60 ** 2)


# ---------------------------------------------------------------- absence and re-detection
def _frame(xy, size=(320, 240), seed=0):
    rng = np.random.default_rng(seed)
    frame = np.full((size[1], size[0], 3), 60, np.uint8)
    if xy is not None:
        frame[xy[1]:xy[1] + 20, xy[0]:xy[0] + 20] = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    return frame


class _World:
    """``model.detect`` of a detector that sees the target exactly where it is
    (score 0.95) when it lies inside the crop, else only clutter (score 0.05).
    The crops' geometries are recorded as the tracker makes them."""

    def __init__(self, tracker, monkeypatch):
        self.tracker, self.real = tracker, tracker.model.detect
        self.target_xyxy = None
        self.geometries = []
        real_crop = tracker_module.search_geometry
        real_tiles = tracker_module.tile_geometries

        def record_search(*a, **k):
            g = real_crop(*a, **k)
            self.geometries = [g]
            return g

        def record_tiles(*a, **k):
            self.geometries = real_tiles(*a, **k)
            self.tile_calls += 1
            return self.geometries

        self.tile_calls = 0
        monkeypatch.setattr(tracker_module, "search_geometry", record_search)
        monkeypatch.setattr(tracker_module, "tile_geometries", record_tiles)
        self.batch_start = 0

    def __call__(self, images, features, params=None, **kwargs):
        results, aux = self.real(images, features, params, **kwargs)
        n = len(results)
        geoms = self.geometries[self.batch_start:self.batch_start + n] if len(self.geometries) > 1 else self.geometries
        self.batch_start = (self.batch_start + n) % max(len(self.geometries), 1) if len(self.geometries) > 1 else 0
        for result, geom in zip(results, geoms):
            boxes, scores = [[1.0, 1.0, 9.0, 9.0]], [0.05]
            if self.target_xyxy is not None:
                crop = geom.box_to_crop(np.asarray([self.target_xyxy], np.float64))[0]
                if crop[0] >= 0 and crop[1] >= 0 and crop[2] <= geom.out_px and crop[3] <= geom.out_px:
                    boxes, scores = [crop.tolist()] + boxes, [0.95] + scores
            result["candidates"] = Instances(result["candidates"].image_size,
                                             pred_boxes=torch.tensor(boxes, dtype=torch.float32),
                                             scores=torch.tensor(scores, dtype=torch.float32))
        return results, aux


def _tracker(tiny_cfg, opts=(), backbone="mnv2_fpn"):
    cfg = tiny_cfg(backbone, OPTS + list(opts))
    torch.manual_seed(0)
    return GuidedTracker(cfg, build_model(cfg))


def test_absent_target_keeps_the_box_and_teaches_nothing(tiny_cfg, monkeypatch):
    tracker = _tracker(tiny_cfg, ["TRACKER.UPDATE_INTERVAL", 2, "TRACKER.FOLLOW_WHEN_ABSENT", False])
    world = _World(tracker, monkeypatch)
    monkeypatch.setattr(tracker.model, "detect", world)
    tracker.initialize(_frame((100, 100)), [100, 100, 20, 20])
    world.target_xyxy = [102, 100, 122, 120]
    tracker.track(_frame((102, 100)))
    assert tracker.state.presence == pytest.approx(0.95, abs=1e-3) and tracker.state.absent_frames == 0
    box, memory, theta = tracker.state.box_xywh.copy(), len(tracker.state.memory), tracker.state.theta
    world.target_xyxy = None  # the target left the view
    for _ in range(3):
        out = tracker.track(_frame(None))
        np.testing.assert_allclose(out, box)  # stays where it was last seen
        assert tracker.last_confidence == pytest.approx(0.05, abs=1e-3)
    assert tracker.state.absent_frames == 3 and len(tracker.state.memory) == memory
    assert all(torch.equal(tracker.state.theta[k], theta[k]) for k in theta)  # no update while absent (frames 2, 4)


def test_follow_when_absent_moves_the_box_but_teaches_nothing(tiny_cfg, monkeypatch):
    # A presence threshold above the target's own score: present targets read as absent.
    tracker = _tracker(tiny_cfg, ["TRACKER.UPDATE_INTERVAL", 2, "TRACKER.PRESENCE_THRESHOLD", 0.99,
                                  "TRACKER.FOLLOW_WHEN_ABSENT", True])
    world = _World(tracker, monkeypatch)
    monkeypatch.setattr(tracker.model, "detect", world)
    tracker.initialize(_frame((100, 100)), [100, 100, 20, 20])
    theta = tracker.state.theta
    for x in (106, 112, 118, 124):
        world.target_xyxy = [x, 100, x + 20, 120]
        out = tracker.track(_frame((x, 100)))
        assert tracker.state.absent_frames > 0 and tracker.last_confidence == pytest.approx(0.95, abs=1e-3)
        assert abs(out[0] + out[2] / 2 - (x + 10)) < 1.0  # the box went with the target
    assert len(tracker.state.memory) == 0 and not tracker.last_updated
    assert all(torch.equal(tracker.state.theta[k], theta[k]) for k in theta)
    # Without the switch the same run leaves the box where the target was last present.
    tracker = _tracker(tiny_cfg, ["TRACKER.PRESENCE_THRESHOLD", 0.99, "TRACKER.FOLLOW_WHEN_ABSENT", False])
    world = _World(tracker, monkeypatch)
    monkeypatch.setattr(tracker.model, "detect", world)
    tracker.initialize(_frame((100, 100)), [100, 100, 20, 20])
    world.target_xyxy = [106, 100, 126, 120]
    np.testing.assert_allclose(tracker.track(_frame((106, 100))), [100, 100, 20, 20])


@pytest.mark.parametrize("backbone", ["mnv2_fpn", "mnv2_ssd"])
def test_redetection_finds_the_target_where_it_comes_back(tiny_cfg, monkeypatch, backbone):
    tracker = _tracker(tiny_cfg, ["TRACKER.REDETECT", True, "TRACKER.REDETECT_AFTER", 2,
                                  "TRACKER.REDETECT_INTERVAL", 3, "TRACKER.UPDATE_INTERVAL", 0], backbone)
    world = _World(tracker, monkeypatch)
    monkeypatch.setattr(tracker.model, "detect", world)
    tracker.initialize(_frame((30, 30)), [30, 30, 20, 20])
    world.target_xyxy = [260, 190, 280, 210]  # back, far outside the local search region
    tracker.track(_frame((260, 190)))
    assert tracker.state.absent_frames == 1 and world.tile_calls == 0
    out = tracker.track(_frame((260, 190)))  # second absent frame: the whole frame is searched
    assert world.tile_calls == 1 and tracker.state.redetected
    np.testing.assert_allclose(out, [260, 190, 20, 20], atol=1e-3)
    assert tracker.state.absent_frames == 0 and tracker.last_confidence == pytest.approx(0.95, abs=1e-3)
    out = tracker.track(_frame((262, 190)))  # and tracked locally from there
    world.target_xyxy = [262, 190, 282, 210]
    out = tracker.track(_frame((262, 190)))
    assert abs(out[0] - 262) < 3 and not tracker.state.redetected


def test_no_redetection_while_present_nor_without_the_switch(tiny_cfg, monkeypatch):
    tracker = _tracker(tiny_cfg, ["TRACKER.REDETECT_AFTER", 1])
    world = _World(tracker, monkeypatch)
    monkeypatch.setattr(tracker.model, "detect", world)
    tracker.initialize(_frame((30, 30)), [30, 30, 20, 20])
    world.target_xyxy = [260, 190, 280, 210]
    for _ in range(4):
        tracker.track(_frame((260, 190)))
    assert world.tile_calls == 0 and tracker.state.absent_frames == 4  # REDETECT is off


def test_redetection_radius_grows_with_the_absence(tiny_cfg, monkeypatch):
    # Local-to-global: 2.5 + 1 x (absent frames) target sides from the last present
    # position. The target comes back ~12 sides away: out of reach of the first
    # search (2 absent frames: 4.5 sides), found once the radius has grown.
    tracker = _tracker(tiny_cfg, ["TRACKER.REDETECT", True, "TRACKER.REDETECT_AFTER", 2,
                                  "TRACKER.REDETECT_INTERVAL", 3, "TRACKER.UPDATE_INTERVAL", 0,
                                  "TRACKER.REDETECT_GROWTH", 1.0])
    world = _World(tracker, monkeypatch)
    monkeypatch.setattr(tracker.model, "detect", world)
    tracker.initialize(_frame((30, 30)), [30, 30, 20, 20])
    world.target_xyxy = [260, 80, 280, 100]  # centre (270, 90): 11.8 sides from (40, 40)
    tracker.track(_frame((260, 80)))
    tracker.track(_frame((260, 80)))  # first search: 4.5 sides
    assert world.tile_calls == 1 and not tracker.state.redetected
    assert all(max(abs(g.center_xy[0] - 40) - g.side_px / 2, 0) ** 2 + max(abs(g.center_xy[1] - 40) - g.side_px / 2, 0) ** 2
               <= (4.5 * 20) ** 2 for g in world.geometries)
    for _ in range(3):  # next search at 5 absent frames: 7.5 sides, still too near
        tracker.track(_frame((260, 80)))
    assert world.tile_calls == 2 and not tracker.state.redetected
    for _ in range(3):  # 8 absent frames: 10.5 sides ... 11 frames: 13.5 sides
        tracker.track(_frame((260, 80)))
    assert world.tile_calls == 3 and not tracker.state.redetected
    for _ in range(3):
        out = tracker.track(_frame((260, 80)))
    assert world.tile_calls == 4 and tracker.state.redetected
    np.testing.assert_allclose(out, [260, 80, 20, 20], atol=1e-3)
    assert tracker.state.present_xy == pytest.approx((270.0, 90.0), abs=1e-3)
