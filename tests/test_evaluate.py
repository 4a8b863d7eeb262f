"""The likelihood estimator, proved on a model whose exact log-likelihood is known."""

from __future__ import annotations

import math

import pytest
import torch

from linear_gaussian import linear_gaussian_vae, set_optimal_posterior
from vaekit import build_vae, elbo, iwae
from vaekit.evaluate import MAX_DRAWS, active_units, default_max_draws, evaluate_model, importance_sample


def _shifted_model(linear_model, shift: float = 0.3):
    w, b, noise, x, exact = linear_model
    vae = linear_gaussian_vae(w, b, noise)
    set_optimal_posterior(vae, w, b, noise)
    with torch.no_grad():
        vae.encoder.trunk.bias[:3] += shift  # a posterior that is off the true one: shifted
        vae.encoder.trunk.bias[3:] += 0.5  # and wider, so the importance weights have finite variance
    return vae, x, exact


def test_estimate_is_below_the_exact_likelihood_and_converges_as_k_grows(linear_model):
    vae, x, exact = _shifted_model(linear_model, shift=0.7)  # far off, so convergence takes many draws
    gaps, errors = {}, {}
    for k in (1, 10, 100, 1000, 10_000):
        # average over independent seeds: the bound holds in expectation
        runs = torch.stack([(exact - importance_sample(vae, x, k=k, seed=s).log_px).mean() for s in range(8)])
        gaps[k], errors[k] = float(runs.mean()), float(runs.std() / math.sqrt(len(runs)))
    assert gaps[1] > 2.0, gaps  # the ELBO is clearly loose here
    ks = list(gaps)
    for a, b in zip(ks[:-1], ks[1:], strict=False):  # it does not fall as k grows (beyond Monte Carlo error)
        assert gaps[a] > gaps[b] - 3 * (errors[a] + errors[b]), (gaps, errors)
    assert gaps[1] > 10 * gaps[100] and gaps[100] > 5 * abs(gaps[10_000]), gaps
    assert -3 * errors[10_000] < gaps[10_000] < 0.01, (gaps, errors)  # below log p(x), and converged to it


def test_estimate_is_exact_at_the_true_posterior_for_any_chunking(linear_model):
    w, b, noise, x, exact = linear_model
    vae = linear_gaussian_vae(w, b, noise)
    set_optimal_posterior(vae, w, b, noise)
    # 7 draws through chunks of at most 3 (example, draw) pairs: uneven chunks over examples and draws
    result = importance_sample(vae, x, k=7, max_draws=3, seed=0)
    # (exact up to the float32 rounding of the posterior scale in set_optimal_posterior)
    torch.testing.assert_close(result.log_px, exact, atol=1e-6, rtol=1e-7)
    # the reported ELBO terms: E[-log p(x|z)] + analytic KL, equal to -log p(x) up to Monte Carlo error
    big = importance_sample(vae, x, k=20_000, seed=1)
    assert (big.recon + big.kl + exact).abs().mean() < 0.02


def test_k_equal_1_is_the_elbo_on_the_same_draw(linear_model):
    vae, x, _ = _shifted_model(linear_model)
    torch.manual_seed(3)
    draw = vae(x, 1)
    single_draw_elbo = draw.log_w(x)[0]
    estimate = importance_sample(vae, x, k=1, seed=3)
    torch.testing.assert_close(estimate.log_px, single_draw_elbo)
    torch.manual_seed(3)
    bound = iwae(vae, x, n_samples=1)
    torch.testing.assert_close(bound.terms["loss"], -single_draw_elbo)
    # the ELBO objective sees the same reconstruction term on the same draw (its KL is analytic)
    torch.manual_seed(3)
    torch.testing.assert_close(elbo(vae, x).terms["recon"], bound.terms["recon"])


def test_iwae_bound_rises_with_k(linear_model):
    vae, x, exact = _shifted_model(linear_model)
    bounds = []
    for k in (1, 5, 50):
        torch.manual_seed(0)
        with torch.no_grad():
            bounds.append(float(torch.stack([-iwae(vae, x, n_samples=k).loss for _ in range(200)]).mean()))
    assert bounds[0] < bounds[1] < bounds[2] < float(exact.mean()), (bounds, float(exact.mean()))


def test_seed_makes_the_estimate_repeatable_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    vae = build_vae((1, 6, 6), latent_dim=3, hidden=(16,))
    x = torch.rand(10, 1, 6, 6).bernoulli()
    state = torch.get_rng_state()
    a = evaluate_model(vae, x, k=50, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = evaluate_model(vae, x, k=50, seed=7)
    c = evaluate_model(vae, x, k=50, seed=8)
    assert a.nll == b.nll != c.nll
    assert a.bits_per_dim == a.nll / (36 * math.log(2))
    assert len(a.kl_per_dim) == 3 and abs(sum(a.kl_per_dim) - a.kl) < 1e-4
    assert a.nll <= a.neg_elbo + 1e-4  # k = 50 tightens the bound (here far beyond its standard error)


def test_active_units_count_dimensions_whose_posterior_mean_moves_with_x():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(500, 4, generator=g) * torch.tensor([1.0, 0.5, 0.05, 0.0])
    assert active_units(means).tolist() == [True, True, False, False]
    vae = build_vae((5,), latent_dim=4, hidden=(8,), likelihood="gaussian")
    with torch.no_grad():  # the mean head of latent dims 2 and 3 ignores the input
        last = vae.encoder.trunk[1][-1]
        last.weight[2:4] = 0
    result = evaluate_model(vae, torch.randn(200, 5), k=10)
    assert result.active_units_per_layer == [result.active_units] and result.active_units <= 2


def test_every_model_kind_is_evaluated_by_the_same_evaluator():
    torch.manual_seed(0)
    x = torch.rand(12, 1, 5, 5).bernoulli()
    for overrides, dims in (
        ({"prior": "mog", "components": 3}, [4]),
        ({"prior": "vamp", "components": 4}, [4]),
        ({"ladder": (6,)}, [6, 4]),
        ({"ladder": (6, 5), "prior": "vamp", "components": 3}, [6, 5, 4]),
    ):
        vae = build_vae((1, 5, 5), latent_dim=4, hidden=(16,), **overrides)
        vae.init_from_data(x)
        result = evaluate_model(vae, x, k=20)
        assert result.latent_dims == dims, overrides
        assert math.isfinite(result.nll) and result.nll < result.neg_elbo + 1.0, overrides
        assert (result.kl_per_dim is None) == (overrides.get("prior", "normal") != "normal"), overrides


def test_pass_size_defaults_to_the_device_and_does_not_change_the_estimate():
    assert default_max_draws(torch.device("cpu")) == MAX_DRAWS
    assert default_max_draws(torch.device("cuda")) > MAX_DRAWS  # a GPU wants larger passes
    torch.manual_seed(0)
    vae = build_vae((6,), hidden=(8,), latent_dim=2, likelihood="bernoulli")
    x = (torch.rand(5, 6) < 0.5).float()
    # k = 3000 > max_draws: one example at a time, its draws split over passes, drawn in the same order
    by_default = importance_sample(vae, x, k=3000, seed=0).log_px
    for max_draws in (MAX_DRAWS, 2048):
        torch.testing.assert_close(importance_sample(vae, x, k=3000, seed=0, max_draws=max_draws).log_px, by_default)


@pytest.mark.parametrize("ladder", [(), (2,)])
def test_evaluation_builds_p_z_once_and_a_given_p_z_is_the_models_own(ladder):
    """A VampPrior is encoded once per evaluation, not once per pass of draws; the estimate does not change."""
    torch.manual_seed(0)
    vae = build_vae(
        (1, 8, 8), prior="vamp", components=6, likelihood="bernoulli", latent_dim=3, hidden=(16,), ladder=ladder
    )
    x = (torch.rand(4, 1, 8, 8) < 0.3).float()
    calls = []
    encode = vae.prior.encode
    vae.prior.encode = lambda u: calls.append(len(u)) or encode(u)  # counts the pseudo-input encodings
    once = importance_sample(vae, x, k=64, max_draws=32)
    assert calls == [6]  # one encoding of the 6 pseudo-inputs for 8 passes of draws
    eps = torch.randn(5, 1, 3 + sum(ladder))
    with torch.no_grad():
        given, built = vae(x, eps=eps, pz=vae.prior()), vae(x, eps=eps)
    torch.testing.assert_close(given.log_pz, built.log_pz)
    torch.testing.assert_close(given.kl, built.kl)  # so the importance weights are the same
    assert once.log_px.isfinite().all()
