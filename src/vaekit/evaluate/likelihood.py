"""Importance-sampled log-likelihood, batched over examples and draws in memory-bounded chunks."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from vaekit.model.protocol import LatentModel
from vaekit.utils import eval_mode

log = logging.getLogger(__name__)

# (example, draw) pairs per decoder pass on a CPU. With larger passes each intermediate (draws x pixels) is
# tens of MB, which glibc's allocator hands back to the system when freed and page-faults in again on the next
# pass: `vaekit evaluate --k 5000` with a 512-512 MLP decoder on binarized MNIST took 61-66 ms per image with
# 1024 against 79 ms with 8192, each in a fresh process, with the same draws and estimate (benchmarks/
# eval_speed.py; docs/performance.md).
MAX_DRAWS = 1024
# On a GPU a pass of 1024 leaves most of the device idle; this is a first guess, not yet measured here
# (benchmarks/gpu_speed.py sweeps it), bounded by memory: about 65536 x 784 floats per decoder output.
MAX_DRAWS_ACCELERATOR = 65536


def default_max_draws(device: torch.device) -> int:
    """(example, draw) pairs per decoder pass where the caller gives none: :data:`MAX_DRAWS` on a CPU,
    :data:`MAX_DRAWS_ACCELERATOR` elsewhere."""
    return MAX_DRAWS if device.type == "cpu" else MAX_DRAWS_ACCELERATOR


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


def chunks(n: int, size: int) -> Iterator[slice]:
    """``slice(0, size), slice(size, 2 size), ...`` covering ``range(n)``; the last may be shorter."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def pass_sizes(k: int, max_draws: int = MAX_DRAWS) -> tuple[int, int]:
    """``(examples, draws)`` per forward pass for ``k`` draws per example, with examples x draws <= max_draws.

    Examples per pass B = max(1, max_draws // k); draws per pass s = max(1, max_draws // B) (all k when k fits,
    else the draws of one example in chunks of ``max_draws``).
    """
    per_batch = max(1, max_draws // max(k, 1))
    return per_batch, max(1, max_draws // per_batch)


@torch.no_grad()
def importance_sample(
    vae: LatentModel,
    x: torch.Tensor,
    *,
    k: int = 5000,
    max_draws: int | None = None,
    seed: int | None = 0,
    y: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportanceSample:
    """Draw ``k`` z ~ q(z|x) per example and return the estimates of :class:`ImportanceSample`.

    log p(x) ~= logsumexp_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)] - log k   (Burda et al. 2016,
    arXiv:1509.00519). At most ``max_draws`` (example, draw) pairs go through the decoder at once (default:
    :func:`default_max_draws` for ``x``'s device): ``B``
    examples by ``s`` draws with ``B * s <= max_draws``; partial sums are merged with a running logsumexp, so
    memory does not grow with k (:func:`pass_sizes`). ``x`` is ``(N, *x_shape)`` on the model's device; ``seed``
    makes it repeatable (the global RNG is left as it was; the model's train/eval mode too, even on error).
    ``y (N,)``: labels for a conditional VAE (then it is log p(x | y)). ``progress(done, N)`` is called after
    each batch of examples.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    device = x.device
    per_batch, per_pass = pass_sizes(k, default_max_draws(device) if max_draws is None else max_draws)
    # Results go straight into tensors allocated once: small per-chunk tensors kept alive between the large
    # per-pass buffers fragment the heap, and RSS then grew by megabytes per example (measured: 23 GB, killed).
    out: dict[str, torch.Tensor] = {}
    out_means: list[torch.Tensor] = []
    t0, next_report = time.perf_counter(), len(x) / 10
    with eval_mode(vae), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if seed is not None:
            torch.manual_seed(seed)
        # p(z) once, not once per pass: a VampPrior encodes its K pseudo-inputs to build it
        pz = vae.prior()
        for rows in chunks(len(x), per_batch):
            xb, yb = x[rows], None if y is None else y[rows]
            lse = recon = kl = torch.zeros((), dtype=x.dtype, device=device)
            lse = lse - math.inf  # the log of an empty sum; partial sums are merged into it
            kl_dims: torch.Tensor | None = None
            mean_sums: list[torch.Tensor] | None = None
            for draws in chunks(k, per_pass):
                draw = vae(xb, draws.stop - draws.start, y=yb, pz=pz)
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
            out["log_px"][rows] = lse - math.log(k)
            out["recon"][rows] = recon / k
            out["kl"][rows] = kl / k
            if kl_dims is not None:
                out["kl_per_dim"][rows] = kl_dims / k
            for dst, m in zip(out_means, mean_sums, strict=True):
                dst[rows] = m / k
            if progress is not None:
                progress(rows.stop, len(x))
            if rows.stop >= next_report and rows.stop < len(x):
                log.info("  %d of %d examples (%.0f s)", rows.stop, len(x), time.perf_counter() - t0)
                next_report += len(x) / 10
    return ImportanceSample(
        log_px=out["log_px"],
        recon=out["recon"],
        kl=out["kl"],
        kl_per_dim=out.get("kl_per_dim"),
        latent_means=tuple(out_means),
        k=k,
    )
