"""KL(q(z|x) || p(z)): analytic where torch.distributions knows it, Monte Carlo otherwise."""

from __future__ import annotations

import torch
from torch.distributions import Distribution

from vaekit.distributions import kl_per_dim

__all__ = ["kl_per_dim", "kl_terms"]


def kl_terms(qz: Distribution, pz: Distribution, z: torch.Tensor) -> torch.Tensor:
    """KL(q || p) per example, shape ``(*batch,)``.

    Analytic when available; otherwise the single-draw estimate log q(z) - log p(z) at the given
    reparameterised ``z`` (unbiased, and differentiable through ``z``).
    """
    per_dim = kl_per_dim(qz, pz)
    if per_dim is not None:
        return per_dim.sum(-1)
    return qz.log_prob(z) - pz.log_prob(z)
