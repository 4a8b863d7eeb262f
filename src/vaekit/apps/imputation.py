"""Missing data: fill in what is missing with a VAE, for tables (MIWAE) and images (inpainting).

A model built with ``missing=True`` (or a ``mixed`` likelihood) trains directly on incomplete rows: the
encoder sees missing entries as 0 and the likelihood counts observed entries only, so the IWAE objective is
the MIWAE bound (Mattei & Frellsen 2019, arXiv:1812.02633). Given a row with observed part x_o, draws
z_1..z_k ~ q(z | x) carry self-normalised weights w_i ∝ p(x_o | z_i) p(z_i) / q(z_i | x), and

    E[x_m | x_o] ~= sum_i w_i E[x_m | z_i]          (:func:`impute`)

while resampling z_i by w_i and drawing x_m ~ p(x_m | z_i) gives multiple imputations
(:func:`sample_imputations`). A categorical column takes the level of highest weighted probability.
Any trained VAE can inpaint images this way (:func:`inpaint`), with a few rounds of re-encoding its own
completion to sharpen the proposal q.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Distribution

from vaekit.distributions import MixedColumns
from vaekit.errors import DataError, OptionError
from vaekit.evaluate.conditional import common_noise, row_chunks, weighted_draws
from vaekit.model import VAE

MASKS = ("half", "random")


def check_rows_observed(x: torch.Tensor, what: str = "the data") -> None:
    """Every row needs at least one observed (non-NaN) entry, and nothing may be infinite."""
    if torch.isinf(x).any():
        raise DataError(f"{what} contains inf", "leave a missing value empty (NaN), never infinite")
    empty = torch.isnan(x).flatten(1).all(1)
    if empty.any():
        row = int(empty.nonzero()[0])
        raise DataError(f"row {row} of {what} has no observed value", "drop rows where everything is missing")


def conditional_mean(px: Distribution, w: torch.Tensor) -> torch.Tensor:
    """sum_i w_i E[x | z_i] for ``px`` with batch shape ``(k, B)`` and weights ``w`` ``(k, B)`` summing to 1.

    For a :class:`~vaekit.distributions.MixedColumns`, a categorical column gets the level that maximises
    sum_i w_i P(level | z_i), the conditional mode.
    """
    if isinstance(px, MixedColumns):
        wn = w.unsqueeze(-1)
        numeric = (wn * px.loc).sum(0) if px.numeric else None
        levels = [(wn * p).sum(0).argmax(-1) for p in px.probs_per_column()]
        out = torch.empty(w.shape[1:] + px.event_shape, dtype=w.dtype, device=w.device)
        if numeric is not None:
            out[..., px.numeric] = numeric
        for j, level in zip(px.categorical, levels, strict=True):
            out[..., j] = level.to(out.dtype)
        return out
    mean = px.mean
    return (w.view(*w.shape, *[1] * (mean.dim() - w.dim())) * mean).sum(0)


@torch.no_grad()
def impute(
    vae: VAE,
    x: torch.Tensor,
    *,
    k: int = 1000,
    seed: int = 0,
    fill: torch.Tensor | None = None,
    max_draws: int = 8192,
) -> torch.Tensor:
    """``x`` with every NaN replaced by its conditional mean E[x_m | x_o] (see the module docstring).

    ``x`` is ``(N, *x_shape)``; ``fill`` (same shape) is what the encoder sees at missing entries (default 0).
    A row's result depends on the row and ``seed`` only.
    """
    check_rows_observed(x)
    was_training = vae.training
    vae.eval()
    out = x.clone()
    eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
    for rows in row_chunks(len(x), k, max_draws):
        xb = x[rows]
        missing = torch.isnan(xb)
        if not missing.any():
            continue
        d = weighted_draws(vae, xb, eps, None if fill is None else fill[rows])
        out[rows] = torch.where(missing, conditional_mean(d.px, torch.softmax(d.log_w, 0)), xb)
    vae.train(was_training)
    return out


@torch.no_grad()
def sample_imputations(
    vae: VAE,
    x: torch.Tensor,
    n: int,
    *,
    k: int = 1000,
    seed: int = 0,
    fill: torch.Tensor | None = None,
    max_draws: int = 8192,
) -> torch.Tensor:
    """``n`` completions of each row, ``(n, N, *x_shape)``, by sampling importance resampling.

    For each row: draw z_1..z_k ~ q(z|x), pick n of them with probability w_i, and draw x_m ~ p(x_m | z) at each
    pick; observed entries are kept. As k grows these are draws from p(x_m | x_o). ``fill`` is as in
    :func:`impute`.
    """
    if n < 1:
        raise OptionError(f"cannot draw {n} imputations", "ask for at least 1")
    check_rows_observed(x)
    was_training = vae.training
    vae.eval()
    out = x.unsqueeze(0).repeat(n, *[1] * x.dim())
    eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed + 1)
        for rows in row_chunks(len(x), k, max_draws):
            xb = x[rows]
            d = weighted_draws(vae, xb, eps, None if fill is None else fill[rows])
            picks = torch.multinomial(torch.softmax(d.log_w, 0).T, n, replacement=True)  # (B, n)
            draws = d.px.sample().to(x.dtype)  # (k, B, *x_shape)
            batch = torch.arange(len(xb), device=x.device)
            chosen = draws[picks.T, batch]  # (n, B, *x_shape)
            out[:, rows] = torch.where(torch.isnan(xb), chosen, xb)
    vae.train(was_training)
    return out


def mask_images(x: torch.Tensor, mask: str, *, seed: int = 0) -> torch.Tensor:
    """Images ``(N, C, H, W)`` with pixels removed (NaN): ``"half"`` the bottom half, ``"random"`` half the pixels
    chosen at random per image."""
    if mask not in MASKS:
        raise OptionError(f"unknown mask {mask!r}", f"choose one of {', '.join(MASKS)}")
    if x.dim() != 4:
        raise DataError(f"inpainting needs images (N, C, H, W), got shape {tuple(x.shape)}", "use an image data set")
    out = x.clone()
    if mask == "half":
        out[..., x.shape[-2] // 2 :, :] = float("nan")
    else:
        g = torch.Generator().manual_seed(seed)
        hidden = torch.rand(x.shape[0], 1, *x.shape[2:], generator=g) < 0.5
        out[hidden.expand_as(x)] = float("nan")
    return out


@torch.no_grad()
def inpaint(vae: VAE, x: torch.Tensor, *, k: int = 1000, seed: int = 0, rounds: int = 3) -> torch.Tensor:
    """Complete images whose missing pixels are NaN with E[x_m | x_o] under any trained ``vae``.

    The encoder never saw holes, so its proposal improves if it sees a completion instead: start from the
    decoded prior mean, re-encode the current completion ``rounds`` times (each time keeping the observed
    pixels), then importance-sample the conditional mean with that completion as the encoder's input.
    """
    check_rows_observed(x)
    vae.eval()
    missing = torch.isnan(x)
    fill = vae.decode(torch.zeros(1, vae.latent_dim, dtype=x.dtype, device=x.device)).mean.expand_as(x)
    for _ in range(rounds):
        fill = vae.reconstruct(torch.where(missing, fill, x))
    return impute(vae, x, k=k, seed=seed, fill=fill)


def remove_at_random(x: np.ndarray, fraction: float, *, seed: int = 0) -> np.ndarray:
    """A copy of table ``x`` ``(N, D)`` with ``fraction`` of its observed entries set to NaN, completely at random
    (seeded); a row that would lose every value keeps one. For measuring imputation on your own data."""
    if not 0.0 < fraction < 1.0:
        raise OptionError(f"the share of cells to remove must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    observed = ~np.isnan(x)
    remove = observed & (rng.random(x.shape) < fraction)
    for i in np.flatnonzero((observed & ~remove).sum(1) == 0):
        remove[i, rng.choice(np.flatnonzero(observed[i]))] = False
    out = x.copy()
    out[remove] = np.nan
    return out
