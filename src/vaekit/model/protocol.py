"""The interface every latent-variable model of the library offers: :class:`~vaekit.model.VAE` (plain,
conditional, VampPrior, melody) and :class:`~vaekit.model.LadderVAE` alike, so apps and evaluators need no
``isinstance`` or ``getattr`` probes."""

from __future__ import annotations

import itertools
from typing import Protocol, runtime_checkable

import torch
from torch import nn
from torch.distributions import Distribution

from vaekit.model.draw import Draw


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter, else of its first buffer, else the CPU."""
    for t in itertools.chain(module.parameters(), module.buffers()):
        return t.device
    return torch.device("cpu")


@runtime_checkable
class LatentModel(Protocol):
    """p(x, z) = p(z) p(x|z) with an amortised posterior q(z|x); labels ``y`` for a conditional model.

    Shapes: ``x (*lead, *x_shape)``, ``z (*lead, latent_dim)`` (the top layer's code), labels ``y (*lead,)``.
    ``y`` is optional everywhere and required exactly when ``n_classes > 0``; a model that is never
    conditional (``n_classes == 0``) rejects labels with a ``ValueError``.

    - ``latent_dims``: the size of every stochastic layer, bottom (next to x) first; ``latent_dim`` is the last;
    - ``device``: where the parameters live (inputs must be moved there);
    - ``encode(x, y) -> q(z|x)`` and ``decode(z, y) -> p(x|z)``, ``event_shape`` ``(latent_dim,)`` and ``x_shape``;
    - ``forward(x, n_samples, y, *, eps) -> Draw``: one reparameterised draw, or
      z = mu + sigma * eps for fixed standard-normal ``eps (*sample, *lead, sum(latent_dims))``;
    - ``sample(n, *, temperature, generator, mean, y) -> (n, *x_shape)`` from the prior;
    - ``reconstruct(x, y) -> E[x | z = E[z|x]]``, the shape of ``x``.
    """

    prior: nn.Module

    @property
    def x_shape(self) -> tuple[int, ...]: ...

    @property
    def latent_dim(self) -> int: ...

    @property
    def latent_dims(self) -> tuple[int, ...]: ...

    @property
    def n_classes(self) -> int: ...

    @property
    def device(self) -> torch.device: ...

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Distribution: ...

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> Distribution: ...

    def forward(
        self,
        x: torch.Tensor,
        n_samples: int | None = None,
        y: torch.Tensor | None = None,
        *,
        eps: torch.Tensor | None = None,
        pz: Distribution | None = None,
    ) -> Draw: ...

    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        mean: bool = True,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor: ...

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor: ...
