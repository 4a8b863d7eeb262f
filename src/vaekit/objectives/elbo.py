"""The evidence lower bound, as a loss."""

from __future__ import annotations

import torch

from vaekit.model.vae import VAE
from vaekit.objectives.kl import kl_per_dim, kl_terms
from vaekit.objectives.loss import Loss


def elbo(vae: VAE, x: torch.Tensor, *, beta: float = 1.0, free_bits: float = 0.0) -> Loss:
    """Negative ELBO with weight ``beta`` on the KL, averaged over the batch (nats per example).

    loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z))   (Kingma & Welling 2014, arXiv:1312.6114;
    beta-VAE: Higgins et al. 2017). One reparameterised draw of z per example.

    Free bits (Kingma et al. 2016, arXiv:1606.04934): with ``free_bits = lambda > 0`` the KL that is
    optimised is sum_j max(lambda, mean_batch KL_j), so no latent dimension is pushed below lambda nats;
    for a prior that does not factorise, the clamp applies to the total KL. The logged ``kl`` term is always
    the true KL. Shapes: ``x`` is ``(batch, *x_shape)``; terms are ``(batch,)``.
    """
    qz, z, px = vae(x)
    pz = vae.prior()
    recon = -px.log_prob(x)
    kl = kl_terms(qz, pz, z)
    if free_bits > 0:
        per_dim = kl_per_dim(qz, pz)
        if per_dim is not None:
            kl_opt = per_dim.mean(0).clamp(min=free_bits).sum()
        else:
            kl_opt = kl.mean().clamp(min=free_bits * vae.latent_dim)
    else:
        kl_opt = kl.mean()
    loss = recon.mean() + beta * kl_opt
    return Loss(loss=loss, terms={"loss": recon + beta * kl, "recon": recon, "kl": kl})
