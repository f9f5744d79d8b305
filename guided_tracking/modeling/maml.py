"""The MAML inner loop (paper 3.3, Eq. 1) as plain functions.

Parameters are dicts ``name -> tensor``. A *batched* dict holds one copy per task
along dim 0 (``(T, *shape)``), so T triplets adapt in one autograd call: each
task's loss depends only on its own slice, hence the gradient of the summed loss
w.r.t. slice b is task b's own gradient -- no Python loop over triplets.
"""
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

__all__ = ["batch_params", "inner_loop", "MetaStepSizes"]

Params = Dict[str, torch.Tensor]


def batch_params(params: Params, num_tasks: int) -> Params:
    """One (view) copy of every tensor per task; gradients flow back to ``params``."""
    return {name: p.unsqueeze(0).expand(num_tasks, *p.shape) for name, p in params.items()}


def inner_loop(
    loss_fn: Callable[[Params], torch.Tensor],
    params: Params,
    steps: int,
    step_size: Union[float, Params],
    first_order: bool = False,
    grad_scale: Optional[torch.Tensor] = None,
    differentiable: bool = True,
    max_grad_norm: float = 0.0,
    batched: bool = False,
    grad_norms: Optional[List[torch.Tensor]] = None,
) -> Tuple[Params, List[torch.Tensor]]:
    """Run ``steps`` updates θ_i = θ_{i-1} - α ∇L(θ_{i-1}) (Eq. 1).

    Args:
        loss_fn: maps a parameter dict to a scalar loss.
        params: θ_0 (plain or batched).
        step_size: α, a float or a dict of tensors broadcastable to each
            parameter (learned per-parameter steps, Meta-SGD).
        first_order: treat ∇L as a constant (first-order MAML); θ_N still depends
            on θ_0 through the identity term.
        grad_scale: optional (T,) factor per task, multiplied into the gradient
            of batched params (turns a loss averaged over all tasks' samples into
            per-task means).
        differentiable: False detaches every step (online tracking: no outer loop).
        max_grad_norm: > 0 scales each task's gradient (all its parameters
            together) down to at most this L2 norm before the step, so one step
            moves θ by at most α x max_grad_norm. Without it, a support batch
            with a huge gradient can throw θ far off (support loss 3.6 -> 15.7
            after one step at α 0.05, query loss ~300) and the outer loop then
            "fixes" the query loss by killing the head's features for good.
        batched: ``params`` carry one copy per task along dim 0 (norms per task).
        grad_norms: if given, each step appends its gradient norm(s) before
            clipping ((T,) when batched, else a scalar), detached.

    Returns:
        (θ_N, [L(θ_0), ..., L(θ_{N-1})]) with the losses detached.
    """
    losses = []
    names = list(params.keys())
    for _ in range(steps):
        with torch.enable_grad():
            if not differentiable:
                params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
            loss = loss_fn(params)
            grads = torch.autograd.grad(
                loss,
                [params[n] for n in names],
                create_graph=differentiable and not first_order,
                allow_unused=True,
            )
        losses.append(loss.detach())
        steps_by_name = {}
        for name, grad in zip(names, grads):
            if grad is None:
                continue
            if first_order or not differentiable:
                grad = grad.detach()
            if grad_scale is not None:
                grad = grad * grad_scale.view(-1, *([1] * (grad.dim() - 1)))
            steps_by_name[name] = grad
        if steps_by_name and (max_grad_norm > 0 or grad_norms is not None):
            norm = _grad_norm(list(steps_by_name.values()), batched)
            if grad_norms is not None:
                grad_norms.append(norm.detach())
            if max_grad_norm > 0:
                # A constant factor (as torch.nn.utils.clip_grad_norm_): the outer
                # loop does not differentiate through the clipping.
                factor = (max_grad_norm / (norm.detach() + 1e-6)).clamp(max=1.0)
                steps_by_name = {n: g * (factor.view(-1, *([1] * (g.dim() - 1))) if batched else factor)
                                 for n, g in steps_by_name.items()}
        new_params = {}
        for name in names:
            p = params[name]
            if name not in steps_by_name:
                new_params[name] = p
                continue
            alpha = step_size[name] if isinstance(step_size, dict) else step_size
            new_params[name] = p - alpha * steps_by_name[name]
        params = new_params
    if not differentiable:
        params = {n: p.detach() for n, p in params.items()}
    return params, losses


def _grad_norm(grads: List[torch.Tensor], batched: bool) -> torch.Tensor:
    """L2 norm over all tensors of ``grads``: per task (T,) when ``batched``."""
    if batched:
        return torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    return torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt()


class MetaStepSizes(nn.Module):
    """Learned per-element step sizes α (Meta-SGD, Li et al. 2017), init at α."""

    def __init__(self, shapes: Dict[str, torch.Size], init: float):
        super().__init__()
        # ParameterDict keys cannot contain dots.
        self.alphas = nn.ParameterDict(
            {name.replace(".", "__"): nn.Parameter(torch.full(tuple(shape), float(init))) for name, shape in shapes.items()}
        )

    def as_dict(self) -> Params:
        return {key.replace("__", "."): value for key, value in self.alphas.items()}
