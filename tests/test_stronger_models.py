"""Mixture priors, the VampPrior and the Ladder VAE: their densities and their contracts."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

import vaekit
from vaekit import build_vae, elbo, iwae
from vaekit.distributions import DiagonalGaussianMixture


def test_mixture_log_prob_matches_torch_mixture_same_family():
    g = torch.Generator().manual_seed(0)
    logits, loc = torch.randn(7, generator=g), 2 * torch.randn(7, 5, generator=g)
    scale = torch.rand(7, 5, generator=g) + 0.2
    ours = DiagonalGaussianMixture(logits, loc, scale)
    theirs = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(loc, scale), 1))
    z = 2 * torch.randn(3, 11, 5, generator=g)
    torch.testing.assert_close(ours.log_prob(z), theirs.log_prob(z), atol=1e-4, rtol=1e-5)
    draws = ours.sample((200_000,), generator=g)
    torch.testing.assert_close(draws.mean(0), theirs.mean, atol=0.03, rtol=0)


def test_mixture_log_prob_stays_exact_for_narrow_components_and_under_bf16_autocast():
    g = torch.Generator().manual_seed(1)
    loc = 3 * torch.randn(50, 32, generator=g)
    scale = torch.full((50, 32), 1e-3)  # precisions of 1e6: the expanded square cancels in float32
    logits = torch.zeros(50)
    theirs = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(loc, scale), 1))
    z = loc[:8] + 1e-3 * torch.randn(8, 32, generator=g)  # points that sit on a component
    ours = DiagonalGaussianMixture(logits, loc, scale)
    torch.testing.assert_close(ours.log_prob(z), theirs.log_prob(z), atol=1e-3, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(ours.log_prob(z), theirs.log_prob(z), atol=1e-3, rtol=1e-5)


def test_vamp_prior_is_the_posterior_mixture_at_its_pseudo_inputs_and_stores_the_encoder_once():
    torch.manual_seed(0)
    vae = build_vae((1, 6, 6), latent_dim=3, hidden=(16,), prior="vamp", components=4)
    x = torch.rand(10, 1, 6, 6)
    vae.init_from_data(x)
    names = list(vae.state_dict())
    assert "prior.pseudo_inputs" in names and not any(n.startswith("prior.encode") for n in names)
    assert sum(n.startswith("encoder.") for n in names) == sum(1 for _ in vae.encoder.state_dict())
    qu = vae.encode(vae.prior.pseudo_inputs)
    z = torch.randn(9, 3)
    by_hand = torch.logsumexp(qu.log_prob(z[:, None]), dim=1) - torch.log(torch.tensor(4.0))
    torch.testing.assert_close(vae.prior().log_prob(z), by_hand, atol=1e-5, rtol=1e-5)
    # pseudo-inputs start at training examples, and training moves them
    assert any(torch.equal(vae.prior.pseudo_inputs[0], xi) for xi in x)
    elbo(vae, x).loss.backward()
    assert vae.prior.pseudo_inputs.grad.abs().sum() > 0


@pytest.mark.parametrize("inference", ["ladder", "conditional"])
def test_ladder_kl_is_the_expected_log_ratio_and_layers_are_sized_as_configured(inference):
    torch.manual_seed(0)
    vae = build_vae((12,), latent_dim=3, hidden=(32,), ladder=(5,), likelihood="gaussian", inference=inference)
    assert isinstance(vae, vaekit.LadderVAE) and vae.latent_dims == (5, 3)
    x = torch.randn(6, 12)
    with torch.no_grad():
        draw = vae(x, 100_000)
    assert draw.z.shape == (100_000, 6, 3) and draw.kl_per_dim.shape == (100_000, 6, 8)
    assert [m.shape[-1] for m in draw.latent_means] == [5, 3]
    # analytic per-layer KLs average to the Monte Carlo KL E_q[log q(z1, z2 | x) - log p(z1, z2)]
    torch.testing.assert_close(draw.kl.mean(0), (draw.log_qz - draw.log_pz).mean(0), atol=0.05, rtol=0.01)
    torch.testing.assert_close(draw.kl_per_dim.sum(-1), draw.kl)


def test_every_model_kind_overfits_a_tiny_set_with_elbo_and_iwae():
    x = torch.rand(16, 1, 5, 5).bernoulli()
    hvae = {"ladder": (6,), "inference": "conditional", "activation": "gated", "prior": "vamp", "components": 4}
    kinds = ({}, {"prior": "mog", "components": 3}, {"prior": "vamp", "components": 4}, {"ladder": (6,)}, hvae)
    for overrides, objective in [(kind, "elbo") for kind in kinds] + [({"ladder": (6,)}, "iwae")]:
        torch.manual_seed(0)
        vae = build_vae((1, 5, 5), latent_dim=4, hidden=(64,), **overrides)
        vae.init_from_data(x)
        opt = torch.optim.Adam(vae.parameters(), lr=1e-2)

        def loss(vae=vae, objective=objective):
            return elbo(vae, x) if objective == "elbo" else iwae(vae, x, n_samples=5)

        with torch.no_grad():
            start = float(loss().loss)
        for _ in range(200):
            opt.zero_grad()
            loss().loss.backward()
            opt.step()
        with torch.no_grad():
            end = float(torch.stack([loss().loss for _ in range(10)]).mean())
        # 16 images of 25 random pixels: memorising them takes the loss from ~17 nats toward log(16) = 2.8
        assert end < 0.7 * start, (overrides, objective, start, end)


def test_sampling_from_every_model_kind_is_repeatable_with_a_generator():
    hvae = {"ladder": (6, 5), "inference": "conditional", "activation": "gated"}
    for overrides in ({"prior": "mog"}, {"prior": "vamp", "components": 5}, {"ladder": (6, 5)}, hvae):
        vae = build_vae((1, 5, 5), latent_dim=4, hidden=(16,), **overrides).eval()
        a = vae.sample(3, generator=torch.Generator().manual_seed(1))
        b = vae.sample(3, generator=torch.Generator().manual_seed(1))
        assert a.shape == (3, 1, 5, 5) and torch.equal(a, b), overrides
        assert vae.reconstruct(torch.rand(2, 1, 5, 5)).shape == (2, 1, 5, 5)
