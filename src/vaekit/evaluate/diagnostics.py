"""How a model uses its latent space: active units."""

from __future__ import annotations

import torch


def active_units(latent_means: torch.Tensor, threshold: float = 1e-2) -> torch.Tensor:
    """Which latent dimensions are active: A_u = Cov_x(E_q[u | x]) > ``threshold``.

    Burda et al. 2016, arXiv:1509.00519, section 5.2: a unit whose posterior mean does not move with the
    input carries no information about it. ``latent_means`` is ``(N, d)``; returns a bool mask ``(d,)``.
    """
    if len(latent_means) < 2:
        raise ValueError("active units need at least 2 examples")
    return latent_means.var(dim=0) > threshold
