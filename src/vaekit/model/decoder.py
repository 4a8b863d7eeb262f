"""Decoders: z -> p(x|z)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Distribution


class Decoder(nn.Module):
    """p(x|z): a trunk maps z to ``params_per_dim`` numbers per data dimension, a head makes the distribution.

    ``forward(z)`` takes ``z`` of shape ``(*lead, latent_dim)`` and returns a distribution with
    ``batch_shape == lead`` and ``event_shape == x_shape``. The trunk maps ``(N, latent_dim)`` to
    ``(N, P * prod(x_shape))`` or ``(N, P * C, H, W)``; either is read as ``(N, P, *x_shape)``.
    """

    def __init__(self, trunk: nn.Module, head: nn.Module, x_shape: Sequence[int], latent_dim: int):
        super().__init__()
        self.trunk, self.head = trunk, head
        self.x_shape, self.latent_dim = tuple(x_shape), latent_dim

    def forward(self, z: torch.Tensor) -> Distribution:
        lead = z.shape[:-1]
        params = self.trunk(z.reshape(-1, self.latent_dim))
        return self.head(params.view(*lead, self.head.params_per_dim, *self.x_shape))
