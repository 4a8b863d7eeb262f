"""The β-TC-VAE objective: the ELBO's KL split into mutual information, total correlation and dimension-wise KL."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaekit.objectives.loss import Loss


def kl_decomposition(z: torch.Tensor, qz: Independent, pz, dataset_size: int) -> dict[str, torch.Tensor]:
    """Per-example terms of E_q[log q(z|n) - log p(z)] = MI + TC + dimension-wise KL, by minibatch-weighted sampling.

    Chen et al. 2018, arXiv:1802.04942, eq. (2) and section 3.2. For a batch of M draws z_i ~ q(z|n_i) from a
    data set of N examples, the aggregate posterior q(z) = 1/N sum_n q(z|n) is estimated as

        log q(z_i)     ~= logsumexp_j log q(z_i | n_j) - log(N M)
        log q(z_{i,d}) ~= logsumexp_j log q(z_{i,d} | n_j) - log(N M)      (each latent dimension d)

    (the normaliser of the paper and its code; against the plug-in log M it shifts the logged terms by constants,
    +log N, +(d - 1) log N and -d log N, which cancel in their sum and leave every gradient unchanged),
    and the terms are ``mi = log q(z_i|n_i) - log q(z_i)``, ``tc = log q(z_i) - sum_d log q(z_{i,d})``,
    ``dwkl = sum_d log q(z_{i,d}) - log p(z_i)``. They telescope: ``mi + tc + dwkl = log q(z_i|n_i) - log p(z_i)``
    exactly, the one-draw estimate of KL(q(z|n_i) || p(z)). ``z`` is ``(M, d)``; ``qz`` a diagonal Gaussian with
    batch shape ``(M,)``; ``pz`` a distribution over ``(d,)`` (a factorised prior is scored per dimension).
    """
    base: Normal = qz.base_dist
    m = z.shape[0]
    # log q(z_{i,d} | n_j) for every pair: (M draws, M examples, d)
    log_q_pairs = Normal(base.loc.unsqueeze(0), base.scale.unsqueeze(0)).log_prob(z.unsqueeze(1))
    log_norm = math.log(dataset_size * m)
    log_qz_x = log_q_pairs.diagonal(dim1=0, dim2=1).sum(0)  # log q(z_i | n_i), (M,)
    log_qz = torch.logsumexp(log_q_pairs.sum(-1), dim=1) - log_norm
    log_prod_qzd = (torch.logsumexp(log_q_pairs, dim=1) - log_norm).sum(-1)
    log_pz = pz.log_prob(z)
    return {"mi": log_qz_x - log_qz, "tc": log_qz - log_prod_qzd, "dwkl": log_prod_qzd - log_pz}


def beta_tc(
    vae: nn.Module,
    x: torch.Tensor,
    *,
    dataset_size: int,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma: float = 1.0,
    y: torch.Tensor | None = None,
) -> Loss:
    """Negative β-TC-VAE objective: E_q[-log p(x|z)] + α MI + β TC + γ dimension-wise KL, batch-averaged.

    Chen et al. 2018, arXiv:1802.04942 (they use α = γ = 1 and tune β). The three terms come from
    :func:`kl_decomposition` with minibatch-weighted sampling over a data set of ``dataset_size`` examples.
    With α = β = γ = 1 the loss equals the negative ELBO with a one-draw KL estimate, whose expectation is the
    analytic-KL ELBO. Logged terms per example: ``loss``, ``recon``, ``kl`` (analytic, as the ELBO logs it),
    ``mi``, ``tc``, ``dwkl``. ``x`` is ``(M, *x_shape)``; ``y`` labels for a conditional VAE.
    """
    if dataset_size < 1:
        raise ValueError(f"dataset_size must be positive, got {dataset_size}")
    draw = vae(x) if y is None else vae(x, y=y)
    if draw.qz is None:
        raise ValueError("the beta-tc objective needs a single-layer VAE (its Draw carries q(z|x))")
    recon = -draw.px.log_prob(x)
    parts = kl_decomposition(draw.z, draw.qz, vae.prior(), dataset_size)
    per_example = recon + alpha * parts["mi"] + beta * parts["tc"] + gamma * parts["dwkl"]
    return Loss(loss=per_example.mean(), terms={"loss": per_example, "recon": recon, "kl": draw.kl, **parts})
