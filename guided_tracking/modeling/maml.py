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
        new_params = {}
        for name, grad in zip(names, grads):
            p = params[name]
            if grad is None:
                new_params[name] = p
                continue
            if first_order or not differentiable:
                grad = grad.detach()
            if grad_scale is not None:
                grad = grad * grad_scale.view(-1, *([1] * (grad.dim() - 1)))
            alpha = step_size[name] if isinstance(step_size, dict) else step_size
            new_params[name] = p - alpha * grad
        params = new_params
    if not differentiable:
        params = {n: p.detach() for n, p in params.items()}
    return params, losses


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
