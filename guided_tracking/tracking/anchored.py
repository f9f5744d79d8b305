"""Anchored online updating (paper 3.4, Eq. 4).

θ_t = λ f(θ_0; S_t) + (1 − λ) f(θ_{t−1}; S_t), with f = N_τ inner steps of Eq. 1
on the collected samples S_t. The two branches see the same samples, so each is
one plain inner loop; they are then mixed. (Running them as two tasks of one
batched inner loop gives the same θ_t but, on CPU, took ~4x longer: the padded
per-task head and its scatter backward cost more than a second small loop.)
"""
from typing import Callable, Dict

import torch

Params = Dict[str, torch.Tensor]

__all__ = ["anchored_update", "mix_params"]


def mix_params(a: Params, b: Params, weight_a: float) -> Params:
    """weight_a * a + (1 - weight_a) * b, per tensor."""
    return {k: weight_a * a[k] + (1.0 - weight_a) * b[k] for k in a}


def anchored_update(adapt: Callable[[Params], Params], theta0: Params, theta_prev: Params,
                    anchor_weight: float) -> Params:
    """Eq. 4.

    Args:
        adapt: f, ``params -> adapted params`` (N_τ inner steps on S_t).
        theta0: the anchor θ_0 (meta-learned initialisation).
        theta_prev: θ_{t−1}.
        anchor_weight: λ. 0 = plain continual fine-tuning of θ_{t−1}
            ("No Anch. Updating" of Table 1); 1 = always restart from θ_0.
            Only the branches with a non-zero weight are computed.
    """
    if anchor_weight <= 0.0:
        return adapt(theta_prev)
    if anchor_weight >= 1.0:
        return adapt(theta0)
    return mix_params(adapt(theta0), adapt(theta_prev), anchor_weight)
