"""The VampPrior paper's building blocks: gated layers, pseudo-inputs kept in [0, 1], the two-layer HVAE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import vaekit
from vaekit import build_vae, elbo
from vaekit.config import RunConfig
from vaekit.distributions import positive_scale
from vaekit.errors import VaekitError
from vaekit.nn import ConvDecoderTrunk, ConvEncoderTrunk, Gated, mlp

ROOT = Path(__file__).resolve().parents[1]
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def test_a_gated_layer_is_a_linear_map_times_a_sigmoid_gate_and_replaces_the_nonlinearity():
    torch.manual_seed(0)
    net = mlp(5, [7, 7], 3, "gated")
    gated = [m for m in net if isinstance(m, Gated)]
    assert len(gated) == 2 and not any(isinstance(m, (nn.SiLU, nn.ReLU, nn.ELU, nn.Tanh, nn.Sigmoid)) for m in net)
    x = torch.randn(4, 5)
    first = gated[0]
    by_hand = (x @ first.layer.weight.T + first.layer.bias) * torch.sigmoid(x @ first.gate.weight.T + first.gate.bias)
    torch.testing.assert_close(first(x), by_hand)
    assert net(x).shape == (4, 3)


def test_gating_keeps_the_parameter_names_of_a_plain_trunk_so_older_runs_still_load():
    plain, gated = mlp(5, [7, 7], 3, "silu"), mlp(5, [7, 7], 3, "gated")
    assert list(plain.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [k.replace(".layer", "") for k in gated.state_dict() if ".gate." not in k] == list(plain.state_dict())
    ladder = build_vae((1, 6, 6), latent_dim=3, hidden=(16, 8), ladder=(4,))
    names = set(ladder.state_dict())
    # the layout of Ladder VAEs saved before gated layers existed
    assert {"up.0.1.0.weight", "up.0.1.2.weight", "up.1.0.0.weight", "up.1.0.2.weight", "posterior.0.weight"} <= names


def test_gated_convolutions_keep_the_image_shapes():
    enc = ConvEncoderTrunk((1, 28, 28), (8, 16), 10, "gated")
    dec = ConvDecoderTrunk(4, (8, 16), (1, 28, 28), "gated")
    assert sum(isinstance(m, Gated) for m in enc.convs) == 2 and sum(isinstance(m, Gated) for m in dec.deconvs) == 2
    assert enc(torch.rand(3, 1, 28, 28)).shape == (3, 10) and dec(torch.randn(3, 4)).shape == (3, 1, 28, 28)
    vae = build_vae((1, 28, 28), arch="conv", hidden=(8, 16), latent_dim=4, activation="gated")
    assert elbo(vae, torch.rand(2, 1, 28, 28).bernoulli()).loss.isfinite()


def test_hardtanh_pseudo_inputs_start_inside_the_range_learn_and_never_leave_it():
    torch.manual_seed(0)
    x = torch.rand(40, 1, 6, 6).bernoulli()  # binary images: every pixel at 0 or 1
    bounded = build_vae((1, 6, 6), latent_dim=3, hidden=(16,), prior="vamp", components=8, pseudo_inputs="hardtanh")
    free = build_vae((1, 6, 6), latent_dim=3, hidden=(16,), prior="vamp", components=8)
    for vae in (bounded, free):
        vae.init_from_data(x)
    u = bounded.prior.inputs
    assert ((u > 0) & (u < 1)).all()  # moved off 0 and 1, where hardtanh passes no gradient
    elbo(bounded, x).loss.backward()
    assert (bounded.prior.pseudo_inputs.grad != 0).float().mean() > 0.9
    for vae in (bounded, free):
        opt = torch.optim.SGD([vae.prior.pseudo_inputs], lr=50.0)
        for _ in range(5):
            opt.zero_grad()
            elbo(vae, x).loss.backward()
            opt.step()
    assert bounded.prior.inputs.min() >= 0 and bounded.prior.inputs.max() <= 1
    assert free.prior.inputs.min() < 0 or free.prior.inputs.max() > 1  # without it they leave the data's range


def test_the_hvae_lower_posterior_is_a_network_of_x_and_the_draw_above():
    torch.manual_seed(0)
    vae = build_vae((10,), latent_dim=3, hidden=(16,), ladder=(4,), inference="conditional", likelihood="gaussian")
    x = torch.randn(5, 10)
    eps = torch.randn(2, 5, 7)
    draw = vae(x, eps=eps)
    d1, d2 = vae._bottom_up(x)
    q2 = vae.posterior[1](d2)
    z2 = q2[:, :3] + positive_scale(q2[:, 3:]) * eps[..., 4:]
    torch.testing.assert_close(draw.z, z2, atol=1e-5, rtol=1e-5)
    q1 = vae.posterior[0](torch.cat([d1.expand(2, 5, 16), z2], dim=-1))
    torch.testing.assert_close(draw.latent_means[0], q1[..., :4])
    # so q(z1 | x, z2) changes with z2, not only through the prior as in the ladder's precision weighting
    assert not torch.allclose(draw.latent_means[0][0], draw.latent_means[0][1])


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"inference": "conditional"}, "inference: applies to a hierarchical model"),
        ({"pseudo_inputs": "hardtanh"}, "pseudo_inputs: only the vamp prior"),
        ({"activation": "sigmoid"}, "activation"),
    ],
)
def test_options_that_do_not_fit_the_model_are_refused_by_name(overrides, message):
    with pytest.raises(VaekitError, match=message):
        build_vae((6,), latent_dim=2, **overrides)


@pytest.mark.parametrize("recipe", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_recipe_is_a_valid_config_that_builds_its_model(recipe):
    config = RunConfig.model_validate(tomllib.loads(recipe.read_text()))
    assert config.data.name == "binarized-mnist" and config.train.time_limit <= 120
    vae = build_vae((1, 28, 28), config.model)
    assert elbo(vae, torch.rand(2, 1, 28, 28).bernoulli()).loss.isfinite()


def test_a_convolutional_hvae_keeps_the_model_contract_and_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    kw = {"arch": "conv", "hidden": (4, 8, 16), "latent_dim": 3, "ladder": (5,), "inference": "conditional"}
    vae = build_vae((1, 12, 12), **kw, activation="gated", prior="vamp", components=6, pseudo_inputs="hardtanh")
    x = torch.rand(7, 1, 12, 12).bernoulli()
    vae.init_from_data(x)
    assert vae.latent_dims == (5, 3) and vae.encode(x).event_shape == (3,)
    with torch.no_grad():
        draw = vae(x[:3], 4_000)
    torch.testing.assert_close(draw.kl.mean(0), (draw.log_qz - draw.log_pz).mean(0), atol=0.2, rtol=0.02)
    assert vae.sample(4, generator=torch.Generator().manual_seed(0)).shape == (4, 1, 12, 12)
    vae.eval()
    loaded = vaekit.load(vae.save(tmp_path / "convhvae"))
    torch.testing.assert_close(loaded.reconstruct(x), vae.reconstruct(x))
    with pytest.raises(VaekitError, match="conv channels then the dense width"):
        build_vae((1, 12, 12), arch="conv", hidden=(8,), ladder=(5,))
    with pytest.raises(VaekitError, match="needs images"):
        build_vae((12,), arch="conv", hidden=(8, 16), ladder=(5,))
