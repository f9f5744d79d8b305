"""The MAML inner loop (guided_tracking.modeling.maml, paper 3.3 Eq. 1), alone and as
GuidedRCNN.adapt runs it on ROI heads: batched over triplets = one loop per triplet."""
import math

import pytest
import torch

from detectron2.structures import Boxes, Instances
from guided_tracking.modeling import batch_params, inner_loop
from guided_tracking.modeling.maml import MetaStepSizes
from guided_tracking.modeling.meta_roi_heads import proposals_task_index

ALPHA = 0.1


# ---------------------------------------------------------------- inner_loop
def test_steps_follow_eq1_on_a_quadratic():
    theta0 = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    c = torch.tensor([0.5, 0.5, 0.5])
    theta, losses = inner_loop(lambda p: ((p["w"] - c) ** 2).sum(), {"w": theta0}, steps=2, step_size=ALPHA)
    # θ_i - c = (1 - 2α)(θ_{i-1} - c)
    torch.testing.assert_close(theta["w"], c + (1 - 2 * ALPHA) ** 2 * (theta0 - c))
    assert len(losses) == 2 and not losses[0].requires_grad
    torch.testing.assert_close(losses[0], ((theta0 - c) ** 2).sum().detach())
    torch.testing.assert_close(losses[1], ((1 - 2 * ALPHA) ** 2 * (theta0 - c) ** 2).sum().detach())


@pytest.mark.parametrize("first_order, expected", [(False, lambda t: 1 - 2 * ALPHA * t), (True, lambda t: torch.ones_like(t))])
def test_second_order_jacobian(first_order, expected):
    # L(θ) = Σ θ³/3: θ_1 = θ_0 - α θ_0², so dθ_1/dθ_0 = 1 - 2αθ_0 (second order), 1 (first order).
    theta0 = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    theta, _ = inner_loop(lambda p: (p["w"] ** 3).sum() / 3, {"w": theta0}, 1, ALPHA, first_order=first_order)
    (grad,) = torch.autograd.grad(theta["w"].sum(), theta0)
    torch.testing.assert_close(grad, expected(theta0.detach()))


def test_batched_params_get_their_own_gradients_and_grad_scale():
    theta0 = torch.tensor([1.0, 2.0], requires_grad=True)
    batched = batch_params({"w": theta0}, 3)
    assert batched["w"].shape == (3, 2) and batched["w"].data_ptr() == theta0.data_ptr()  # a view
    targets = torch.tensor([[0.0, 0.0], [1.0, 1.0], [4.0, -4.0]])
    scale = torch.tensor([1.0, 2.0, 0.5])
    theta, _ = inner_loop(lambda p: ((p["w"] - targets) ** 2).sum(), batched, 1, ALPHA, grad_scale=scale)
    expected = theta0.detach() - ALPHA * scale[:, None] * 2 * (theta0.detach() - targets)
    torch.testing.assert_close(theta["w"], expected)
    theta["w"].sum().backward()  # the outer gradient flows back to the shared θ0
    torch.testing.assert_close(theta0.grad, (3 - 2 * ALPHA * scale.sum()) * torch.ones(2))


def test_inner_gradient_clipping_bounds_each_tasks_step():
    """max_grad_norm scales a task's gradient (all its tensors together) to that
    norm, leaves smaller ones alone, and reports the norms before clipping."""
    theta0 = {"w": torch.zeros(2, requires_grad=True), "b": torch.zeros(1, requires_grad=True)}
    batched = batch_params(theta0, 2)
    # Task 0: gradient (-6, -8 | 0) = norm 10; task 1: (-0.6, -0.8 | 0) = norm 1.
    targets = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    loss_fn = lambda p: ((p["w"] - targets) ** 2).sum() + (p["b"] ** 2).sum()  # noqa: E731
    norms = []
    theta, _ = inner_loop(loss_fn, batched, 1, ALPHA, max_grad_norm=2.0, batched=True, grad_norms=norms)
    torch.testing.assert_close(norms[0], torch.tensor([10.0, 1.0]))
    step = (theta["w"] - 0.0).detach() / ALPHA  # = the clipped negative gradient
    torch.testing.assert_close(step[0], torch.tensor([6.0, 8.0]) * 2.0 / 10.0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(step[1], torch.tensor([0.6, 0.8]))
    # Off (0): the plain step of Eq. 1; an unbatched θ is clipped as one task.
    plain, _ = inner_loop(loss_fn, batched, 1, ALPHA)
    torch.testing.assert_close(plain["w"].detach()[0], ALPHA * torch.tensor([6.0, 8.0]))
    single, _ = inner_loop(lambda p: ((p["w"] - targets[0]) ** 2).sum(), {"w": theta0["w"]}, 1, ALPHA,
                           max_grad_norm=5.0)
    torch.testing.assert_close(single["w"].detach(), ALPHA * torch.tensor([3.0, 4.0]))


def test_not_differentiable_detaches_and_matches():
    theta0 = {"w": torch.tensor([1.0, -1.0], requires_grad=True)}
    loss_fn = lambda p: (p["w"] ** 4).sum()  # noqa: E731
    diff, _ = inner_loop(loss_fn, theta0, 3, ALPHA)
    with torch.no_grad():  # online tracking calls it under no_grad: it must still take steps
        online, losses = inner_loop(loss_fn, theta0, 3, ALPHA, differentiable=False)
    assert not online["w"].requires_grad and len(losses) == 3
    torch.testing.assert_close(online["w"], diff["w"].detach())
    assert not torch.allclose(online["w"], theta0["w"].detach())


def test_per_element_step_sizes_and_unused_params():
    theta0 = {"w": torch.tensor([1.0, 1.0], requires_grad=True), "unused": torch.ones(1, requires_grad=True)}
    alphas = {"w": torch.tensor([0.1, 0.0]), "unused": torch.tensor(0.3)}
    theta, _ = inner_loop(lambda p: (p["w"] ** 2).sum(), theta0, 1, alphas)
    torch.testing.assert_close(theta["w"], torch.tensor([0.8, 1.0]))
    assert theta["unused"] is theta0["unused"]


def test_meta_step_sizes_module():
    sizes = MetaStepSizes({"box_predictor.cls_score.weight": torch.Size([2, 4]),
                           "box_predictor.cls_score.bias": torch.Size([2])}, 0.05)
    assert {n for n, _ in sizes.named_parameters()} == {"alphas.box_predictor__cls_score__weight",
                                                        "alphas.box_predictor__cls_score__bias"}
    as_dict = sizes.as_dict()
    assert set(as_dict) == {"box_predictor.cls_score.weight", "box_predictor.cls_score.bias"}
    assert as_dict["box_predictor.cls_score.weight"].shape == (2, 4)
    assert torch.all(as_dict["box_predictor.cls_score.bias"] == 0.05)


# ---------------------------------------------------------------- GuidedRCNN.adapt
COUNTS = (5, 9, 12)  # ROIs per task: different on purpose


def _labelled_rois(model, counts, seed=0):
    """Random ROI inputs of the adapted layers and proposals with gt (mix of fg/bg)."""
    g = torch.Generator().manual_seed(seed)
    heads = model.roi_heads
    if heads.adapt_box_head:  # θ includes the box head: its input is the pooled map
        side = heads.box_pooler.output_size[0]
        in_shape = (heads.box_head.fc1.in_features // side ** 2, side, side)
    else:
        in_shape = (heads.box_head.output_shape.channels,)
    inputs, proposals = [], []
    for n in counts:
        # Small inputs: the L1 box loss must not overshoot and oscillate back in 2 steps.
        inputs.append(0.2 * torch.randn((n,) + in_shape, generator=g))
        xy = torch.rand((n, 2), generator=g) * 30
        boxes = torch.cat([xy, xy + 10 + torch.rand((n, 2), generator=g) * 20], 1)
        p = Instances((64, 64))
        p.proposal_boxes = Boxes(boxes)
        p.gt_boxes = Boxes(boxes + torch.randn((n, 4), generator=g) * 2)
        p.gt_classes = (torch.rand(n, generator=g) > 0.4).long()  # 1 = background
        p.gt_classes[0] = 0
        proposals.append(p)
    return inputs, proposals


@pytest.mark.parametrize("opts", [
    [],
    ["MODEL.META.ADAPT", "box_head+predictor"],
    ["MODEL.META.LEARN_INNER_LR", True],
    ["MODEL.META.ADAPT_REGRESSION", False],
], ids=["predictor", "box_head", "meta_sgd", "no_reg"])
def test_batched_inner_loop_equals_per_triplet_loop(tiny_model, opts):
    model = tiny_model("mnv2_fpn", opts + ["MODEL.META.INNER_LR", 0.2])
    inputs, proposals = _labelled_rois(model, COUNTS)
    theta0 = model.theta0()
    steps = 2

    batched, batched_losses = model.adapt(torch.cat(inputs), proposals, batch_params(theta0, len(COUNTS)), steps,
                                          proposals_task_index(proposals), len(COUNTS))
    looped = [model.adapt(x, [p], theta0, steps) for x, p in zip(inputs, proposals)]
    for b, (theta_b, losses_b) in enumerate(looped):
        for name in theta0:
            torch.testing.assert_close(batched[name][b], theta_b[name], rtol=0, atol=1e-5)
            assert not torch.allclose(theta_b[name], theta0[name])  # the step did something
    # The batched loss is the mean over all ROIs = count-weighted mean of the tasks' losses.
    weights = torch.tensor(COUNTS, dtype=torch.float32) / sum(COUNTS)
    expected0 = sum(w * losses_b[0] for w, (_, losses_b) in zip(weights, looped))
    torch.testing.assert_close(batched_losses[0], expected0, rtol=1e-5, atol=1e-6)

    # Second-order outer gradients through the batched loop equal the looped ones.
    outer = lambda thetas: sum((t["box_predictor.cls_score.weight"] ** 2).sum() for t in thetas)  # noqa: E731
    wrt = list(theta0.values()) + ([] if model.step_sizes is None else list(model.step_sizes.parameters()))
    g_batched = torch.autograd.grad(outer([{k: v[b] for k, v in batched.items()} for b in range(len(COUNTS))]),
                                    wrt, allow_unused=True)
    g_looped = torch.autograd.grad(outer([t for t, _ in looped]), wrt, allow_unused=True)
    for a, b in zip(g_batched, g_looped):
        if a is None or b is None:
            assert a is None and b is None
            continue
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_inner_steps_lower_the_support_loss(tiny_model, make_triplets, event_storage):
    model = tiny_model("mnv2_fpn")
    triplets = make_triplets(2)
    heads = model.roi_heads
    with torch.no_grad():
        guidance = model.encode_targets([t["exemplar"] for t in triplets],
                                        torch.stack([t["exemplar_box"] for t in triplets]))
        images = model.normalize([t["support"]["image"] for t in triplets])
        gt = [t["support"]["instances"] for t in triplets]
        features = model.guided_features(images, guidance)
        proposals, _ = model.proposal_generator(images, features, gt)
        torch.manual_seed(0)
        proposals = heads.label_and_sample_proposals(proposals, gt)
        x = heads.roi_features(features, proposals)
    index = proposals_task_index(proposals)
    params = batch_params(model.theta0(), 2)

    @torch.no_grad()
    def support_loss(theta):
        return float(sum(heads.inner_losses(heads.head_forward(x, theta, index, 2), proposals).values()))

    adapted, losses = model.adapt(x, proposals, params, 5, index, 2, differentiable=False)
    assert len(losses) == 5
    assert float(losses[0]) == pytest.approx(support_loss(params), rel=1e-5)
    after = support_loss(adapted)
    assert after < float(losses[0]) * 0.9, (float(losses[0]), after)
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))  # monotone on this fixed batch


@pytest.mark.parametrize("backbone", ["mnv2_fpn", "mnv2_ssd"])
def test_models_log_and_clip_the_inner_gradient(tiny_model, make_triplets, event_storage, backbone):
    """Both architectures log the largest inner gradient norm of a batch, and
    MODEL.META.INNER_GRAD_CLIP bounds the step: a clip far below that norm leaves
    θ almost where it was, so the support loss barely moves."""
    triplets = make_triplets(2)
    logged = {}
    for clip in (0.0, 1e-4):
        model = tiny_model(backbone, ["MODEL.META.INNER_GRAD_CLIP", clip])
        assert model.inner_grad_clip == clip
        torch.manual_seed(0)
        model(triplets)
        logged[clip] = {k: v for k, v in event_storage.latest().items()}
    norm = logged[0.0]["meta/inner_grad_norm"][0]
    assert math.isfinite(norm) and norm > 1e-2
    assert logged[1e-4]["meta/inner_grad_norm"][0] == pytest.approx(norm, rel=1e-4)  # logged before clipping
    free = logged[0.0]["meta/support_loss_before"][0] - logged[0.0]["meta/support_loss_after"][0]
    clipped = logged[1e-4]["meta/support_loss_before"][0] - logged[1e-4]["meta/support_loss_after"][0]
    assert free > 1e-4 and abs(clipped) < free * 0.05, (free, clipped)
