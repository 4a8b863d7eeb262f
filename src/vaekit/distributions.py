"""Likelihood heads: turn a trunk's raw output into a ``torch.distributions`` object.

Every head declares its event dimensions once with :class:`~torch.distributions.Independent`, so
``log_prob`` returns one number per example, and sample dimensions lead: ``(*sample, batch, *event)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal

MIN_SCALE = 1e-4


def positive_scale(raw: torch.Tensor, min_scale: float = MIN_SCALE) -> torch.Tensor:
    """``softplus(raw) + min_scale``: a smooth positive scale that cannot collapse to exactly zero."""
    return F.softplus(raw) + min_scale


def inverse_softplus(y: float) -> float:
    """``x`` with ``softplus(x) == y`` (for initialising raw scale parameters)."""
    return float(torch.log(torch.expm1(torch.tensor(y))))


class DiagonalGaussianHead(nn.Module):
    """``params (..., 2 * d) -> Independent(Normal(loc, softplus(raw_scale)), 1)`` over ``d`` dimensions.

    Used by encoders for q(z|x) = N(mu(x), diag sigma(x)^2) (Kingma & Welling 2014, arXiv:1312.6114).
    """

    params_per_dim = 2

    def forward(self, params: torch.Tensor) -> Distribution:
        loc, raw_scale = params.chunk(2, dim=-1)
        return Independent(Normal(loc, positive_scale(raw_scale)), 1)


class BernoulliHead(nn.Module):
    """p(x|z) = prod_i Bernoulli(x_i; sigmoid(logit_i)), for data in [0, 1].

    ``params`` has shape ``(*lead, 1, *x_shape)``. Grey levels in (0, 1) are accepted as targets (the
    classic binary cross-entropy on MNIST grey levels): the log-probability is then the negative cross-entropy,
    which is not a normalised density, so report bits/nats for such data with that caveat.
    """

    params_per_dim = 1

    def __init__(self, x_shape: Sequence[int]):
        super().__init__()
        self.event_ndim = len(x_shape)

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The logit whose Bernoulli has this mean (clamped away from 0 and 1)."""
        return torch.logit(mean.clamp(1e-3, 1 - 1e-3))

    def forward(self, params: torch.Tensor) -> Distribution:
        logits = params.squeeze(-self.event_ndim - 1)
        return Independent(Bernoulli(logits=logits, validate_args=False), self.event_ndim)


class GaussianHead(nn.Module):
    """p(x|z) = prod_i N(x_i; mu_i(z), sigma_i^2) with sigma fixed, or learned per data dimension.

    A learned sigma is one free parameter per data dimension, shared by all examples (as in the
    sigma-VAE of Rizve et al. 2021, arXiv:2006.13202, per dimension rather than global).
    ``params`` has shape ``(*lead, 1, *x_shape)``.
    """

    params_per_dim = 1

    def __init__(self, x_shape: Sequence[int], sigma: float | None = None, init_sigma: float = 0.5):
        super().__init__()
        self.event_ndim = len(x_shape)
        self.learned = sigma is None
        if self.learned:
            self.raw_scale = nn.Parameter(torch.full(tuple(x_shape), inverse_softplus(init_sigma)))
        else:
            self.register_buffer("fixed_scale", torch.full(tuple(x_shape), float(sigma)))

    def scale(self) -> torch.Tensor:
        return positive_scale(self.raw_scale, 1e-3) if self.learned else self.fixed_scale

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        return mean

    def forward(self, params: torch.Tensor) -> Distribution:
        loc = params.squeeze(-self.event_ndim - 1)
        return Independent(Normal(loc, self.scale().expand_as(loc)), self.event_ndim)
