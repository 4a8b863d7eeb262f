"""Priors p(z): ``forward() -> Distribution`` over ``(latent_dim,)`` and
``sample(n, *, temperature=1.0, generator=None) -> (n, latent_dim)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.distributions import DiagonalGaussianMixture, inverse_softplus, positive_scale


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I) over ``latent_dim`` dimensions. Buffers keep it on the model's device."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale), 1)

    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``z ~ N(0, T^2 I)``, shape ``(n, latent_dim)``; T < 1 trades variety for typicality."""
        eps = torch.randn(n, self.latent_dim, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + temperature * self.scale * eps


class _MixturePrior(nn.Module):
    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws, shape ``(n, latent_dim)``: a component k ~ pi, then mu_k + T sigma_k eps."""
        return self().sample((n,), temperature=temperature, generator=generator)


class MixturePrior(_MixturePrior):
    """A learnable mixture of K diagonal Gaussians, p(z) = sum_k pi_k N(mu_k, diag sigma_k^2).

    Weights, means and scales are all trained with the model. Means start as draws from N(0, I) and scales at
    1, so at initialisation the prior is close to a (wider) standard normal. KL(q || p) has no closed form and
    is estimated by Monte Carlo.
    """

    def __init__(self, latent_dim: int, n_components: int = 10, generator: torch.Generator | None = None):
        super().__init__()
        self.latent_dim = latent_dim
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.loc = nn.Parameter(torch.randn(n_components, latent_dim, generator=generator))
        self.raw_scale = nn.Parameter(torch.full((n_components, latent_dim), inverse_softplus(1.0)))

    def forward(self) -> Distribution:
        return DiagonalGaussianMixture(self.logits, self.loc, positive_scale(self.raw_scale))


class VampPrior(_MixturePrior):
    """The VampPrior: p(z) = (1/K) sum_k q(z | u_k), the encoder's posterior at K learned pseudo-inputs.

    Tomczak & Welling 2018, arXiv:1705.07120. ``encode`` is the model's own ``x -> q(z|x)`` (attached by
    the model that owns this prior; it is not registered here, so the encoder's weights are stored once).
    Pseudo-inputs have the data's shape; :meth:`init_from_data` starts them at random training examples.
    With ``bounded`` the encoder sees ``hardtanh(u_k)`` in [0, 1] (the paper's choice for binary images): a
    pseudo-input stays a possible image instead of drifting to values no data point has.
    """

    def __init__(self, latent_dim: int, x_shape: Sequence[int], n_components: int = 500, bounded: bool = False):
        super().__init__()
        self.latent_dim = latent_dim
        self.bounded = bounded
        # the paper's initialisation: N(0.05, 0.01^2); replaced by training examples when data is at hand
        self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(n_components, *x_shape))
        self.__dict__["encode"] = None  # plain attribute: the encoder is not a submodule of the prior

    def attach(self, encode: Callable[[torch.Tensor], Distribution]) -> None:
        self.__dict__["encode"] = encode

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Start the pseudo-inputs at K training examples drawn without replacement (with, if fewer)."""
        k = self.pseudo_inputs.shape[0]
        idx = torch.randperm(len(x), generator=generator)[:k]
        if len(idx) < k:
            idx = torch.randint(len(x), (k,), generator=generator)
        u = x[idx].to(self.pseudo_inputs)
        # hardtanh passes no gradient at exactly 0 or 1, where every pixel of a binary image lies
        self.pseudo_inputs.copy_(0.05 + 0.9 * u.clamp(0.0, 1.0) if self.bounded else u)

    @property
    def inputs(self) -> torch.Tensor:
        """The pseudo-inputs as the encoder sees them, ``(K, *x_shape)``."""
        u = self.pseudo_inputs
        return nn.functional.hardtanh(u, 0.0, 1.0) if self.bounded else u

    def forward(self) -> Distribution:
        if self.encode is None:
            raise RuntimeError("VampPrior needs its model's encoder: call attach(encode) first")
        qu = self.encode(self.inputs)
        base = qu.base_dist
        return DiagonalGaussianMixture(torch.zeros_like(base.loc[:, 0]), base.loc, base.scale)
