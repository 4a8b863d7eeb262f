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


@pytest.mark.parametrize(("arch", "likelihood"), [("mlp", "bernoulli"), ("conv", "bernoulli"), ("mlp", "gaussian")])
def test_output_bias_starts_at_the_data_mean(arch, likelihood):
    vae = build_vae((2, 6, 5), arch=arch, likelihood=likelihood)
    x_mean = torch.rand(2, 6, 5) * 0.8 + 0.1
    vae.decoder.init_output_bias(x_mean)
    last = [m for m in vae.decoder.trunk.modules() if hasattr(m, "bias") and m.bias is not None][-1]
    target = torch.logit(x_mean) if likelihood == "bernoulli" else x_mean
    expected = target.flatten() if arch == "mlp" else target.flatten(1).mean(1)
    torch.testing.assert_close(last.bias.detach(), expected)


def test_conv_trunks_give_the_same_numbers_in_either_memory_layout(monkeypatch):
    """Channels-last activations on a CPU change the memory order only: same outputs, contiguous images out."""
    import vaekit.nn

    torch.manual_seed(0)
    vae = build_vae((1, 28, 28), arch="conv", likelihood="bernoulli", latent_dim=8)
    x = (torch.rand(5, 1, 28, 28) < 0.2).float()
    with torch.no_grad():
        fast = vae.encode(x).mean, vae.decoder.trunk(torch.ones(5, 8))
        monkeypatch.setattr(vaekit.nn, "cpu_conv_layout", lambda t: t)
        plain = vae.encode(x).mean, vae.decoder.trunk(torch.ones(5, 8))
    for a, b in zip(fast, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert fast[1].is_contiguous() and fast[1].shape == (5, 1, 28, 28)
