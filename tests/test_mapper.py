"""TripletDatasetMapper (guided_tracking.data.mapper): exemplar 2x target, search
region 5x target around a jittered centre (paper 3.5), flips, clipping and
degenerate samples."""
import cv2
import numpy as np
import pytest
import torch

from guided_tracking.data.crop import hflip_boxes
from guided_tracking.data.mapper import TripletDatasetMapper, xywh_to_xyxy
from guided_tracking.data.sampler import TripletDataset

IMAGE_WH = (240, 180)
# A different target box in each of the three frames, well inside the image.
BOXES_XYWH = np.float32([[100, 70, 24, 24], [60, 40, 30, 20], [130, 100, 18, 28]])
EXEMPLAR_PX, SEARCH_PX = 64, 96


def _write_frames(folder, boxes_xywh=BOXES_XYWH, seed=0):
    """One PNG per box: dark noise with a bright (230) rectangle exactly at the box."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (x, y, w, h) in enumerate(np.asarray(boxes_xywh, dtype=np.float64)):
        image = rng.integers(0, 40, size=(IMAGE_WH[1], IMAGE_WH[0], 3), dtype=np.uint8)
        x0, y0, x1, y1 = (int(round(v)) for v in (x, y, x + w, y + h))
        image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 230
        path = str(folder / f"{i + 1:08d}.png")
        cv2.imwrite(path, image)
        paths.append(path)
    return paths


def _sample(paths, boxes_xywh=BOXES_XYWH, seed=0, still_image=False):
    return {"seq_name": "rect", "frame_ids": (0, 1, 2), "file_names": list(paths),
            "boxes_xywh": np.asarray(boxes_xywh, dtype=np.float32), "still_image": still_image, "seed": seed}


def _mapper(**kwargs):
    kwargs = {"exemplar_px": EXEMPLAR_PX, "search_px": SEARCH_PX, **kwargs}
    return TripletDatasetMapper(**kwargs)


def _bright_box(image_chw):
    """xyxy extent of the bright pixels of a (3, H, W) uint8 crop."""
    gray = image_chw.float().mean(0).numpy()
    ys, xs = np.nonzero(gray > 130)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def _gt_box(frame):
    boxes = frame["instances"].gt_boxes.tensor
    assert boxes.shape == (1, 4) and frame["instances"].gt_classes.tolist() == [0]
    return boxes[0].numpy().astype(np.float64)


def _unflip(box_xyxy, flipped, width):
    return hflip_boxes(box_xyxy, width) if flipped else box_xyxy


@pytest.fixture
def frames(tmp_path):
    return _write_frames(tmp_path)


def test_from_config_sizes(tiny_cfg):
    mapper = TripletDatasetMapper(tiny_cfg("mnv2_fpn", ["INPUT.GUIDED.SEARCH_SIZE", 96]))
    assert (mapper.exemplar_px, mapper.search_px) == (64, 96)  # largest of EXEMPLAR_SIZES [32, 64]
    # CPU config: exemplar context 2.5 so the target is 51.2 px in both crops.
    assert (mapper.exemplar_context, mapper.search_context) == (2.5, 5.0)


def test_search_crop_round_trip_and_output_format(frames):
    mapper = _mapper()
    centre_offsets = []
    for seed in range(12):
        out = mapper(_sample(frames, seed=seed))
        assert out["exemplar"].shape == (3, EXEMPLAR_PX, EXEMPLAR_PX) and out["exemplar"].dtype == torch.uint8
        assert out["frame_ids"] == (0, 1, 2) and out["seq_name"] == "rect"
        for i, part in ((1, "support"), (2, "query")):
            frame = out[part]
            assert frame["image"].shape == (3, SEARCH_PX, SEARCH_PX)
            assert (frame["height"], frame["width"]) == (SEARCH_PX, SEARCH_PX)
            box = _unflip(_gt_box(frame), frame["flipped"], SEARCH_PX)
            back = frame["geometry"].box_from_crop(box)
            np.testing.assert_allclose(back, xywh_to_xyxy(BOXES_XYWH[i]), atol=1.0)
            # The jitter moves the target off the crop centre.
            centre_offsets.append(abs((box[0] + box[2]) / 2 - SEARCH_PX / 2))
        ex_box = _unflip(out["exemplar_box"].numpy().astype(np.float64), out["support"]["flipped"], EXEMPLAR_PX)
        np.testing.assert_allclose(out["exemplar_geometry"].box_from_crop(ex_box), xywh_to_xyxy(BOXES_XYWH[0]),
                                   atol=1.0)
    assert max(centre_offsets) > 3.0


def test_search_target_side_is_a_fifth_of_the_crop(frames):
    mapper = _mapper(shift_jitter=0.0, scale_jitter=0.0, flip_prob=0.0)
    out = mapper(_sample(frames))
    box = _gt_box(out["query"])  # 18 x 28 target: geometric-mean side sqrt(18 * 28)
    side = np.sqrt((box[2] - box[0]) * (box[3] - box[1]))
    assert side == pytest.approx(SEARCH_PX / 5.0, abs=0.5)
    np.testing.assert_allclose((box[:2] + box[2:]) / 2, [SEARCH_PX / 2] * 2, atol=0.5)


@pytest.mark.parametrize("box_wh", [(24, 24), (20, 45)])
def test_exemplar_target_is_centred_at_half_the_exemplar(tmp_path, box_wh):
    boxes = BOXES_XYWH.copy()
    boxes[0, 2:] = box_wh
    paths = _write_frames(tmp_path, boxes)
    for seed in range(4):
        out = _mapper()(_sample(paths, boxes, seed=seed))
        x0, y0, x1, y1 = out["exemplar_box"].tolist()
        assert (x0 + x1) / 2 == pytest.approx(EXEMPLAR_PX / 2, abs=1.0)
        assert (y0 + y1) / 2 == pytest.approx(EXEMPLAR_PX / 2, abs=1.0)
        # 2x context on the geometric-mean side: the target's mean side is half the exemplar.
        assert np.sqrt((x1 - x0) * (y1 - y0)) == pytest.approx(EXEMPLAR_PX / 2, abs=1.0)
        if box_wh[0] == box_wh[1]:
            assert x1 - x0 == pytest.approx(EXEMPLAR_PX / 2, abs=1.0)
            assert y1 - y0 == pytest.approx(EXEMPLAR_PX / 2, abs=1.0)


def test_ground_truth_is_clipped_to_the_crop(frames):
    # Shifts beyond ~2 target sizes push the target partly out of the 5x crop.
    mapper = _mapper(shift_jitter=2.8, scale_jitter=0.0, min_visible_fraction=0.3)
    clipped = degenerate = 0
    for seed in range(40):
        out = mapper(_sample(frames, seed=seed))
        if out is None:
            degenerate += 1
            continue
        for i, part in ((1, "support"), (2, "query")):
            frame = out[part]
            box = _gt_box(frame)
            assert (box >= 0).all() and (box <= SEARCH_PX).all()
            unclipped = frame["geometry"].box_to_crop(xywh_to_xyxy(BOXES_XYWH[i]).astype(np.float64))
            expected = _unflip(np.clip(unclipped, 0, SEARCH_PX), frame["flipped"], SEARCH_PX)
            np.testing.assert_allclose(box, expected, atol=1e-3)
            kept = np.prod(np.clip(unclipped, 0, SEARCH_PX)[2:] - np.clip(unclipped, 0, SEARCH_PX)[:2])
            assert kept / np.prod(unclipped[2:] - unclipped[:2]) >= 0.3 - 1e-6
            clipped += not np.allclose(unclipped, np.clip(unclipped, 0, SEARCH_PX))
    assert clipped >= 3 and degenerate >= 1


@pytest.mark.parametrize("flip_prob", [0.0, 1.0])
def test_boxes_match_the_bright_target_in_the_crops(frames, flip_prob):
    mapper = _mapper(flip_prob=flip_prob, color_jitter=0.0, blur_prob=0.0)
    for seed in range(6):
        out = mapper(_sample(frames, seed=seed))
        assert out["support"]["flipped"] is bool(flip_prob) and out["query"]["flipped"] is bool(flip_prob)
        np.testing.assert_allclose(_bright_box(out["exemplar"]), out["exemplar_box"].numpy(), atol=1.0)
        for part in ("support", "query"):
            np.testing.assert_allclose(_bright_box(out[part]["image"]), _gt_box(out[part]), atol=1.0)


def test_flip_mirrors_images_and_boxes_of_the_same_crop(frames):
    plain = _mapper(flip_prob=0.0, color_jitter=0.0, blur_prob=0.0)(_sample(frames, seed=7))
    flipped = _mapper(flip_prob=1.0, color_jitter=0.0, blur_prob=0.0)(_sample(frames, seed=7))
    assert torch.equal(flipped["exemplar"], plain["exemplar"].flip(-1))
    np.testing.assert_allclose(flipped["exemplar_box"].numpy(), hflip_boxes(plain["exemplar_box"].numpy(), EXEMPLAR_PX))
    for part in ("support", "query"):
        assert flipped[part]["geometry"] == plain[part]["geometry"]
        assert torch.equal(flipped[part]["image"], plain[part]["image"].flip(-1))
        np.testing.assert_allclose(_gt_box(flipped[part]), hflip_boxes(_gt_box(plain[part]), SEARCH_PX))
        assert not np.allclose(_gt_box(flipped[part]), _gt_box(plain[part]))  # off-centre: a real change


@pytest.mark.parametrize("bad_box", [
    [100, 70, 0, 24],          # zero width
    [100, 70, 24, 1],          # 1 px high
    [np.nan, 70, 24, 24],      # not finite
    [1000, 900, 24, 24],       # far outside the 240 x 180 image
    [230, 170, 24, 24],        # mostly outside (< MIN_VISIBLE_FRACTION inside)
])
def test_degenerate_samples_return_none(frames, bad_box):
    mapper = _mapper()
    assert mapper(_sample(frames, seed=1)) is not None
    for i in range(3):
        boxes = BOXES_XYWH.copy()
        boxes[i] = bad_box
        assert mapper(_sample(frames, boxes, seed=1)) is None


def test_extremely_elongated_target_leaves_the_search_crop(frames):
    # 220 x 2 px: the crop (5 x sqrt(440) ~ 105 px) keeps < 50% of the box.
    boxes = BOXES_XYWH.copy()
    boxes[2] = [10, 90, 220, 2]
    assert _mapper(shift_jitter=0.0, scale_jitter=0.0)(_sample(frames, boxes)) is None


def test_dataset_counts_and_resamples_degenerate_triplets(tmp_path, frames):
    outside = BOXES_XYWH.copy()
    outside[:, :2] += 2000  # annotations far outside the image
    bad = {"seq_name": "bad", "file_names": frames, "boxes_xywh": outside, "visible": np.ones(3, bool)}
    good = {"seq_name": "good", "file_names": frames, "boxes_xywh": BOXES_XYWH, "visible": np.ones(3, bool)}
    ds = TripletDataset([[bad, good]], _mapper(), seed=0)
    assert all(ds[k]["seq_name"] == "good" for k in range(12))
    assert ds.num_degenerate > 0
    with pytest.raises(RuntimeError, match="degenerate triplets in a row"):
        TripletDataset([[bad]], _mapper(), seed=0, max_retries=4)[0]


def test_still_image_triplets_differ_by_jitter(frames):
    sample = _sample([frames[0]] * 3, np.stack([BOXES_XYWH[0]] * 3), seed=2, still_image=True)
    out = _mapper(color_jitter=0.0, blur_prob=0.0)(sample)
    assert out["support"]["geometry"] != out["query"]["geometry"]
    for part in ("support", "query"):
        np.testing.assert_allclose(_bright_box(out[part]["image"]), _gt_box(out[part]), atol=1.0)


def test_grayscale_turns_the_whole_triplet_gray_and_keeps_geometry(frames):
    """GRAYSCALE_PROB 1: exemplar and both frames gray (equal channels), same crops
    and boxes as without."""
    plain = _mapper(color_jitter=0.0, blur_prob=0.0)(_sample(frames, seed=3))
    gray = _mapper(color_jitter=0.0, blur_prob=0.0, grayscale_prob=1.0)(_sample(frames, seed=3))
    for image_gray, image_plain in [(gray["exemplar"], plain["exemplar"])] + [
            (gray[p]["image"], plain[p]["image"]) for p in ("support", "query")]:
        assert torch.equal(image_gray[0], image_gray[1]) and torch.equal(image_gray[1], image_gray[2])
        assert not torch.equal(image_plain[0], image_plain[1])  # the frames are coloured
        expected = image_plain.float().mean(0).to(torch.uint8)
        assert (image_gray[0].int() - expected.int()).abs().max() <= 1
    for part in ("support", "query"):
        np.testing.assert_allclose(_gt_box(gray[part]), _gt_box(plain[part]))
