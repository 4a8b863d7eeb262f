"""The evidence lower bound, as a loss."""

from __future__ import annotations

import torch
from torch import nn

from vaekit.objectives.loss import Loss


def elbo(
    vae: nn.Module, x: torch.Tensor, *, beta: float = 1.0, free_bits: float = 0.0, y: torch.Tensor | None = None
) -> Loss:
    """Negative ELBO with weight ``beta`` on the KL, averaged over the batch (nats per example).

    loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z))   (Kingma & Welling 2014, arXiv:1312.6114;
    beta-VAE: Higgins et al. 2017). One reparameterised draw of z per example; the KL is analytic where
    torch knows the pair of distributions (per layer for a hierarchical model), otherwise a one-draw estimate.

    Free bits (Kingma et al. 2016, arXiv:1606.04934): with ``free_bits = lambda > 0`` the KL that is
    optimised is sum_j max(lambda, mean_batch KL_j), so no latent dimension is pushed below lambda nats;
    for a prior that does not factorise, the clamp applies to the total KL. The logged ``kl`` term is always
    the true KL. Shapes: ``x`` is ``(batch, *x_shape)``; terms are ``(batch,)``; ``y`` ``(batch,)`` labels for a
    conditional VAE.
    """
    draw = vae(x) if y is None else vae(x, y=y)
    recon = -draw.px.log_prob(x)
    kl = draw.kl
    if free_bits > 0:
        if draw.kl_per_dim is not None:
            kl_opt = draw.kl_per_dim.mean(0).clamp(min=free_bits).sum()
        else:
            kl_opt = kl.mean().clamp(min=free_bits * draw.z.shape[-1])
    else:
        kl_opt = kl.mean()
    loss = recon.mean() + beta * kl_opt
    return Loss(loss=loss, terms={"loss": recon + beta * kl, "recon": recon, "kl": kl})
