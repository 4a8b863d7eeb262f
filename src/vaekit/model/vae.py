"""The VAE: an encoder, a decoder and a prior composed. It holds no loss; objectives live elsewhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution

from vaekit.distributions import kl_per_dim, sample_from
from vaekit.model.decoder import Decoder
from vaekit.model.draw import Draw
from vaekit.model.encoder import Encoder
from vaekit.model.protocol import module_device


class VAE(nn.Module):
    """p(x, z) = p(z) p(x|z) with amortised posterior q(z|x) (Kingma & Welling 2014, arXiv:1312.6114).

    Shapes: ``x`` is ``(*lead, *x_shape)``, ``z`` is ``(*lead, latent_dim)``.
    ``config`` holds the model config it was built from (``None`` for a hand-composed VAE); run folders
    store it so :func:`vaekit.load` can rebuild the same architecture.

    A conditional VAE is the same class with a conditional encoder and decoder (q(z|x, y), p(x|z, y), p(z)
    unchanged): every method then takes the labels ``y`` ``(*lead,)``, and ``n_classes`` is their number.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, prior: nn.Module, config: dict[str, Any] | None = None):
        super().__init__()
        if encoder.latent_dim != decoder.latent_dim or encoder.x_shape != decoder.x_shape:
            raise ValueError("encoder and decoder disagree on x_shape or latent_dim")
        self.encoder, self.decoder, self.prior = encoder, decoder, prior
        if hasattr(prior, "attach"):
            prior.attach(self.encode)  # the VampPrior scores z under the posterior of its pseudo-inputs
        self.config = config

    @property
    def x_shape(self) -> tuple[int, ...]:
        return self.encoder.x_shape

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    @property
    def latent_dims(self) -> tuple[int, ...]:
        """One stochastic layer: ``(latent_dim,)``."""
        return (self.latent_dim,)

    @property
    def n_classes(self) -> int:
        """How many labels a conditional VAE takes; 0 for an unconditional one."""
        return getattr(self.encoder.condition, "n_classes", 0)

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return module_device(self)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """q(z|x), or q(z|x, y) for a conditional VAE."""
        return self.encoder(x) if y is None else self.encoder(x, y)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        """p(x|z), or p(x|z, y) for a conditional VAE."""
        return self.decoder(z) if y is None else self.decoder(z, y)

    def forward(
        self,
        x: torch.Tensor,
        n_samples: int | None = None,
        y: torch.Tensor | None = None,
        *,
        eps: torch.Tensor | None = None,
        pz: Distribution | None = None,
    ) -> Draw:
        """One reparameterised pass: ``z ~ q(z|x)`` (``n_samples`` draws per example, leading), ``p(x|z)``.

        With ``eps`` (standard-normal noise broadcasting to ``(*sample, *lead, latent_dim)``, e.g.
        ``(k, 1, latent_dim)`` shared by every example) the draw is z = mu(x) + sigma(x) * eps instead of fresh
        noise (common random numbers); give ``n_samples`` or ``eps``, not both. Everything an objective needs
        comes out of this one call (prior included), so a wrapper such as DistributedDataParallel sees every
        parameter used. ``pz``: p(z) already computed by ``self.prior()`` (evaluation computes it once, not once per
        batch of draws). See :class:`~vaekit.model.draw.Draw`.
        """
        qz = self.encode(x, y)
        if eps is None:
            z = qz.rsample(() if n_samples is None else (n_samples,))
        elif n_samples is not None:
            raise ValueError("give n_samples or eps, not both: eps's leading dimensions are the draws")
        elif eps.shape[-1] != self.latent_dim:
            raise ValueError(f"eps has {eps.shape[-1]} columns, the model has {self.latent_dim} latent dimensions")
        else:
            z = qz.mean + qz.stddev * eps
        if pz is None:
            pz = self.prior()
        per_dim = kl_per_dim(qz, pz)
        if per_dim is None:
            log_qz, log_pz = qz.log_prob(z), pz.log_prob(z)
            kl = log_qz - log_pz

            def log_densities():
                return log_qz, log_pz
        else:
            per_dim = per_dim.expand_as(z)
            kl = per_dim.sum(-1)

            def log_densities():
                return qz.log_prob(z), pz.log_prob(z)

        return Draw(z, self.decode(z, y), log_densities, kl, per_dim, (qz.mean.expand_as(z),), qz)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> None:
        """Data-dependent initialisation before training: the decoder's output bias, the prior if it has one.

        A decoder with its own ``init_from_data(x)`` (token frequencies need the data, not its mean) uses it.
        ``generator`` drives any random choice (a VampPrior's pseudo-inputs among the examples).
        """
        init_decoder = getattr(self.decoder, "init_from_data", None)
        if init_decoder is not None:
            init_decoder(x)
        else:
            self.decoder.init_output_bias(x.nanmean(0))  # NaN marks a missing entry
        init_prior = getattr(self.prior, "init_from_data", None)
        if init_prior is not None and generator is not None:
            init_prior(x, generator=generator)
        elif init_prior is not None:
            init_prior(x)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        mean: bool = True,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``n`` new examples decoded from prior draws, shape ``(n, *x_shape)``; labels ``y (n,)`` if conditional.

        z ~ p(z) at temperature T (see the prior's ``sample``). With ``mean=True`` (the default, what one looks
        at) each example is E[x|z]; otherwise a draw x ~ p(x|z) at T = 1 from the same ``generator``.
        """
        z = self.prior.sample(n, temperature=temperature, generator=generator)
        px = self.decode(z, y)
        return px.mean if mean else sample_from(px, generator=generator)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to a folder that :func:`vaekit.load` reads back (``config.json`` with its config,
        ``model.safetensors``): the two halves of one format, as a training run folder holds it."""
        from vaekit.run import save  # the run-folder format lives above the model layer

        return save(self, path)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[x | z = E[z|x]]: the decoded posterior mean, shape of ``x`` (given labels ``y`` if conditional)."""
        return self.decode(self.encode(x, y).mean, y).mean
