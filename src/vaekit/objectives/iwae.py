"""The importance-weighted bound (IWAE), as a loss."""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.objectives.loss import Loss


def iwae(vae: nn.Module, x: torch.Tensor, *, n_samples: int = 50, y: torch.Tensor | None = None) -> Loss:
    """Negative importance-weighted bound with ``k = n_samples`` draws, averaged over the batch.

    L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],  z_i ~ q(z|x) independently  (Burda et al. 2016,
    arXiv:1509.00519). L_1 is the ELBO; L_k rises towards log p(x) as k grows. Gradients flow through the
    reparameterised draws. Logged terms, per example: ``loss = -L_k`` and, for comparison with the ELBO,
    ``recon`` (mean of -log p(x|z_i)) and ``kl`` (mean over the k draws). Shapes: ``x`` is ``(batch, *x_shape)``.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    draw = vae(x, n_samples) if y is None else vae(x, n_samples, y=y)
    log_px = draw.px.log_prob(x)  # (k, batch)
    log_w = log_px + draw.log_pz - draw.log_qz
    bound = torch.logsumexp(log_w, 0) - math.log(n_samples)
    terms = {"loss": -bound, "recon": -log_px.mean(0), "kl": draw.kl.mean(0)}
    return Loss(loss=-bound.mean(), terms=terms)
