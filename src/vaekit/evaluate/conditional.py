"""Per-row importance sampling with common random numbers: log-likelihoods and conditionals of observed parts.

Anomaly scores and imputations must depend on a row and the seed alone, never on the other rows of a batch
(scikit-learn checks that a method gives the same answer on a subset as on the whole). So every row's k draws
reuse the same standard-normal noise eps_1..eps_k: z_i = mu(x) + sigma(x) * eps_i. Each row's estimate keeps
its usual distribution; only the errors of different rows become correlated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Distribution

from vaekit.distributions import kl_per_dim, log_prob_observed


@dataclass(frozen=True)
class WeightedDraws:
    """k posterior draws for a batch of B rows, and the log-densities at them, each ``(k, B)``.

    ``log_w = log_px_z + log_pz - log_qz`` are the importance log-weights of p(z | x_obs) against q(z | x);
    ``px`` is p(x | z) at the draws (batch shape ``(k, B)``); ``kl`` is the analytic KL(q || p) ``(B,)`` when
    torch knows it, else ``None``.
    """

    log_px_z: torch.Tensor
    log_pz: torch.Tensor
    log_qz: torch.Tensor
    px: Distribution
    kl: torch.Tensor | None

    @property
    def log_w(self) -> torch.Tensor:
        return self.log_px_z + self.log_pz - self.log_qz


def common_noise(k: int, latent_dim: int, seed: int, *, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """``(k, 1, latent_dim)`` standard-normal draws from ``seed``, shared by every row."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, 1, latent_dim, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)


@torch.no_grad()
def weighted_draws(
    vae: nn.Module, x: torch.Tensor, eps: torch.Tensor, fill: torch.Tensor | None = None
) -> WeightedDraws:
    """Draw z_i = mu + sigma * eps_i from q(z | x) and score p(x_obs | z_i), p(z_i), q(z_i | x).

    ``x`` is ``(B, *x_shape)`` with NaN for missing entries; the encoder sees ``fill`` where ``x`` is missing
    (default 0, the column mean of standardised data). ``eps`` is ``(k, 1, latent_dim)``.
    """
    missing = torch.isnan(x)
    seen = x if fill is None and not missing.any() else torch.where(missing, 0.0 if fill is None else fill, x)
    qz = vae.encode(seen)
    z = qz.mean + qz.stddev * eps
    pz = vae.prior()
    px = vae.decode(z)
    per_dim = kl_per_dim(qz, pz)
    return WeightedDraws(
        log_px_z=log_prob_observed(px, x),
        log_pz=pz.log_prob(z),
        log_qz=qz.log_prob(z),
        px=px,
        kl=None if per_dim is None else per_dim.sum(-1),
    )


def row_chunks(n_rows: int, k: int, max_draws: int = 8192) -> Iterator[slice]:
    """Slices of rows such that rows x draws stays within ``max_draws`` per forward pass."""
    size = max(1, max_draws // max(k, 1))
    for lo in range(0, n_rows, size):
        yield slice(lo, min(lo + size, n_rows))
