"""KL(q(z|x) || p(z)): analytic where torch.distributions knows it, Monte Carlo otherwise."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, kl_divergence


def kl_per_dim(qz: Distribution, pz: Distribution) -> torch.Tensor | None:
    """Analytic KL per latent dimension, shape ``(*batch, latent_dim)``, or ``None`` when not factorised.

    Both must be ``Independent`` over one event dimension with a registered base-distribution KL
    (e.g. Normal vs Normal: KL = log(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2).
    """
    if not (isinstance(qz, Independent) and isinstance(pz, Independent)):
        return None
    try:
        return kl_divergence(qz.base_dist, pz.base_dist)
    except NotImplementedError:
        return None


def kl_terms(qz: Distribution, pz: Distribution, z: torch.Tensor) -> torch.Tensor:
    """KL(q || p) per example, shape ``(*batch,)``.

    Analytic when available; otherwise the single-draw estimate log q(z) - log p(z) at the given
    reparameterised ``z`` (unbiased, and differentiable through ``z``).
    """
    per_dim = kl_per_dim(qz, pz)
    if per_dim is not None:
        return per_dim.sum(-1)
    return qz.log_prob(z) - pz.log_prob(z)
