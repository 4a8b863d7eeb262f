"""Likelihood heads: turn a trunk's raw output into a ``torch.distributions`` object.

Every head declares its event dimensions once with :class:`~torch.distributions.Independent`, so
``log_prob`` returns one number per example, and sample dimensions lead: ``(*sample, batch, *event)``.

Sampling has one spelling across the library: ``sample(sample_shape, *, temperature=1.0, generator=None)`` on
this module's distributions, ``sample(n, *, temperature=1.0, generator=None)`` on priors, and
:func:`sample_from` for any distribution a head returns (torch's own included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Categorical, Distribution, Independent, Normal, constraints, kl_divergence

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


@runtime_checkable
class LikelihoodHead(Protocol):
    """What a :class:`~vaekit.model.Decoder` needs of its head: raw trunk output -> p(x|z).

    - ``params_per_dim``: numbers per data dimension (the bias layout :meth:`param_for_mean` fills);
    - ``n_params``: how many numbers the trunk must output per example (``params_per_dim * prod(x_shape)`` for
      a per-dimension head; a table of categorical columns needs one logit per level);
    - ``param_shape``: how those ``n_params`` numbers are laid out, ``(*lead, *param_shape)`` goes in;
    - ``param_for_mean(mean)``: the parameters whose distribution has this mean (the output bias at init);
    - ``forward(params) -> Distribution`` with ``batch_shape == lead`` and ``event_shape == x_shape``.

    :class:`BernoulliHead`, :class:`GaussianHead` and :class:`MixedTableHead` satisfy it;
    :class:`DiagonalGaussianHead` is the encoder's head and does not.
    """

    params_per_dim: int

    @property
    def n_params(self) -> int: ...

    @property
    def param_shape(self) -> tuple[int, ...]: ...

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor: ...

    def forward(self, params: torch.Tensor) -> Distribution: ...


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
        self.x_shape = tuple(int(d) for d in x_shape)
        self.event_ndim = len(x_shape)
        self.independent = MaskedIndependent if missing else Independent

    @property
    def param_shape(self) -> tuple[int, ...]:
        """``(1, *x_shape)``: one logit per data dimension."""
        return (self.params_per_dim, *self.x_shape)

    @property
    def n_params(self) -> int:
        """``prod(x_shape)`` logits per example."""
        return math.prod(self.param_shape)

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The logit whose Bernoulli has this mean (clamped away from 0 and 1)."""
        return torch.logit(mean.clamp(1e-3, 1 - 1e-3))

    def forward(self, params: torch.Tensor) -> Distribution:
        logits = full_precision(params.squeeze(-self.event_ndim - 1))
        return self.independent(BernoulliLogits(logits=logits, validate_args=False), self.event_ndim)


class GaussianHead(nn.Module):
    """p(x|z) = prod_i N(x_i; mu_i(z), sigma_i^2) with sigma fixed, or learned per data dimension.

    A learned sigma is one free parameter per data dimension, shared by all examples (as in the calibrated
    decoder of the sigma-VAE, Rybkin, Daniilidis & Levine 2021, "Simple and Effective VAE Training with
    Calibrated Decoders", arXiv:2006.13202, per dimension rather than global).
    ``params`` has shape ``(*lead, 1, *x_shape)``.
    """

    params_per_dim = 1

    def __init__(
        self, x_shape: Sequence[int], sigma: float | None = None, init_sigma: float = 0.5, missing: bool = False
    ):
        super().__init__()
        self.x_shape = tuple(int(d) for d in x_shape)
        self.event_ndim = len(x_shape)
        self.independent = MaskedIndependent if missing else Independent
        self.learned = sigma is None
        if self.learned:
            self.raw_scale = nn.Parameter(torch.full(tuple(x_shape), inverse_softplus(init_sigma)))
        else:
            self.register_buffer("fixed_scale", torch.full(tuple(x_shape), float(sigma)))

    @property
    def param_shape(self) -> tuple[int, ...]:
        """``(1, *x_shape)``: one mean per data dimension."""
        return (self.params_per_dim, *self.x_shape)

    @property
    def n_params(self) -> int:
        """``prod(x_shape)`` means per example."""
        return math.prod(self.param_shape)

    def scale(self) -> torch.Tensor:
        """sigma per data dimension, ``x_shape``."""
        return positive_scale(self.raw_scale, 1e-3) if self.learned else self.fixed_scale

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """The Gaussian's mean is its parameter."""
        return mean

    def forward(self, params: torch.Tensor) -> Distribution:
        loc = full_precision(params.squeeze(-self.event_ndim - 1))
        return self.independent(Normal(loc, self.scale().expand_as(loc)), self.event_ndim)


class TemperedDistribution(Distribution):
    """A distribution whose ``sample`` takes the library's sampling keywords.

    ``sample(sample_shape=(), *, temperature=1.0, generator=None) -> (*sample_shape, *batch, *event)``:
    ``temperature`` T scales the spread: T = 1 is the distribution itself, T = 0 puts each factor at its most
    likely value (a mixture still draws its component); ``generator`` makes the draws repeatable. ``sample``
    is never reparameterised (no gradient).
    """

    def sample(
        self,
        sample_shape: torch.Size | Sequence[int] = torch.Size(),
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


class DiagonalGaussianMixture(TemperedDistribution):
    """p(z) = sum_k pi_k N(z; mu_k, diag sigma_k^2), a mixture of K diagonal Gaussians over ``d`` dimensions.

    ``logits (*batch, K)``, ``loc (*batch, K, d)``, ``scale (*batch, K, d)``; ``event_shape == (d,)`` and
    ``batch_shape == batch`` (empty for a prior). ``log_prob`` expands the square
    ``sum_j (z_j - mu_kj)^2 / sigma_kj^2`` into three matrix products, so scoring N points against K components
    takes O(N K) memory instead of the O(N K d) of :class:`~torch.distributions.MixtureSameFamily` (it matters
    for the VampPrior's K = 500 components under k = 5000 importance samples).
    """

    arg_constraints = {
        "logits": constraints.real_vector,
        "loc": constraints.independent(constraints.real, 2),
        "scale": constraints.independent(constraints.positive, 2),
    }
    support = constraints.real_vector
    has_rsample = False

    def __init__(
        self, logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, validate_args: bool | None = False
    ):
        self.logits, self.loc, self.scale = logits, loc, scale
        batch_shape = torch.broadcast_shapes(logits.shape[:-1], loc.shape[:-2], scale.shape[:-2])
        super().__init__(batch_shape=batch_shape, event_shape=loc.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape: torch.Size | Sequence[int], _instance=None) -> DiagonalGaussianMixture:
        """The same mixture repeated over ``batch_shape`` (parameters are broadcast views, not copies)."""
        new = self._get_checked_instance(DiagonalGaussianMixture, _instance)
        batch_shape = torch.Size(batch_shape)
        k, d = self.loc.shape[-2:]
        new.logits = self.logits.expand(*batch_shape, k)
        new.loc = self.loc.expand(*batch_shape, k, d)
        new.scale = self.scale.expand(*batch_shape, k, d)
        super(DiagonalGaussianMixture, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _flat_parameters(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``logits (B, K)``, ``loc (B, K, d)``, ``scale (B, K, d)`` with the batch flattened to B."""
        b, (k, d) = self.batch_shape.numel(), self.loc.shape[-2:]
        return (
            self.logits.expand(*self.batch_shape, k).reshape(b, k),
            self.loc.expand(*self.batch_shape, k, d).reshape(b, k, d),
            self.scale.expand(*self.batch_shape, k, d).reshape(b, k, d),
        )

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for ``z (*sample, *batch, d)``; returns ``(*sample, *batch)``."""
        if self._validate_args:
            self._validate_sample(z)
        batch, d = self.batch_shape, self.event_shape[0]
        shape = torch.broadcast_shapes(z.shape, (*batch, d))
        sample = shape[: len(shape) - len(batch) - 1]
        # The expanded square cancels catastrophically when a component is narrow (precision 1e6 times values
        # of order 1), so it is computed in float64 and outside any bf16 autocast region.
        wide = torch.float32 if z.device.type == "mps" else torch.float64
        with torch.autocast(z.device.type, enabled=False):
            flat = z.expand(shape).reshape(sample.numel(), batch.numel(), d).transpose(0, 1).to(wide)  # (B, N, d)
            logits, loc, scale = (t.to(wide) for t in self._flat_parameters())
            prec = scale.pow(-2)  # (B, K, d)
            # sum_j (z_j - m_kj)^2 p_kj = z^2 . p_k - 2 z . (m p)_k + sum_j m_kj^2 p_kj
            quad = flat.pow(2) @ prec.mT - 2 * flat @ (loc * prec).mT + (loc.pow(2) * prec).sum(-1).unsqueeze(1)
            log_norm = -scale.log().sum(-1) - 0.5 * d * math.log(2 * math.pi)  # (B, K)
            log_comp = (log_norm + torch.log_softmax(logits, -1)).unsqueeze(1) - 0.5 * quad.clamp(min=0)
            out = torch.logsumexp(log_comp, dim=-1)  # (B, N)
        return out.transpose(0, 1).reshape(sample + batch).to(z.dtype)

    @property
    def mean(self) -> torch.Tensor:
        """E[z] = sum_k pi_k mu_k, ``(*batch, d)``."""
        return (torch.softmax(self.logits, -1).unsqueeze(-1) * self.loc).sum(-2)

    def sample(
        self,
        sample_shape: torch.Size | Sequence[int] = torch.Size(),
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draws ``(*sample_shape, *batch, d)``: a component k ~ pi, then mu_k + T sigma_k eps, eps ~ N(0, I).

        T scales each component's spread, not the weights: at T = 0 a draw is the mean of a random component.
        """
        shape = torch.Size(sample_shape)
        n, b = shape.numel(), self.batch_shape.numel()
        with torch.no_grad():
            logits, loc, scale = self._flat_parameters()
            k = torch.multinomial(torch.softmax(logits, -1), n, replacement=True, generator=generator)  # (B, n)
            rows = torch.arange(b, device=loc.device).unsqueeze(-1)
            eps = torch.randn(b, n, loc.shape[-1], generator=generator, dtype=loc.dtype, device=loc.device)
            z = loc[rows, k] + temperature * scale[rows, k] * eps  # (B, n, d)
        return z.transpose(0, 1).reshape(*shape, *self.batch_shape, -1)


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


class PerColumn(constraints.Constraint):
    """A constraint per column of the last dimension; one verdict per row (``event_dim == 1``)."""

    event_dim = 1

    def __init__(self, columns: Sequence[constraints.Constraint]):
        self.columns = tuple(columns)
        self.is_discrete = all(c.is_discrete for c in self.columns)

    def check(self, value: torch.Tensor) -> torch.Tensor:
        """``(*lead,)`` booleans for ``value (*lead, n_columns)``."""
        return torch.stack([c.check(value[..., j]) for j, c in enumerate(self.columns)], -1).all(-1)


@torch.no_grad()
def sample_from(
    dist: Distribution,
    sample_shape: torch.Size | Sequence[int] = torch.Size(),
    *,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``dist.sample(sample_shape)`` at temperature T with an explicit generator, for any likelihood here.

    T scales the spread: Normal draws mu + T sigma eps; Bernoulli and Categorical draw from sigmoid(l / T) and
    softmax(l / T), the argmax (a 0.5 threshold) at T = 0. This module's own distributions (and the melody
    decoder's) take the keywords themselves; ``Independent`` samples its base. With T = 1 and no generator any
    distribution is sampled by its own ``sample``; another distribution refuses T != 1 or a generator with a
    ``TypeError``. Shape ``(*sample_shape, *batch, *event)``.
    """
    shape = torch.Size(sample_shape)
    if temperature == 1.0 and generator is None:
        return dist.sample(shape)
    if isinstance(dist, Independent):
        return sample_from(dist.base_dist, shape, temperature=temperature, generator=generator)
    if isinstance(dist, Normal):
        loc, scale = dist.loc, dist.scale
        eps = torch.randn(shape + dist.batch_shape, generator=generator, dtype=loc.dtype, device=loc.device)
        return loc + temperature * scale * eps
    if isinstance(dist, Bernoulli):
        logits = dist.logits
        if temperature == 0:
            return (logits > 0).to(logits.dtype).expand(shape + dist.batch_shape)
        probs = torch.sigmoid(logits / temperature).expand(shape + dist.batch_shape)
        return torch.bernoulli(probs, generator=generator)
    if isinstance(dist, Categorical):
        logits = dist.logits
        if temperature == 0:
            return logits.argmax(-1).expand(shape + dist.batch_shape)
        probs = torch.softmax(logits / temperature, -1).reshape(-1, logits.shape[-1])
        draws = torch.multinomial(probs, max(shape.numel(), 1), replacement=True, generator=generator)  # (B, n)
        return draws.T[: shape.numel()].reshape(shape + dist.batch_shape)
    if isinstance(dist, TemperedDistribution):
        return dist.sample(shape, temperature=temperature, generator=generator)
    raise TypeError(f"a {type(dist).__name__} cannot be sampled with a temperature or a generator")


class MixedColumns(TemperedDistribution):
    """p(x|z) over table rows whose columns are numeric or categorical.

    Numeric column j: N(x_j; mu_j, s_j^2). Categorical column j with K_j levels (stored as the level's index
    0..K_j-1): Categorical(x_j; softmax(l_j)). log p(x|z) = sum_j log p(x_j|z) over the observed columns (NaN is
    missing and adds 0). ``loc`` is ``(*batch, n_numeric)``, ``scale`` broadcasts to it, ``logits`` is
    ``(*batch, sum K_j)``; ``event_shape == (n_columns,)``. ``mean`` holds the numeric means and, for a
    categorical column, the most probable level.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "logits": constraints.real}

    def __init__(
        self,
        loc: torch.Tensor,
        scale: torch.Tensor,
        logits: torch.Tensor,
        categories: Sequence[int],
        validate_args: bool | None = False,
    ):
        self.categories = tuple(int(k) for k in categories)
        self.numeric = [j for j, k in enumerate(self.categories) if k == 0]
        self.categorical = [j for j, k in enumerate(self.categories) if k > 0]
        self.loc, self.scale, self.logits = loc, scale.expand_as(loc), logits
        batch = loc.shape[:-1] if self.numeric else logits.shape[:-1]
        super().__init__(batch_shape=batch, event_shape=torch.Size([len(self.categories)]), validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=1)
    def support(self) -> constraints.Constraint:
        """Real numeric columns, level indices 0..K_j-1 in categorical ones (NaN, "missing", is outside it)."""
        return PerColumn([constraints.integer_interval(0, k - 1) if k else constraints.real for k in self.categories])

    def expand(self, batch_shape: torch.Size | Sequence[int], _instance=None) -> MixedColumns:
        """The same columns' distribution repeated over ``batch_shape`` (broadcast views of the parameters)."""
        new = self._get_checked_instance(MixedColumns, _instance)
        batch_shape = torch.Size(batch_shape)
        new.categories, new.numeric, new.categorical = self.categories, self.numeric, self.categorical
        new.loc = self.loc.expand(*batch_shape, self.loc.shape[-1])
        new.scale = self.scale.expand(*batch_shape, self.scale.shape[-1])
        new.logits = self.logits.expand(*batch_shape, self.logits.shape[-1])
        super(MixedColumns, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

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
            index = filled[..., j].long().clamp(0, self.categories[j] - 1).expand(shape[:-1])
            log_p = log_p.expand(*shape[:-1], log_p.shape[-1])
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

    def sample(
        self,
        sample_shape: torch.Size | Sequence[int] = torch.Size(),
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draws ``(*sample_shape, *batch, n_columns)``: numeric mu_j + T s_j eps, levels ~ softmax(l_j / T).

        At T = 0 a row is :attr:`mean` (each categorical column at its most probable level).
        """
        shape = torch.Size(sample_shape)
        with torch.no_grad():
            numeric = None
            if self.numeric:
                normal = Normal(self.loc, self.scale, validate_args=False)
                numeric = sample_from(normal, shape, temperature=temperature, generator=generator)
            levels = [
                sample_from(
                    Categorical(logits=lp, validate_args=False), shape, temperature=temperature, generator=generator
                )
                for lp in self.log_softmax_per_column()
            ]
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
        """s_j per numeric column, ``(n_numeric,)``."""
        return positive_scale(self.raw_scale, 1e-3) if self.learned else self.fixed_scale

    def param_for_mean(self, mean: torch.Tensor) -> torch.Tensor:
        """Numeric means start at the data's column means; categorical logits at 0 (all levels equally likely)."""
        numeric = [j for j, k in enumerate(self.categories) if k == 0]
        return torch.cat([mean[numeric].nan_to_num(0.0), mean.new_zeros(self.n_params - self.n_numeric)])

    def forward(self, params: torch.Tensor) -> Distribution:
        params = full_precision(params)
        return MixedColumns(params[..., : self.n_numeric], self.scale(), params[..., self.n_numeric :], self.categories)
