"""The record a model's forward pass returns: one reparameterised posterior draw and its log-densities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch.distributions import Distribution


@dataclass(frozen=True)
class Draw:
    """z ~ q(z|x) (reparameterised) with everything the objectives and the evaluator are built from.

    Leading shape ``(*sample, batch)`` everywhere (``sample`` is empty for a single draw):

    - ``z``: the top latent, ``(*sample, batch, latent_dim)``;
    - ``px``: p(x|z), ``batch_shape == (*sample, batch)``;
    - ``log_qz``, ``log_pz``: log q(z|x) and log p(z) at the draw, summed over all stochastic layers
      (``log_densities`` computes them on first use);
    - ``kl``: KL(q(z|x) || p(z)) per draw, analytic where torch knows the pair (per layer, given the layer
      above), else the single-draw estimate ``log_qz - log_pz``;
    - ``kl_per_dim``: the analytic KL per latent dimension of every layer concatenated, or ``None`` when the
      prior does not factorise;
    - ``latent_means``: per stochastic layer, the posterior mean given the draw of the layer above
      (averaging it over draws gives E_q[z_l | x], used for active units);
    - ``qz``: q(z|x) itself for a single-layer model (``None`` otherwise), for objectives that score every
      draw of a batch under every example's posterior (the beta-TC-VAE's minibatch-weighted sampling).

    The importance weight of the draw is ``log_w = log p(x|z) + log p(z) - log q(z|x)``.
    """

    z: torch.Tensor
    px: Distribution
    log_densities: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    kl: torch.Tensor
    kl_per_dim: torch.Tensor | None
    latent_means: tuple[torch.Tensor, ...]
    qz: Distribution | None = None

    # computed on first use: the ELBO with an analytic KL never needs them, the IWAE bound and the evaluator do
    @cached_property
    def _densities(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.log_densities()

    @property
    def log_qz(self) -> torch.Tensor:
        return self._densities[0]

    @property
    def log_pz(self) -> torch.Tensor:
        return self._densities[1]

    def log_w(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x, z) - log q(z|x)``, shape ``(*sample, batch)``."""
        return self.px.log_prob(x) + self.log_pz - self.log_qz
