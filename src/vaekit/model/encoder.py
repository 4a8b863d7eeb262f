"""Encoders: x -> q(z|x)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Distribution


class Encoder(nn.Module):
    """q(z|x): a trunk maps x to parameters, a head turns them into a distribution over z.

    ``forward(x)`` takes ``x`` of shape ``(*lead, *x_shape)`` and returns a distribution with
    ``batch_shape == lead`` and ``event_shape == (latent_dim,)``. The trunk sees ``(N, *x_shape)``.
    """

    def __init__(self, trunk: nn.Module, head: nn.Module, x_shape: Sequence[int], latent_dim: int):
        super().__init__()
        self.trunk, self.head = trunk, head
        self.x_shape, self.latent_dim = tuple(x_shape), latent_dim

    def forward(self, x: torch.Tensor) -> Distribution:
        lead = x.shape[: x.dim() - len(self.x_shape)]
        params = self.trunk(x.reshape(-1, *self.x_shape))
        return self.head(params.view(*lead, params.shape[-1]))
