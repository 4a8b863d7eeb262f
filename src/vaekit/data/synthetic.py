"""Synthetic data with known structure, for tests and examples."""

from __future__ import annotations

import torch


def linear_gaussian(
    n: int, x_dim: int, latent_dim: int, *, noise: float = 0.5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Draw ``x = W z + b + noise * eps`` with ``z ~ N(0, I)``: a model whose log p(x) is exact.

    Returns ``(x, W, b, noise)``; marginally ``x ~ N(b, W W^T + noise^2 I)``. Shapes: x ``(n, x_dim)``,
    W ``(x_dim, latent_dim)``, b ``(x_dim,)``.
    """
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(x_dim, latent_dim, generator=g)
    b = torch.randn(x_dim, generator=g)
    z = torch.randn(n, latent_dim, generator=g)
    x = z @ w.T + b + noise * torch.randn(n, x_dim, generator=g)
    return x, w, b, noise
