"""Target-guidance module (guided_tracking.modeling.tgm, paper 3.2)."""
import pytest
import torch

from guided_tracking.modeling.tgm import Guidance, TargetGuidanceModule

C, STRIDE = 16, 8


@pytest.fixture
def tgm():
    torch.manual_seed(0)
    return TargetGuidanceModule(C, STRIDE, pooler_resolution=3)


def _exemplar_inputs(num=3, side=8):
    g = torch.Generator().manual_seed(1)
    feats = torch.randn((num, C, side, side), generator=g)
    boxes = torch.tensor([[16.0, 16.0, 48.0, 48.0], [8.0, 12.0, 40.0, 60.0], [0.0, 0.0, 64.0, 64.0]])[:num]
    return feats, boxes


def test_encode_shapes(tgm):
    feats, boxes = _exemplar_inputs()
    guidance = tgm.encode(feats, boxes)
    assert guidance.modulator.shape == (3, C, 1, 1)
    assert guidance.target_vector.shape == (3, C, 1, 1)


def test_encode_pools_each_target_from_its_own_exemplar(tgm):
    feats, boxes = _exemplar_inputs()
    together = tgm.encode(feats, boxes)
    alone = tgm.encode(feats[1:2], boxes[1:2])
    torch.testing.assert_close(together.modulator[1:2], alone.modulator)
    torch.testing.assert_close(together.target_vector[1:2], alone.target_vector)
    # A different box gives a different modulator.
    moved = tgm.encode(feats[1:2], boxes[2:3])
    assert not torch.allclose(moved.modulator, alone.modulator)


@pytest.mark.parametrize("size", [(2, 5, 7), (4, 16, 16)])
def test_apply_keeps_the_search_shape(tgm, size):
    n, h, w = size
    feats, boxes = _exemplar_inputs()
    guidance = tgm.encode(feats, boxes).index(torch.arange(n) % 3)
    search = torch.randn(n, C, h, w)
    assert tgm.apply(search, guidance).shape == search.shape


def test_fuse_starts_as_identity_on_the_search_block(tgm):
    w = tgm.fuse.weight
    assert w.shape == (C, 3 * C, 1, 1)
    assert torch.equal(w[:, :C, 0, 0], torch.eye(C))
    assert torch.equal(tgm.fuse.bias, torch.zeros(C))


def test_apply_at_init_is_the_identity_on_search_features(tgm):
    feats, boxes = _exemplar_inputs()
    guidance = tgm.encode(feats, boxes)
    search = torch.randn(3, C, 10, 10)
    torch.testing.assert_close(tgm.apply(search, guidance), search, rtol=0, atol=1e-6)


def test_apply_depends_on_the_target_after_training_the_fuse(tgm):
    feats, boxes = _exemplar_inputs()
    with torch.no_grad():
        tgm.fuse.weight[:, C:].normal_(std=0.5)
    search = torch.randn(1, C, 6, 6).expand(2, -1, -1, -1)
    out = tgm.apply(search, tgm.encode(feats[:2], boxes[:2]))
    assert not torch.allclose(out[0], out[1], atol=1e-4)  # same search map, different targets


def test_apply_matches_the_paper_formula(tgm):
    feats, boxes = _exemplar_inputs()
    g = tgm.encode(feats, boxes)
    search = torch.randn(3, C, 4, 5)
    stacked = torch.cat([search, search * g.modulator, g.target_vector.expand_as(search)], dim=1)
    expected = torch.einsum("oc,nchw->nohw", tgm.fuse.weight[:, :, 0, 0], stacked) + tgm.fuse.bias[:, None, None]
    torch.testing.assert_close(tgm.apply(search, g), expected, rtol=1e-5, atol=1e-5)


def test_guidance_index_and_to():
    g = Guidance(torch.arange(3.0).view(3, 1, 1, 1), -torch.arange(3.0).view(3, 1, 1, 1))
    picked = g.index(torch.tensor([2, 0, 2]))
    assert picked.modulator.flatten().tolist() == [2.0, 0.0, 2.0]
    assert picked.target_vector.flatten().tolist() == [-2.0, -0.0, -2.0]
    assert g.to("cpu").modulator.device.type == "cpu"


def test_guidance_blocks_of_the_fuse_learn_from_init(tgm):
    # Even an identity-initialised fuse gets a gradient on the modulated and
    # target blocks, so guidance can be learned on top of a pretrained detector.
    feats, boxes = _exemplar_inputs()
    out = tgm.apply(torch.randn(3, C, 6, 6), tgm.encode(feats, boxes))
    out.square().sum().backward()
    grad = tgm.fuse.weight.grad[:, :, 0, 0]
    assert grad[:, C:2 * C].abs().sum() > 0 and grad[:, 2 * C:].abs().sum() > 0


def test_gradients_reach_every_tgm_parameter(tgm):
    with torch.no_grad():  # a trained fuse (non-trivial guidance blocks)
        tgm.fuse.weight.normal_(std=0.3)
    feats, boxes = _exemplar_inputs()
    feats.requires_grad_(True)
    out = tgm.apply(torch.randn(3, C, 6, 6), tgm.encode(feats, boxes))
    out.square().sum().backward()
    for name, p in tgm.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert feats.grad.abs().sum() > 0
