"""Likelihood heads: turn a trunk's raw output into a ``torch.distributions`` object.

Every head declares its event dimensions once with :class:`~torch.distributions.Independent`, so
``log_prob`` returns one number per example, and sample dimensions lead: ``(*sample, batch, *event)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, kl_divergence

MIN_SCALE = 1e-4


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it came out of a low-precision (bf16/fp16 autocast) layer; float64 stays float64.

    Distributions are always evaluated at full precision: only the trunks' matrix products run in bf16.
    """
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def positive_scale(raw: torch.Tensor, min_scale: float = MIN_SCALE) -> torch.Tensor:
    """``softplus(raw) + min_scale``: a smooth positive scale that cannot collapse to exactly zero."""
    return F.softplus(raw) + min_scale


def inverse_softplus(y: float) -> float:
    """``x`` with ``softplus(x) == y`` (for initialising raw scale parameters)."""
    return float(torch.log(torch.expm1(torch.tensor(y))))


def kl_per_dim(qz: Distribution, pz: Distribution) -> torch.Tensor | None:
    """Analytic KL per latent dimension, shape ``(*batch, latent_dim)``, or ``None`` when not factorised.

    Both must be ``Independent`` over one event dimension with a registered base-distribution KL
    (e.g. Normal vs Normal: KL = log(s_p/s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2).
    """
    if not (isinstance(qz, Independent) and isinstance(pz, Independent)):
        return None
    try:
        return kl_divergence(qz.base_dist, pz.base_dist)
    except NotImplementedError:
        return None


class DiagonalGaussianHead(nn.Module):
    """``params (..., 2 * d) -> Independent(Normal(loc, softplus(raw_scale)), 1)`` over ``d`` dimensions.

    Used by encoders for q(z|x) = N(mu(x), diag sigma(x)^2) (Kingma & Welling 2014, arXiv:1312.6114).
    """

    params_per_dim = 2

    def forward(self, params: torch.Tensor) -> Distribution:
        loc, raw_scale = full_precision(params).chunk(2, dim=-1)
        return Independent(Normal(loc, positive_scale(raw_scale)), 1)


class BernoulliLogits(Bernoulli):
    """A Bernoulli parameterised by logits whose ``log_prob`` is ``x * l - softplus(l)``.

    The same value as torch's (the negative binary cross-entropy with logits, also for targets in (0, 1)),
    computed in fewer passes over memory: forward and backward take about half the time of
    ``binary_cross_entropy_with_logits`` on CPU, which matters when k importance samples multiply the pixels.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return value * self.logits - F.softplus(self.logits)


class BernoulliHead(nn.Module):
    """p(x|z) = prod_i Bernoulli(x_i; sigmoid(logit_i)), for data in [0, 1].

    ``params`` has shape ``(*lead, 1, *x_shape)``. Grey levels in (0, 1) are accepted as targets (the
    classic binary cross-entropy on MNIST grey levels): the log-probability is then the negative cross-entropy,
    which is not a normalised density, so report bits/nats for such data with that caveat.
    """

    params_per_dim = 1

    def __init__(self, x_shape: Sequence[int], missing: bool = False):
        super().__init__()
        self.event_ndim = len(x_shape)
        self.independent = MaskedIndependent if missing else Independent

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The logit whose Bernoulli has this mean (clamped away from 0 and 1)."""
        return torch.logit(mean.clamp(1e-3, 1 - 1e-3))

    def forward(self, params: torch.Tensor) -> Distribution:
        logits = full_precision(params.squeeze(-self.event_ndim - 1))
        return self.independent(BernoulliLogits(logits=logits, validate_args=False), self.event_ndim)


class GaussianHead(nn.Module):
    """p(x|z) = prod_i N(x_i; mu_i(z), sigma_i^2) with sigma fixed, or learned per data dimension.

    A learned sigma is one free parameter per data dimension, shared by all examples (as in the
    sigma-VAE of Rizve et al. 2021, arXiv:2006.13202, per dimension rather than global).
    ``params`` has shape ``(*lead, 1, *x_shape)``.
    """

    params_per_dim = 1

    def __init__(
        self, x_shape: Sequence[int], sigma: float | None = None, init_sigma: float = 0.5, missing: bool = False
    ):
        super().__init__()
        self.event_ndim = len(x_shape)
        self.independent = MaskedIndependent if missing else Independent
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
        loc = full_precision(params.squeeze(-self.event_ndim - 1))
        return self.independent(Normal(loc, self.scale().expand_as(loc)), self.event_ndim)


class DiagonalGaussianMixture(Distribution):
    """p(z) = sum_k pi_k N(z; mu_k, diag sigma_k^2), a mixture of K diagonal Gaussians over ``d`` dimensions.

    ``logits (K,)``, ``loc (K, d)``, ``scale (K, d)``; ``event_shape == (d,)``. ``log_prob`` expands the square
    ``sum_j (z_j - mu_kj)^2 / sigma_kj^2`` into three matrix products, so scoring N points against K components
    takes O(N K) memory instead of the O(N K d) of :class:`~torch.distributions.MixtureSameFamily` (it matters
    for the VampPrior's K = 500 components under k = 5000 importance samples).
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor):
        self.logits, self.loc, self.scale = logits, loc, scale
        super().__init__(batch_shape=torch.Size(), event_shape=loc.shape[-1:], validate_args=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        # The expanded square cancels catastrophically when a component is narrow (precision 1e6 times values
        # of order 1), so it is computed in float64 and outside any bf16 autocast region.
        wide = torch.float32 if z.device.type == "mps" else torch.float64
        with torch.autocast(z.device.type, enabled=False):
            flat = z.reshape(-1, z.shape[-1]).to(wide)
            loc, scale = self.loc.to(wide), self.scale.to(wide)
            prec = scale.pow(-2)  # (K, d)
            # sum_j (z_j - m_kj)^2 p_kj = z^2 . p_k - 2 z . (m p)_k + sum_j m_kj^2 p_kj
            quad = flat.pow(2) @ prec.T - 2 * flat @ (loc * prec).T + (loc.pow(2) * prec).sum(-1)
            d = z.shape[-1]
            log_norm = -scale.log().sum(-1) - 0.5 * d * math.log(2 * math.pi)  # (K,)
            log_comp = log_norm - 0.5 * quad.clamp(min=0)  # (N, K)
            out = torch.logsumexp(log_comp + torch.log_softmax(self.logits.to(wide), -1), dim=-1)
        return out.to(z.dtype).reshape(z.shape[:-1])

    @property
    def mean(self) -> torch.Tensor:
        return (torch.softmax(self.logits, -1).unsqueeze(-1) * self.loc).sum(0)

    def sample(
        self,
        sample_shape: torch.Size | Sequence[int] = torch.Size(),
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draws of shape ``(*sample_shape, d)``: a component k ~ pi, then mu_k + T sigma_k eps."""
        shape = torch.Size(sample_shape)
        n = shape.numel()
        with torch.no_grad():
            k = torch.multinomial(torch.softmax(self.logits, -1), n, replacement=True, generator=generator)
            eps = torch.randn(n, self.loc.shape[-1], generator=generator, device=self.loc.device)
            z = self.loc[k] + temperature * self.scale[k] * eps
        return z.reshape(*shape, -1)


def observed_entries(value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(observed, filled)``: the mask of non-NaN entries, and ``value`` with its NaN entries set to 0."""
    observed = ~torch.isnan(value)
    return observed, torch.where(observed, value, torch.zeros((), dtype=value.dtype, device=value.device))


class MaskedIndependent(Independent):
    """An :class:`~torch.distributions.Independent` whose ``log_prob`` skips missing (NaN) entries.

    log p(x_obs | z) = sum over observed i of log p(x_i | z), the likelihood of the observed part only, as MIWAE
    trains on incomplete data (Mattei & Frellsen 2019, arXiv:1812.02633). A row with nothing observed scores 0.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        observed, filled = observed_entries(value)
        lp = self.base_dist.log_prob(filled).masked_fill(~observed, 0.0)
        n = self.reinterpreted_batch_ndims
        return lp.sum(dim=tuple(range(-n, 0))) if n else lp


def log_prob_observed(px: Distribution, x: torch.Tensor) -> torch.Tensor:
    """log p(x_obs | z) for any factorised likelihood: NaN entries of ``x`` are left out of the sum."""
    if isinstance(px, (MaskedIndependent, MixedColumns)):
        return px.log_prob(x)
    if isinstance(px, Independent):
        return MaskedIndependent(px.base_dist, px.reinterpreted_batch_ndims, validate_args=False).log_prob(x)
    raise TypeError(f"cannot leave missing entries out of a {type(px).__name__}")


class MixedColumns(Distribution):
    """p(x|z) over table rows whose columns are numeric or categorical.

    Numeric column j: N(x_j; mu_j, s_j^2). Categorical column j with K_j levels (stored as the level's index
    0..K_j-1): Categorical(x_j; softmax(l_j)). log p(x|z) = sum_j log p(x_j|z) over the observed columns (NaN is
    missing and adds 0). ``loc`` is ``(*batch, n_numeric)``, ``scale`` broadcasts to it, ``logits`` is
    ``(*batch, sum K_j)``; ``event_shape == (n_columns,)``. ``mean`` holds the numeric means and, for a
    categorical column, the most probable level.
    """

    arg_constraints: dict = {}

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, logits: torch.Tensor, categories: Sequence[int]):
        self.categories = tuple(int(k) for k in categories)
        self.numeric = [j for j, k in enumerate(self.categories) if k == 0]
        self.categorical = [j for j, k in enumerate(self.categories) if k > 0]
        self.loc, self.scale, self.logits = loc, scale.expand_as(loc), logits
        batch = loc.shape[:-1] if self.numeric else logits.shape[:-1]
        super().__init__(batch_shape=batch, event_shape=torch.Size([len(self.categories)]), validate_args=False)

    def log_softmax_per_column(self) -> list[torch.Tensor]:
        """log P(level) for each categorical column: a list of ``(*batch, K_j)``."""
        sizes = [self.categories[j] for j in self.categorical]
        return [t.log_softmax(-1) for t in self.logits.split(sizes, dim=-1)] if sizes else []

    def elementwise_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log p(x_j | z) per column, ``(*batch, n_columns)``, with 0 where ``value`` is NaN."""
        observed, filled = observed_entries(value)
        shape = torch.broadcast_shapes(value.shape, (*self.batch_shape, len(self.categories)))
        out = torch.zeros(shape, dtype=self.logits.dtype if not self.numeric else self.loc.dtype, device=value.device)
        if self.numeric:
            numeric = Normal(self.loc, self.scale, validate_args=False)
            out[..., self.numeric] = numeric.log_prob(filled[..., self.numeric])
        for j, log_p in zip(self.categorical, self.log_softmax_per_column(), strict=True):
            index = filled[..., j].long().clamp(0, self.categories[j] - 1).expand(log_p.shape[:-1])
            out[..., j] = log_p.gather(-1, index.unsqueeze(-1)).squeeze(-1)
        return out.masked_fill(~observed, 0.0)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self.elementwise_log_prob(value).sum(-1)

    def probs_per_column(self) -> list[torch.Tensor]:
        """P(level) for each categorical column: a list of ``(*batch, K_j)``."""
        return [t.exp() for t in self.log_softmax_per_column()]

    def _assemble(
        self, numeric: torch.Tensor | None, levels: list[torch.Tensor], lead: Sequence[int] = ()
    ) -> torch.Tensor:
        """One ``(*lead, *batch, n_columns)`` tensor from the numeric values and each categorical column's levels."""
        dtype = self.loc.dtype if self.numeric else self.logits.dtype
        shape = (*lead, *self.batch_shape, len(self.categories))
        out = torch.empty(shape, dtype=dtype, device=self.logits.device)
        if numeric is not None:
            out[..., self.numeric] = numeric
        for j, level in zip(self.categorical, levels, strict=True):
            out[..., j] = level.to(dtype)
        return out

    @property
    def mean(self) -> torch.Tensor:
        return self._assemble(self.loc if self.numeric else None, [p.argmax(-1) for p in self.log_softmax_per_column()])

    def sample(self, sample_shape: torch.Size | Sequence[int] = torch.Size()) -> torch.Tensor:
        shape = torch.Size(sample_shape)
        with torch.no_grad():
            numeric = Normal(self.loc, self.scale).sample(shape) if self.numeric else None
            levels = [torch.distributions.Categorical(logits=lp).sample(shape) for lp in self.log_softmax_per_column()]
            return self._assemble(numeric, levels, shape)


class MixedTableHead(nn.Module):
    """p(x|z) for a table of numeric and categorical columns: see :class:`MixedColumns`.

    ``categories[j]`` is 0 for a numeric column and the number of levels K_j >= 2 for a categorical one. The trunk
    gives ``n_params = n_numeric + sum K_j`` numbers per example: the numeric means, then each categorical column's
    logits. Numeric scales are learned per column, shared by all examples (as in :class:`GaussianHead`).
    """

    params_per_dim = 1

    def __init__(self, categories: Sequence[int], sigma: float | None = None, init_sigma: float = 0.5):
        super().__init__()
        self.categories = tuple(int(k) for k in categories)
        self.n_numeric = sum(k == 0 for k in self.categories)
        self.n_params = self.n_numeric + sum(self.categories)
        self.param_shape = (self.n_params,)
        self.learned = sigma is None
        if self.learned:
            self.raw_scale = nn.Parameter(torch.full((self.n_numeric,), inverse_softplus(init_sigma)))
        else:
            self.register_buffer("fixed_scale", torch.full((self.n_numeric,), float(sigma)))

    def scale(self) -> torch.Tensor:
        return positive_scale(self.raw_scale, 1e-3) if self.learned else self.fixed_scale

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """Numeric means start at the data's column means; categorical logits at 0 (all levels equally likely)."""
        numeric = [j for j, k in enumerate(self.categories) if k == 0]
        return torch.cat([mean[numeric].nan_to_num(0.0), mean.new_zeros(self.n_params - self.n_numeric)])

    def forward(self, params: torch.Tensor) -> Distribution:
        params = full_precision(params)
        return MixedColumns(params[..., : self.n_numeric], self.scale(), params[..., self.n_numeric :], self.categories)
