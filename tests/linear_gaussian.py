"""A VAE whose exact log-likelihood is known: linear-Gaussian decoder, linear encoder (shared by tests)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import MultivariateNormal

from vaekit import VAE, Decoder, Encoder, StandardNormalPrior
from vaekit.distributions import MIN_SCALE, DiagonalGaussianHead, GaussianHead, inverse_softplus


def linear_gaussian_vae(w: torch.Tensor, b: torch.Tensor, noise: float) -> VAE:
    """A VAE whose decoder is exactly p(x|z) = N(W z + b, noise^2 I) and whose encoder is linear."""
    x_dim, latent_dim = w.shape
    enc = nn.Linear(x_dim, 2 * latent_dim).double()
    dec = nn.Linear(latent_dim, x_dim).double()
    with torch.no_grad():
        dec.weight.copy_(w)
        dec.bias.copy_(b)
    vae = VAE(
        Encoder(enc, DiagonalGaussianHead(), (x_dim,), latent_dim),
        Decoder(dec, GaussianHead((x_dim,), sigma=noise), (x_dim,), latent_dim),
        StandardNormalPrior(latent_dim),
    )
    return vae.double()


def set_optimal_posterior(vae: VAE, w: torch.Tensor, b: torch.Tensor, noise: float) -> None:
    """q(z|x) = p(z|x) = N(M^-1 W^T (x - b), noise^2 M^-1) with M = W^T W + noise^2 I (diagonal here)."""
    latent_dim = w.shape[1]
    m = w.T @ w + noise**2 * torch.eye(latent_dim, dtype=w.dtype)
    m_inv = torch.linalg.inv(m)
    post_scale = torch.sqrt(noise**2 * torch.diagonal(m_inv))
    raw_scale = torch.tensor([inverse_softplus(float(s) - MIN_SCALE) for s in post_scale], dtype=w.dtype)
    enc = vae.encoder.trunk
    with torch.no_grad():
        enc.weight.zero_()
        enc.bias.zero_()
        enc.weight[:latent_dim] = m_inv @ w.T
        enc.bias[:latent_dim] = -(m_inv @ w.T @ b)
        enc.bias[latent_dim:] = raw_scale


def linear_model_data(seed: int = 0, n: int = 64):
    """``(w, b, noise, x, exact)``: a 6-D linear-Gaussian model with a 3-D latent, data, and exact log p(x)."""
    torch.manual_seed(seed)
    x_dim, latent_dim, noise = 6, 3, 0.5
    # orthogonal columns make W^T W diagonal, so the exact posterior is a diagonal Gaussian
    q, _ = torch.linalg.qr(torch.randn(x_dim, latent_dim, dtype=torch.float64))
    w = q * torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    b = torch.randn(x_dim, dtype=torch.float64)
    x = torch.randn(n, latent_dim, dtype=torch.float64) @ w.T + b + noise * torch.randn(n, x_dim, dtype=torch.float64)
    exact = MultivariateNormal(b, w @ w.T + noise**2 * torch.eye(x_dim, dtype=torch.float64)).log_prob(x)
    return w, b, noise, x, exact
