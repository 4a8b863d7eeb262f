"""Importance-sampled log-likelihood, batched over examples and draws in memory-bounded chunks."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportanceSample:
    """Per-example results of k posterior draws, each of shape ``(N,)`` unless noted.

    - ``log_px``: log (1/k) sum_i p(x, z_i) / q(z_i|x), the importance-sampled estimate of log p(x)
      (the IWAE bound L_k: a lower bound in expectation that rises to log p(x) as k grows);
    - ``recon``: the mean of -log p(x|z_i) over the k draws; ``kl``: the mean KL term over the draws
      (analytic where torch knows it), so ``recon + kl`` is the negative ELBO with k-sample Monte Carlo error;
    - ``kl_per_dim``: ``(N, total latent dims)`` mean analytic KL per latent dimension, or ``None``;
    - ``latent_means``: per stochastic layer, ``(N, d_l)`` estimates of E_q[z_l | x].
    """

    log_px: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor | None
    latent_means: tuple[torch.Tensor, ...]
    k: int


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


@torch.no_grad()
def importance_sample(
    vae: nn.Module,
    x: torch.Tensor,
    *,
    k: int = 5000,
    max_draws: int = 8192,
    seed: int | None = 0,
    y: torch.Tensor | None = None,
) -> ImportanceSample:
    """Draw ``k`` z ~ q(z|x) per example and return the estimates of :class:`ImportanceSample`.

    log p(x) ~= logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k   (Burda et al. 2016,
    arXiv:1509.00519). At most ``max_draws`` (example, draw) pairs go through the decoder at once: ``B``
    examples by ``s`` draws with ``B * s <= max_draws``; partial sums are merged with a running logsumexp, so
    memory does not grow with k. ``x`` is ``(N, *x_shape)`` on the model's device; ``seed`` makes it repeatable
    (the global RNG is left as it was). ``y (N,)``: labels for a conditional VAE (then it is log p(x | y)).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    device = x.device
    per_batch = max(1, max_draws // min(k, max_draws))  # examples per forward pass
    per_pass = max(1, max_draws // per_batch)  # draws per forward pass
    # Results go straight into tensors allocated once: small per-chunk tensors kept alive between the large
    # per-pass buffers fragment the heap, and RSS then grew by megabytes per example (measured: 23 GB, killed).
    out: dict[str, torch.Tensor] = {}
    out_means: list[torch.Tensor] = []
    was_training = vae.training
    vae.eval()
    t0, next_report = time.perf_counter(), len(x) / 10
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if seed is not None:
            torch.manual_seed(seed)
        for lo, hi in _chunks(len(x), per_batch):
            xb = x[lo:hi]
            lse = recon = kl = torch.zeros((), dtype=x.dtype, device=device)
            lse = lse - math.inf  # the log of an empty sum; partial sums are merged into it
            kl_dims: torch.Tensor | None = None
            mean_sums: list[torch.Tensor] | None = None
            for s_lo, s_hi in _chunks(k, per_pass):
                draw = vae(xb, s_hi - s_lo) if y is None else vae(xb, s_hi - s_lo, y=y[lo:hi])
                log_px_z = draw.px.log_prob(xb)  # (s, B)
                log_w = log_px_z + draw.log_pz - draw.log_qz
                lse = torch.logaddexp(lse, torch.logsumexp(log_w, 0))
                recon = recon - log_px_z.sum(0)
                kl = kl + draw.kl.sum(0)
                if draw.kl_per_dim is not None:
                    kl_dims = draw.kl_per_dim.sum(0) + (0 if kl_dims is None else kl_dims)
                sums = [m.sum(0) for m in draw.latent_means]
                mean_sums = sums if mean_sums is None else [a + b for a, b in zip(mean_sums, sums, strict=True)]
                del draw, log_px_z, log_w
            if not out:
                n = len(x)
                out = {name: lse.new_empty(n) for name in ("log_px", "recon", "kl")}
                if kl_dims is not None:
                    out["kl_per_dim"] = lse.new_empty(n, kl_dims.shape[-1])
                out_means = [lse.new_empty(n, m.shape[-1]) for m in mean_sums]
            out["log_px"][lo:hi] = lse - math.log(k)
            out["recon"][lo:hi] = recon / k
            out["kl"][lo:hi] = kl / k
            if kl_dims is not None:
                out["kl_per_dim"][lo:hi] = kl_dims / k
            for dst, m in zip(out_means, mean_sums, strict=True):
                dst[lo:hi] = m / k
            if hi >= next_report and hi < len(x):
                log.info("  %d of %d examples (%.0f s)", hi, len(x), time.perf_counter() - t0)
                next_report += len(x) / 10
    vae.train(was_training)
    return ImportanceSample(
        log_px=out["log_px"],
        recon=out["recon"],
        kl=out["kl"],
        kl_per_dim=out.get("kl_per_dim"),
        latent_means=tuple(out_means),
        k=k,
    )
