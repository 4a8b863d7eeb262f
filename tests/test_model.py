"""Shape contracts of encoders, decoders, priors and the VAE, for tables and odd-sized images."""

from __future__ import annotations

import pytest
import torch

from vaekit import VaekitError, build_vae


@pytest.mark.parametrize(
    ("x_shape", "arch"),
    [((5,), "mlp"), ((1, 8, 8), "mlp"), ((1, 28, 28), "conv"), ((3, 13, 11), "conv"), ((2, 5, 7), "conv")],
)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_distribution_shapes(x_shape, arch, likelihood):
    torch.manual_seed(0)
    vae = build_vae(x_shape, arch=arch, latent_dim=3, likelihood=likelihood)
    x = torch.rand(4, *x_shape)
    qz = vae.encode(x)
    assert qz.batch_shape == (4,) and qz.event_shape == (3,)
    assert qz.log_prob(qz.sample()).shape == (4,)
    z = qz.rsample((7,))  # sample dims lead
    assert z.shape == (7, 4, 3)
    px = vae.decode(z)
    assert px.batch_shape == (7, 4) and px.event_shape == x_shape
    assert px.log_prob(x).shape == (7, 4)
    pz = vae.prior()
    assert pz.event_shape == (3,) and pz.log_prob(z).shape == (7, 4)
    assert vae.sample(6).shape == (6, *x_shape)
    assert vae.reconstruct(x).shape == x.shape


def test_encoder_scale_is_positive_and_reparameterised():
    vae = build_vae((4,), latent_dim=2, hidden=[8])
    x = torch.randn(16, 4) * 100
    qz = vae.encode(x)
    assert (qz.stddev > 0).all()
    z = qz.rsample()
    z.sum().backward()
    assert vae.encoder.trunk[1][0].weight.grad is not None


def test_sampling_is_repeatable_with_a_generator():
    vae = build_vae((1, 8, 8), latent_dim=4)
    a = vae.sample(5, generator=torch.Generator().manual_seed(3))
    b = vae.sample(5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    cold = vae.sample(5, temperature=0.0 + 1e-6, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(cold[0], cold[1], atol=1e-4, rtol=0)


def test_conv_needs_images():
    with pytest.raises(VaekitError, match="conv model needs images"):
        build_vae((10,), arch="conv")


def test_default_hidden_depends_on_arch():
    assert build_vae((1, 8, 8), arch="conv").config["model"]["hidden"] == [32, 64]
    assert build_vae((1, 8, 8)).config["model"]["hidden"] == [400]
