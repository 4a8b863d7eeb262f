"""Declared interfaces: every model is a LatentModel, every decoder head a LikelihoodHead, the library's own
distributions behave as torch's do (support, expand, arg_constraints), sampling has one signature, and a
forward pass with fixed noise is the importance sampler's draw."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Categorical,
    Independent,
    MixtureSameFamily,
    Normal,
)

from vaekit import build_vae
from vaekit.distributions import (
    BernoulliHead,
    DiagonalGaussianHead,
    DiagonalGaussianMixture,
    GaussianHead,
    LikelihoodHead,
    MixedColumns,
    MixedTableHead,
    TemperedDistribution,
    kl_per_dim,
    log_prob_observed,
    sample_from,
)
from vaekit.evaluate.conditional import common_noise, row_chunks, weighted_draws
from vaekit.evaluate.likelihood import chunks, importance_sample, pass_sizes
from vaekit.model import LatentModel, StandardNormalPrior, module_device
from vaekit.music.model import AutoregressiveCategorical

SMALL = {"latent_dim": 3, "hidden": (16,)}
MODELS = {
    "plain": ((6,), SMALL),
    "conditional": ((6,), {**SMALL, "classes": 3}),
    "ladder": ((6,), {**SMALL, "ladder": (4,)}),
    # the VampPrior paper's HVAE: gated layers, q(z1 | x, z2) by a network, pseudo-inputs in [0, 1]
    "hvae": (
        (6,),
        {
            **SMALL,
            "ladder": (4,),
            "inference": "conditional",
            "activation": "gated",
            "prior": "vamp",
            "components": 5,
            "pseudo_inputs": "hardtanh",
        },
    ),
    "vamp": ((6,), {**SMALL, "prior": "vamp", "components": 5}),
    "melody": ((32,), {"arch": "melody", "latent_dim": 4, "hidden": (16, 16)}),
}


def _model(name: str):
    torch.manual_seed(0)
    x_shape, kw = MODELS[name]
    return build_vae(x_shape, **kw)


def _data(name: str, n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if name == "melody":
        return torch.randint(0, 10, (n, 32), generator=g).float()
    return torch.rand(n, 6, generator=g)


# --- the latent-model protocol -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_is_a_latent_model_and_keeps_its_contract(name):
    vae = _model(name)
    assert isinstance(vae, LatentModel)
    x = _data(name)
    y = torch.tensor([0, 1, 2, 0]) if name == "conditional" else None
    assert vae.n_classes == (3 if name == "conditional" else 0)
    assert vae.device == torch.device("cpu")
    assert vae.latent_dims[-1] == vae.latent_dim
    assert vae.latent_dims == ((4, 3) if name in ("ladder", "hvae") else (vae.latent_dim,))
    qz = vae.encode(x, y)
    assert qz.batch_shape == (4,) and qz.event_shape == (vae.latent_dim,)
    px = vae.decode(qz.mean, y)
    assert px.batch_shape == (4,) and px.event_shape == vae.x_shape
    draw = vae(x, 2, y)
    assert draw.z.shape == (2, 4, vae.latent_dim) and draw.px.log_prob(x).shape == (2, 4)
    assert vae.sample(4, generator=torch.Generator().manual_seed(0), y=y).shape == (4, *vae.x_shape)
    assert vae.reconstruct(x, y).shape == x.shape


def test_a_component_is_not_a_latent_model_and_the_ladder_refuses_labels():
    ladder = _model("ladder")
    assert not isinstance(ladder.decoder, LatentModel)
    assert not isinstance(_model("plain").encoder, LatentModel)
    y = torch.zeros(4, dtype=torch.long)
    for call in (
        lambda: ladder.encode(_data("ladder"), y),
        lambda: ladder(_data("ladder"), y=y),
        lambda: ladder.sample(4, y=y),
        lambda: ladder.reconstruct(_data("ladder"), y),
    ):
        with pytest.raises(ValueError, match="not conditional"):
            call()


def test_device_follows_the_parameters_or_the_buffers():
    vae = _model("plain")
    assert vae.device == torch.device("cpu")
    assert vae.to("meta").device == torch.device("meta")
    prior = StandardNormalPrior(3)  # buffers only
    assert module_device(prior) == torch.device("cpu") and module_device(prior.to("meta")) == torch.device("meta")
    assert module_device(torch.nn.Identity()) == torch.device("cpu")


# --- the likelihood-head protocol ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "x_shape", "n_params"),
    [
        (BernoulliHead((2, 3, 3)), (2, 3, 3), 18),
        (GaussianHead((5,), sigma=0.3), (5,), 5),
        (GaussianHead((1, 4, 4)), (1, 4, 4), 16),
        (MixedTableHead((0, 3, 0, 2)), (4,), 2 + 3 + 2),
    ],
)
def test_decoder_heads_declare_their_parameters(head, x_shape, n_params):
    assert isinstance(head, LikelihoodHead)
    assert head.n_params == n_params == math.prod(head.param_shape)
    params = torch.randn(7, n_params)
    px = head(params.view(7, *head.param_shape))
    assert px.batch_shape == (7,) and px.event_shape == x_shape
    # param_for_mean inverts the mean: a head started at the data mean predicts the data mean
    mean = torch.rand(x_shape) * 0.8 + 0.1
    if isinstance(head, MixedTableHead):
        mean[1], mean[3] = 2.0, 0.0  # levels; their logits start at 0, every level equally likely
    start = head(head.param_for_mean(mean).view(1, *head.param_shape))
    if isinstance(head, MixedTableHead):
        torch.testing.assert_close(start.mean[0, [0, 2]], mean[[0, 2]])
        torch.testing.assert_close(start.probs_per_column()[0][0], torch.full((3,), 1 / 3))
    else:
        torch.testing.assert_close(start.mean[0], mean)


def test_the_encoder_head_is_not_a_likelihood_head_and_built_decoders_use_n_params():
    assert not isinstance(DiagonalGaussianHead(), LikelihoodHead)
    for kw in ({}, {"likelihood": "gaussian"}, {"likelihood": "mixed", "categories": (0, 3, 0, 0, 2, 0)}):
        vae = build_vae((6,), **SMALL, **kw)
        assert isinstance(vae.decoder.head, LikelihoodHead)
        assert vae.decoder.trunk(torch.zeros(1, 3)).shape[-1] == vae.decoder.head.n_params


# --- the library's distributions: support, expand, arg_constraints, one sampling signature ----------------


def _mixture(batch=()):
    g = torch.Generator().manual_seed(0)
    k, d = 4, 3
    return DiagonalGaussianMixture(
        torch.randn(*batch, k, generator=g),
        torch.randn(*batch, k, d, generator=g),
        torch.rand(*batch, k, d, generator=g) + 0.2,
    )


def _mixed_columns(batch=(2,)):
    g = torch.Generator().manual_seed(0)
    categories = (0, 3, 0, 2)
    return MixedColumns(
        torch.randn(*batch, 2, generator=g),
        torch.rand(2, generator=g) + 0.5,
        torch.randn(*batch, 5, generator=g),
        categories,
    )


def _sequences(batch=(2,)):
    vae = _model("melody")
    return vae.decode(torch.randn(*batch, vae.latent_dim, generator=torch.Generator().manual_seed(0)))


DISTRIBUTIONS = {"mixture": _mixture, "mixed_columns": _mixed_columns, "sequences": _sequences}


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_expand_repeats_the_distribution_over_a_batch(name):
    dist = DISTRIBUTIONS[name]()
    big = dist.expand((5, *dist.batch_shape))
    assert type(big) is type(dist) and big.batch_shape == (5, *dist.batch_shape)
    assert big.event_shape == dist.event_shape
    x = dist.sample(generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(big.log_prob(x), dist.log_prob(x).expand(5, *dist.batch_shape))
    assert big.sample((3,), generator=torch.Generator().manual_seed(2)).shape == (
        3,
        5,
        *dist.batch_shape,
        *dist.event_shape,
    )


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.0])
def test_samples_lie_in_the_support_and_a_generator_repeats_them(name, temperature):
    dist = DISTRIBUTIONS[name]()
    assert isinstance(dist, TemperedDistribution) and dist.support.event_dim == 1
    draws = dist.sample((6,), temperature=temperature, generator=torch.Generator().manual_seed(3))
    assert draws.shape == (6, *dist.batch_shape, *dist.event_shape)
    verdict = dist.support.check(draws)
    assert verdict.shape == (6, *dist.batch_shape) and verdict.all()
    again = dist.sample((6,), temperature=temperature, generator=torch.Generator().manual_seed(3))
    assert torch.equal(draws, again)
    assert dist.log_prob(draws).isfinite().all()


def test_the_support_rejects_values_outside_it():
    cols = _mixed_columns(())
    assert cols.support.check(torch.tensor([0.3, 2.0, -1.0, 1.0])).item()
    assert not cols.support.check(torch.tensor([0.3, 3.0, -1.0, 1.0])).item()  # level 3 of a 3-level column
    assert not cols.support.check(torch.tensor([0.3, 1.5, -1.0, 1.0])).item()
    seq = _sequences(())
    assert not seq.support.check(torch.full((32,), float(seq.decoder.n_tokens))).item()


def test_at_temperature_zero_draws_are_the_most_likely_values():
    mix = _mixture()
    z = mix.sample((50,), temperature=0.0, generator=torch.Generator().manual_seed(0))
    nearest = (z.unsqueeze(-2) - mix.loc).abs().amax(-1).min(-1).values  # each draw is a component's mean
    assert nearest.max() == 0
    cols = _mixed_columns()
    assert torch.equal(cols.sample((3,), temperature=0.0), cols.mean.expand(3, -1, -1))
    seq = _sequences()
    assert torch.equal(seq.sample(temperature=0.0, generator=torch.Generator().manual_seed(5)), seq.mode)
    assert torch.equal(seq.tokens(greedy=True), seq.mode)  # the older spelling


def test_arg_constraints_are_checked_when_validation_is_asked_for():
    with pytest.raises(ValueError, match="scale"):
        DiagonalGaussianMixture(torch.zeros(2), torch.zeros(2, 3), -torch.ones(2, 3), validate_args=True)
    with pytest.raises(ValueError, match="scale"):
        MixedColumns(torch.zeros(1, 1), -torch.ones(1), torch.zeros(1, 2), (0, 2), validate_args=True)
    ok = DiagonalGaussianMixture(torch.zeros(2), torch.zeros(2, 3), torch.ones(2, 3), validate_args=True)
    with pytest.raises(ValueError):
        ok.log_prob(torch.zeros(4))  # not an event of 3 dimensions


def test_a_batched_mixture_scores_as_torch_mixture_same_family():
    mix = _mixture((2,))
    torch_mix = MixtureSameFamily(Categorical(logits=mix.logits), Independent(Normal(mix.loc, mix.scale), 1))
    z = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(mix.log_prob(z), torch_mix.log_prob(z))
    torch.testing.assert_close(mix.mean, torch_mix.mean)
    draws = mix.sample((20_000,), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(draws.mean(0), torch_mix.mean, atol=0.05, rtol=0)


def test_sample_from_gives_torch_likelihoods_the_same_keywords():
    g = torch.Generator().manual_seed(0)
    normal = Independent(Normal(torch.randn(3, 4, generator=g), torch.rand(3, 4, generator=g) + 0.1), 1)
    bern = Independent(Bernoulli(logits=torch.randn(3, 4, generator=g)), 1)
    for px in (normal, bern):
        a = sample_from(px, (5,), generator=torch.Generator().manual_seed(1))
        b = sample_from(px, (5,), generator=torch.Generator().manual_seed(1))
        assert a.shape == (5, 3, 4) and torch.equal(a, b)
        assert px.support.check(a).all()
    torch.testing.assert_close(sample_from(normal, temperature=0.0), normal.mean)
    assert torch.equal(sample_from(bern, temperature=0.0), (bern.base_dist.logits > 0).float())
    cold = sample_from(normal, (20_000,), temperature=0.5, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(cold.std(0), 0.5 * normal.stddev, rtol=0.05, atol=0)


def test_priors_take_the_sampling_keywords_by_name_only():
    for name in ("plain", "vamp"):
        prior = _model(name).prior
        a = prior.sample(4, temperature=0.5, generator=torch.Generator().manual_seed(0))
        assert torch.equal(a, prior.sample(4, temperature=0.5, generator=torch.Generator().manual_seed(0)))
        with pytest.raises(TypeError):
            prior.sample(4, 0.5)


@pytest.mark.parametrize("name", list(MODELS))
def test_sampling_with_a_generator_leaves_the_global_rng_alone(name):
    vae, y = _model(name), (torch.tensor([0, 1, 2, 0]) if name == "conditional" else None)
    state = torch.get_rng_state()
    for mean in (True, False):
        a = vae.sample(4, generator=torch.Generator().manual_seed(7), mean=mean, y=y)
        assert torch.equal(a, vae.sample(4, generator=torch.Generator().manual_seed(7), mean=mean, y=y))
    assert torch.equal(state, torch.get_rng_state())


# --- forward with fixed noise is the importance sampler's draw ----------------------------------------------


def _weighted_draws_before(vae, x, eps):
    """weighted_draws as it was before VAE.forward took eps (commit ccbd318): its own re-implementation."""
    missing = torch.isnan(x)
    seen = torch.where(missing, 0.0, x)
    qz = vae.encode(seen)
    z = qz.mean + qz.stddev * eps
    pz = vae.prior()
    px = vae.decode(z)
    per_dim = kl_per_dim(qz, pz)
    return log_prob_observed(px, x), pz.log_prob(z), qz.log_prob(z), None if per_dim is None else per_dim.sum(-1)


@pytest.mark.parametrize(
    "kw",
    [
        {"likelihood": "gaussian"},
        {"likelihood": "bernoulli"},
        {"prior": "mog", "components": 4},
        {"prior": "vamp", "components": 4},
        {"missing": True},
    ],
)
def test_forward_with_eps_is_mu_plus_sigma_eps_and_reproduces_the_old_weighted_draws(kw):
    torch.manual_seed(0)
    vae = build_vae((6,), **SMALL, **kw)
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(1))
    if kw.get("missing"):
        x[0, 0] = x[2, 5] = float("nan")
    eps = common_noise(7, vae.latent_dim, 3)
    seen = torch.nan_to_num(x, 0.0)
    draw = vae(seen, eps=eps)
    qz = vae.encode(seen)
    assert draw.z.shape == (7, 5, 3)
    assert torch.equal(draw.z, qz.mean + qz.stddev * eps)
    new = weighted_draws(vae, x, eps)
    log_px_z, log_pz, log_qz, kl = _weighted_draws_before(vae, x, eps)
    assert torch.equal(new.log_px_z, log_px_z) and torch.equal(new.log_pz, log_pz)
    assert torch.equal(new.log_qz, log_qz)
    if kl is None:
        assert new.kl is None
    else:
        torch.testing.assert_close(new.kl, kl, rtol=1e-6, atol=1e-6)
    # the draw is differentiable in the encoder's parameters (reparameterised)
    vae(seen, eps=eps).z.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.encoder.parameters())
    with pytest.raises(ValueError, match="not both"):
        vae(seen, 7, eps=eps)


def test_a_ladder_with_fixed_noise_for_every_layer_is_repeatable_and_unbiased():
    vae = _model("ladder")
    x = _data("ladder", 3)
    eps = common_noise(4000, sum(vae.latent_dims), 0)
    a, b = vae(x, eps=eps), vae(x, eps=eps)
    assert torch.equal(a.z, b.z) and torch.equal(a.log_w(x), b.log_w(x))
    q_top = vae.encode(x)
    torch.testing.assert_close(a.z, q_top.mean + q_top.stddev * eps[..., vae.latent_dims[0] :])
    with pytest.raises(ValueError, match="sum\\(latent_dims\\)"):
        vae(x, eps=eps[..., : vae.latent_dim])
    # the same estimator of log p(x) as the importance sampler's own draws: they agree within their errors
    d = weighted_draws(vae, x, eps)
    k = len(eps)
    fixed = torch.logsumexp(d.log_w, 0) - math.log(k)
    fresh = importance_sample(vae, x, k=k, seed=0).log_px
    # delta method: sd(log mean w) ~ sd(w) / (sqrt(k) mean(w)), with (sd/mean)^2 = k sum_i p_i^2 - 1, p = softmax
    sem = ((k * torch.softmax(d.log_w, 0).pow(2).sum(0) - 1) / k).sqrt()
    assert ((fixed - fresh).abs() < 4 * math.sqrt(2) * sem + 1e-3).all()


# --- one chunker, no hidden side effects ----------------------------------------------------------------------


@pytest.mark.parametrize(("n", "k", "max_draws"), [(10, 1, 4), (10, 3, 8), (5, 100, 64), (7, 64, 64), (0, 2, 8)])
def test_one_chunker_covers_every_row_within_the_memory_bound(n, k, max_draws):
    per_batch, per_pass = pass_sizes(k, max_draws)
    assert per_batch * min(per_pass, k) <= max(max_draws, 1) and per_batch >= 1 and per_pass >= 1
    rows = list(chunks(n, per_batch))
    assert [i for s in rows for i in range(n)[s]] == list(range(n))
    assert [(s.start, s.stop) for s in row_chunks(n, k, max_draws)] == [(s.start, s.stop) for s in rows]
    draws = list(chunks(k, per_pass))
    assert sum(s.stop - s.start for s in draws) == k


def test_importance_sampling_restores_the_mode_and_the_rng_even_on_error():
    vae = _model("plain").train()
    state = torch.get_rng_state()
    importance_sample(vae, _data("plain"), k=3, seed=0)
    assert vae.training and torch.equal(state, torch.get_rng_state())
    with pytest.raises(RuntimeError):
        importance_sample(vae, torch.zeros(4, 5), k=3, seed=0)  # the wrong shape fails inside the loop
    assert vae.training and torch.equal(state, torch.get_rng_state())


def test_vamp_init_from_data_with_a_generator_is_repeatable():
    a, b = _model("vamp"), _model("vamp")
    x = torch.rand(20, 6, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    a.init_from_data(x, generator=torch.Generator().manual_seed(4))
    b.init_from_data(x, generator=torch.Generator().manual_seed(4))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a.prior.pseudo_inputs, b.prior.pseudo_inputs)
    assert all(any(torch.equal(u, row) for row in x) for u in a.prior.pseudo_inputs)


def test_autoregressive_categorical_is_a_torch_distribution_of_token_sequences():
    seq = _sequences()
    assert isinstance(seq, AutoregressiveCategorical) and seq.arg_constraints
    x = seq.sample((3,), generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.long and seq.log_prob(x).shape == (3, 2)
