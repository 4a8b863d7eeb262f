"""The VAE: an encoder, a decoder and a prior composed. It holds no loss; objectives live elsewhere."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution

from vaekit.model.decoder import Decoder
from vaekit.model.encoder import Encoder


class VAE(nn.Module):
    """p(x, z) = p(z) p(x|z) with amortised posterior q(z|x) (Kingma & Welling 2014, arXiv:1312.6114).

    Shapes: ``x`` is ``(*lead, *x_shape)``, ``z`` is ``(*lead, latent_dim)``.
    ``config`` holds the model config it was built from (``None`` for a hand-composed VAE); run folders
    store it so :func:`vaekit.load` can rebuild the same architecture.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, prior: nn.Module, config: dict[str, Any] | None = None):
        super().__init__()
        if encoder.latent_dim != decoder.latent_dim or encoder.x_shape != decoder.x_shape:
            raise ValueError("encoder and decoder disagree on x_shape or latent_dim")
        self.encoder, self.decoder, self.prior = encoder, decoder, prior
        self.config = config

    @property
    def x_shape(self) -> tuple[int, ...]:
        return self.encoder.x_shape

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    def encode(self, x: torch.Tensor) -> Distribution:
        """q(z|x)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> tuple[Distribution, torch.Tensor, Distribution]:
        """One reparameterised pass: ``qz = q(z|x)``, ``z = qz.rsample()``, ``px = p(x|z)``."""
        qz = self.encode(x)
        z = qz.rsample()
        return qz, z, self.decode(z)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        mean: bool = True,
    ) -> torch.Tensor:
        """``n`` new examples decoded from prior draws, shape ``(n, *x_shape)``.

        With ``mean=True`` (the default, what one looks at) each is E[x|z]; otherwise a draw x ~ p(x|z).
        """
        z = self.prior.sample(n, temperature=temperature, generator=generator)
        px = self.decode(z)
        return px.mean if mean else px.sample()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x | z = E[z|x]]: the decoded posterior mean, shape of ``x``."""
        return self.decode(self.encode(x).mean).mean
