"""Anchored online updating (paper 3.4, Eq. 4).

θ_t = λ f(θ_0; S_t) + (1 − λ) f(θ_{t−1}; S_t), with f = N_τ inner steps of Eq. 1
on the collected samples S_t. Both branches are adapted in ONE batched inner
loop (two tasks sharing the same samples), then mixed.
"""
from typing import Callable, Dict

import torch

Params = Dict[str, torch.Tensor]

__all__ = ["anchored_update", "mix_params"]


def mix_params(a: Params, b: Params, weight_a: float) -> Params:
    """weight_a * a + (1 - weight_a) * b, per tensor."""
    return {k: weight_a * a[k] + (1.0 - weight_a) * b[k] for k in a}


def anchored_update(adapt_batched: Callable[[Params, int], Params], theta0: Params, theta_prev: Params,
                    anchor_weight: float) -> Params:
    """Eq. 4.

    Args:
        adapt_batched: ``(batched params, num_tasks) -> adapted batched params``,
            running f on the same samples for every task.
        theta0: the anchor θ_0 (meta-learned initialisation).
        theta_prev: θ_{t−1}.
        anchor_weight: λ. 0 = plain continual fine-tuning of θ_{t−1}
            ("No Anch. Updating" of Table 1); 1 = always restart from θ_0.
    """
    if anchor_weight <= 0.0:
        adapted = adapt_batched({k: v[None] for k, v in theta_prev.items()}, 1)
        return {k: v[0] for k, v in adapted.items()}
    if anchor_weight >= 1.0:
        adapted = adapt_batched({k: v[None] for k, v in theta0.items()}, 1)
        return {k: v[0] for k, v in adapted.items()}
    stacked = {k: torch.stack([theta0[k], theta_prev[k]]) for k in theta0}
    adapted = adapt_batched(stacked, 2)
    return mix_params({k: v[0] for k, v in adapted.items()}, {k: v[1] for k, v in adapted.items()}, anchor_weight)
