"""Priors: p(z)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I) over ``latent_dim`` dimensions. Buffers keep it on the model's device."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale), 1)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``z ~ N(0, T^2 I)``, shape ``(n, latent_dim)``; T < 1 trades variety for typicality."""
        eps = torch.randn(n, self.latent_dim, generator=generator, device=self.loc.device)
        return self.loc + temperature * self.scale * eps
