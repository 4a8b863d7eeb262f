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

    With a ``condition`` (e.g. :class:`~vaekit.model.condition.OneHotLabel`) it is q(z|x, y): ``forward(x, y)``
    passes the trunk ``(x, condition(y))`` (see :class:`~vaekit.nn.ConcatFlat`, :class:`~vaekit.nn.ConcatPlanes`).
    """

    TRUNKS = ("trunk",)  # tensor-in, tensor-out children: what compile_trunks compiles

    def __init__(
        self,
        trunk: nn.Module,
        head: nn.Module,
        x_shape: Sequence[int],
        latent_dim: int,
        condition: nn.Module | None = None,
    ):
        super().__init__()
        self.trunk, self.head, self.condition = trunk, head, condition
        self.x_shape, self.latent_dim = tuple(x_shape), latent_dim

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution:
        lead = x.shape[: x.dim() - len(self.x_shape)]
        flat = x.reshape(-1, *self.x_shape)
        if (y is None) != (self.condition is None):
            raise ValueError("a conditional encoder needs labels y; an unconditional one takes none")
        params = self.trunk(flat) if y is None else self.trunk(flat, self.condition(y.reshape(-1)))
        return self.head(params.view(*lead, params.shape[-1]))
