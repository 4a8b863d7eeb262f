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

    @torch.no_grad()
    def init_output_bias(self, x_mean: torch.Tensor) -> None:
        """Start from p(x|z) centred on the data mean: the last layer's bias gets ``head.param_for_mean``.

        Saves the first epochs from learning the average image; measured on MNIST it lowers the 10-epoch test
        loss by about 0.4 nats (docs/benchmarks.md). A per-channel bias (conv) gets the channel's average.
        """
        last = [m for m in self.trunk.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))][-1]
        if last.bias is None:
            return
        target = self.head.param_for_mean(x_mean.to(last.bias))
        bias = last.bias.view(self.head.params_per_dim, -1)
        bias[0] = target.flatten() if bias.shape[1] == target.numel() else target.flatten(1).mean(1)

    def forward(self, z: torch.Tensor) -> Distribution:
        lead = z.shape[:-1]
        params = self.trunk(z.reshape(-1, self.latent_dim))
        # a head may lay its parameters out its own way (a mixed table's logits per level), else P per dimension
        shape = getattr(self.head, "param_shape", None) or (self.head.params_per_dim, *self.x_shape)
        return self.head(params.view(*lead, *shape))
