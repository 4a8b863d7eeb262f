"""The evaluation report: likelihood in nats and bits per dimension, the ELBO's terms, latent diagnostics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from vaekit.evaluate.diagnostics import active_units
from vaekit.evaluate.likelihood import importance_sample
from vaekit.model.protocol import LatentModel


@dataclass(frozen=True)
class Evaluation:
    """Averages over ``n_examples`` held-out examples, in nats per example unless named otherwise.

    ``nll`` is -log p(x) by importance sampling with ``k`` draws (``nll_sem``: its standard error over
    examples); ``neg_elbo = recon + kl``; ``bits_per_dim = nll / (D ln 2)`` for D data dimensions;
    ``kl_per_dim`` is the mean analytic KL of each latent dimension (all layers, bottom first; ``None`` when the
    prior does not factorise); ``active_units`` counts dimensions with Cov_x(E_q[z|x]) > 0.01, also per layer.
    """

    nll: float
    nll_sem: float
    neg_elbo: float
    recon: float
    kl: float
    bits_per_dim: float
    active_units: int
    active_units_per_layer: list[int]
    latent_dims: list[int]
    kl_per_dim: list[float] | None
    k: int
    n_examples: int
    seed: int | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_model(
    vae: LatentModel,
    x: torch.Tensor,
    *,
    k: int = 5000,
    seed: int | None = 0,
    max_draws: int | None = None,
    y: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Evaluate ``vae`` on examples ``x`` ``(N, *x_shape)`` (moved to the model's device).

    See :func:`~vaekit.evaluate.likelihood.importance_sample` for the estimator and its memory bound. A
    conditional VAE takes the labels ``y (N,)`` and measures log p(x | y). ``progress(done, N)`` follows the
    examples scored.
    """
    device = vae.device
    x = x.to(device)
    t0 = time.perf_counter()
    result = importance_sample(
        vae, x, k=k, max_draws=max_draws, seed=seed, y=None if y is None else y.to(device), progress=progress
    )
    seconds = time.perf_counter() - t0
    n, d = len(x), math.prod(x.shape[1:])
    nll = -result.log_px.double()
    per_layer = [int(active_units(m).sum()) if n > 1 else 0 for m in result.latent_means]
    return Evaluation(
        nll=float(nll.mean()),
        nll_sem=float(nll.std() / math.sqrt(n)) if n > 1 else math.nan,
        neg_elbo=float((result.recon + result.kl).double().mean()),
        recon=float(result.recon.double().mean()),
        kl=float(result.kl.double().mean()),
        bits_per_dim=float(nll.mean()) / (d * math.log(2)),
        active_units=sum(per_layer),
        active_units_per_layer=per_layer,
        latent_dims=[m.shape[-1] for m in result.latent_means],
        kl_per_dim=None if result.kl_per_dim is None else result.kl_per_dim.double().mean(0).tolist(),
        k=k,
        n_examples=n,
        seed=seed,
        seconds=seconds,
    )
