"""Crop geometry shared by the training mapper and the tracker (guided_tracking.data.crop)."""
import math

import numpy as np
import pytest
import torch

from guided_tracking.data.crop import (
    CropGeometry,
    clip_boxes_to_crop,
    exemplar_geometries,
    exemplar_geometry,
    hflip_boxes,
    jitter_geometry,
    search_geometry,
    target_side_px,
    visible_fraction,
)

BG, FG = 40, 240


def _image_with_rect(h, w, rect_xyxy_int, channels=3):
    """Background image with a filled rectangle covering pixels [x0, x1) x [y0, y1)."""
    img = np.full((h, w, channels), BG, np.uint8)
    x0, y0, x1, y1 = rect_xyxy_int
    img[y0:y1, x0:x1] = FG
    return img


def _measure_rect(crop):
    """Continuous xyxy extent of the bright rectangle in a crop (50% threshold)."""
    mask = crop[..., 0] > (BG + FG) / 2
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def test_from_box_uses_geometric_mean_side():
    geom = CropGeometry.from_box((10.0, 20.0, 20.0, 80.0), 2.0, 192)
    assert geom.center_xy == (20.0, 60.0)
    assert geom.side_px == pytest.approx(2.0 * 40.0)  # sqrt(20 * 80) = 40
    assert geom.scale == pytest.approx(192 / 80.0)
    assert target_side_px((0, 0, 20, 80)) == pytest.approx(40.0)
    with pytest.raises(ValueError):
        CropGeometry.from_box((0, 0, 0, 10), 2.0, 192)


def test_box_round_trip_numpy_and_torch():
    rng = np.random.default_rng(0)
    geom = CropGeometry((317.3, 201.9), 173.7, 480)
    xy = rng.uniform(-200, 800, size=(50, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 300, size=(50, 2))], axis=1)
    back = geom.box_from_crop(geom.box_to_crop(boxes))
    np.testing.assert_allclose(back, boxes, atol=1e-4)
    assert back is not boxes and isinstance(back, np.ndarray)

    boxes_t = torch.as_tensor(boxes)
    crop_t = geom.box_to_crop(boxes_t)
    assert isinstance(crop_t, torch.Tensor) and crop_t.dtype == torch.float64
    np.testing.assert_allclose(crop_t.numpy(), geom.box_to_crop(boxes), atol=1e-9)
    torch.testing.assert_close(geom.box_from_crop(crop_t), boxes_t, atol=1e-4, rtol=0)


def test_box_to_crop_hand_values():
    # Crop of side 200 centred at (100, 100): origin (0, 0), scale 480 / 200 = 2.4.
    geom = CropGeometry((100.0, 100.0), 200.0, 480)
    np.testing.assert_allclose(geom.box_to_crop(np.array([[80.0, 80.0, 120.0, 120.0]])), [[192, 192, 288, 288]])
    np.testing.assert_allclose(geom.points_to_crop(np.array([[100.0, 100.0], [0.0, 200.0]])), [[240, 240], [0, 480]])
    np.testing.assert_allclose(geom.points_from_crop(np.array([[240.0, 0.0]])), [[100.0, 0.0]])


@pytest.mark.parametrize(
    "geom",
    [
        CropGeometry((120.3, 95.7), 173.2, 480),  # upsampling (scale ~2.8)
        CropGeometry((131.0, 90.5), 220.0, 96),  # downsampling (scale ~0.44)
        CropGeometry((110.6, 40.2), 150.0, 300),  # crop sticks out of the image top
    ],
)
def test_warp_agrees_with_box_to_crop(geom):
    rect = (100, 80, 140, 110)  # pixels [100, 140) x [80, 110) -> continuous xyxy (100, 80, 140, 110)
    img = _image_with_rect(240, 320, rect)
    crop = geom.crop_image(img, fill=BG)
    assert crop.shape == (geom.out_px, geom.out_px, 3) and crop.dtype == np.uint8
    expected = geom.box_to_crop(np.array(rect, np.float64))
    np.testing.assert_allclose(_measure_rect(crop), expected, atol=1.0)


def test_exemplar_crop_centres_target_at_half_size():
    rect = (50, 60, 90, 100)  # 40 x 40 target
    img = _image_with_rect(200, 200, rect)
    box_xywh = (50.0, 60.0, 40.0, 40.0)
    geom = exemplar_geometry(box_xywh)
    assert geom.out_px == 192 and geom.side_px == pytest.approx(80.0)
    np.testing.assert_allclose(geom.box_to_crop(np.array(rect, float)), [48, 48, 144, 144], atol=1e-9)
    np.testing.assert_allclose(_measure_rect(geom.crop_image(img)), [48, 48, 144, 144], atol=1.0)


def test_multires_exemplars_share_the_region():
    geoms = exemplar_geometries((50.0, 60.0, 40.0, 40.0), out_sizes=(96, 192))
    assert [g.out_px for g in geoms] == [96, 192]
    assert geoms[0].center_xy == geoms[1].center_xy and geoms[0].side_px == geoms[1].side_px
    np.testing.assert_allclose(geoms[0].box_to_crop(np.array([50.0, 60.0, 90.0, 100.0])), [24, 24, 72, 72])


def test_search_crop_target_is_one_fifth():
    geom = search_geometry((100.0, 50.0, 40.0, 40.0))
    assert geom.out_px == 480 and geom.side_px == pytest.approx(200.0)
    crop_box = geom.box_to_crop(np.array([100.0, 50.0, 140.0, 90.0]))
    np.testing.assert_allclose(crop_box[2:] - crop_box[:2], [96.0, 96.0])  # 480 / 5
    np.testing.assert_allclose(crop_box, [192, 192, 288, 288])


def test_padding_is_image_mean_colour():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    img[..., 1] //= 4  # make channel means clearly different
    mean = img.reshape(-1, 3).mean(axis=0)
    far = CropGeometry((-500.0, -500.0), 100.0, 32)  # entirely outside the image
    crop = far.crop_image(img)
    assert np.all(np.abs(crop.astype(np.float64) - mean) <= 0.5 + 1e-6)
    # Partially outside: the corner far from the image is padding, the inside is image content.
    corner = CropGeometry((0.0, 0.0), 40.0, 40).crop_image(img)
    assert np.all(np.abs(corner[0, 0].astype(np.float64) - mean) <= 0.5 + 1e-6)
    np.testing.assert_array_equal(corner[20:, 20:], img[:20, :20])  # scale 1, aligned: exact copy
    # Explicit fill and grayscale images.
    np.testing.assert_array_equal(far.crop_image(img, fill=(1, 2, 3))[5, 5], [1, 2, 3])
    gray = far.crop_image(img[..., 0])
    assert gray.shape == (32, 32) and abs(float(gray[0, 0]) - img[..., 0].mean()) <= 0.5 + 1e-6


def test_jitter_geometry_bounds_and_determinism():
    box = (100.0, 80.0, 30.0, 30.0)
    base = search_geometry(box)
    assert jitter_geometry(box, np.random.default_rng(0), 0.0, 0.0) == base
    a = jitter_geometry(box, np.random.default_rng(3), 0.5, 0.25)
    assert a == jitter_geometry(box, np.random.default_rng(3), 0.5, 0.25)
    assert jitter_geometry(base, np.random.default_rng(3), 0.5, 0.25) == a  # geometry input: same result
    rng = np.random.default_rng(4)
    for _ in range(200):
        g = jitter_geometry(box, rng, 0.5, 0.25, out_px=320)
        assert g.out_px == 320
        assert abs(g.center_xy[0] - 115.0) <= 0.5 * 30.0 + 1e-9
        assert abs(g.center_xy[1] - 95.0) <= 0.5 * 30.0 + 1e-9
        assert 150.0 / 1.25 - 1e-9 <= g.side_px <= 150.0 * 1.25 + 1e-9


def test_clip_and_visible_fraction():
    boxes = np.array(
        [
            [-10.0, 0.0, 10.0, 10.0],  # half outside on the left
            [20.0, 20.0, 40.0, 60.0],  # inside
            [120.0, 0.0, 130.0, 10.0],  # fully outside
            [5.0, 5.0, 5.0, 9.0],  # degenerate
        ]
    )
    np.testing.assert_allclose(clip_boxes_to_crop(boxes, 100)[0], [0, 0, 10, 10])
    np.testing.assert_allclose(visible_fraction(boxes, 100), [0.5, 1.0, 0.0, 0.0])
    vis_t = visible_fraction(torch.as_tensor(boxes), 100)
    np.testing.assert_allclose(vis_t.numpy(), [0.5, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(boxes[0], [-10.0, 0.0, 10.0, 10.0])  # input untouched


def test_hflip_boxes_matches_flipped_image():
    np.testing.assert_allclose(hflip_boxes(np.array([[10.0, 5.0, 30.0, 20.0]]), 100), [[70, 5, 90, 20]])
    rect = (10, 20, 35, 50)
    img = _image_with_rect(64, 100, rect)
    flipped = np.ascontiguousarray(img[:, ::-1])
    np.testing.assert_allclose(_measure_rect(flipped), hflip_boxes(np.array(rect, float), 100))
    t = hflip_boxes(torch.tensor([[10.0, 5.0, 30.0, 20.0]]), 100)
    assert isinstance(t, torch.Tensor) and t.tolist() == [[70.0, 5.0, 90.0, 20.0]]
    assert math.isclose(float(hflip_boxes(hflip_boxes(np.array([1.5, 2, 3.25, 4]), 7), 7)[2]), 3.25)
