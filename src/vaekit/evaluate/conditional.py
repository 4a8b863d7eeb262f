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
from torch.distributions import Distribution

from vaekit.distributions import log_prob_observed
from vaekit.evaluate.likelihood import chunks, pass_sizes
from vaekit.model.protocol import LatentModel


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
    vae: LatentModel, x: torch.Tensor, eps: torch.Tensor, fill: torch.Tensor | None = None
) -> WeightedDraws:
    """Draw z_i = mu + sigma * eps_i from q(z | x) and score p(x_obs | z_i), p(z_i), q(z_i | x).

    One call of the model's forward pass with fixed noise (``vae(x, eps=eps)``). ``x`` is ``(B, *x_shape)``
    with NaN for missing entries; the encoder sees ``fill`` where ``x`` is missing (default 0, the column mean
    of standardised data). ``eps`` is ``(k, 1, sum(latent_dims))`` (``(k, 1, latent_dim)`` for a one-layer
    model), e.g. from :func:`common_noise`. ``kl`` is the analytic KL averaged over the k draws (one value per
    row for a one-layer model).
    """
    missing = torch.isnan(x)
    seen = x if fill is None and not missing.any() else torch.where(missing, 0.0 if fill is None else fill, x)
    draw = vae(seen, eps=eps)
    return WeightedDraws(
        log_px_z=log_prob_observed(draw.px, x),
        log_pz=draw.log_pz,
        log_qz=draw.log_qz,
        px=draw.px,
        kl=None if draw.kl_per_dim is None else draw.kl.mean(0),
    )


def row_chunks(n_rows: int, k: int, max_draws: int = 8192) -> Iterator[slice]:
    """Slices of rows such that rows x draws stays within ``max_draws`` per forward pass.

    The older spelling of ``chunks(n_rows, pass_sizes(k, max_draws)[0])`` (:mod:`vaekit.evaluate.likelihood`).
    """
    return chunks(n_rows, pass_sizes(k, max_draws)[0])
