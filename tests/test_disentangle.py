"""Disentanglement: the shapes data set, the beta-TC decomposition, and the Mutual Information Gap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import one_thread
from vaekit.data.shapes import FACTOR_SIZES, Shapes, render
from vaekit.evaluate import mutual_information_gap
from vaekit.objectives import beta_tc, elbo, kl_decomposition


# shapes ------------------------------------------------------------------------------------------------------
def test_shapes_factor_indices_round_trip():
    shapes = Shapes()
    assert len(shapes) == math.prod(FACTOR_SIZES) == 737_280
    idx = np.random.default_rng(0).integers(0, len(shapes), 500)
    factors = shapes.factors_of(idx)
    assert factors.shape == (500, 5)
    assert (factors >= 0).all() and (factors < np.array(FACTOR_SIZES)).all()
    assert np.array_equal(shapes.index_of(factors), idx)
    assert shapes.factors_of([0]).tolist() == [[0, 0, 0, 0, 0]]
    assert shapes.factors_of([len(shapes) - 1]).tolist() == [[s - 1 for s in FACTOR_SIZES]]
    with pytest.raises(IndexError):
        shapes.factors_of([len(shapes)])


def test_shapes_are_deterministic_from_the_seed_and_binary():
    shapes = Shapes()
    a, b, c = shapes.subset(64, seed=3), shapes.subset(64, seed=3), shapes.subset(64, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(set(a.tolist())) == 64  # without replacement
    x = shapes.images(a)
    assert x.shape == (64, 1, 64, 64) and x.dtype == torch.float32
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, shapes.images(b))
    assert (x.flatten(1).sum(1) > 5).all(), "every image shows a shape"


def test_each_factor_moves_the_picture_the_way_it_says():
    base = torch.tensor([[0, 2, 0, 10, 10]])

    def with_(k, v):
        f = base.clone()
        f[0, k] = v
        return render(f)[0, 0]

    def centre(img):
        ys, xs = torch.nonzero(img, as_tuple=True)
        return xs.float().mean(), ys.float().mean()

    img = render(base)[0, 0]
    assert with_(1, 5).sum() > img.sum() > with_(1, 0).sum()  # scale: area grows
    assert centre(with_(3, 25))[0] > centre(img)[0] + 10  # x moves right
    assert centre(with_(4, 25))[1] > centre(img)[1] + 10  # y moves down
    assert not torch.equal(with_(0, 1), img) and not torch.equal(with_(0, 2), img)  # another shape
    assert not torch.equal(with_(2, 5), img)  # rotation by 45 degrees changes a square


# MIG ---------------------------------------------------------------------------------------------------------
def _factors(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 3, n), rng.integers(0, 6, n), rng.integers(0, 12, n)], 1)


def test_mig_of_a_factor_aligned_code_is_one_and_finds_the_dimensions():
    f = _factors()
    rng = np.random.default_rng(1)
    # each factor in its own dimension, permuted, rescaled, plus two dimensions of pure noise
    codes = np.c_[rng.normal(size=len(f)), 3.0 * f[:, 2] - 1, f[:, 0] * 0.5, rng.normal(size=len(f)), -f[:, 1]]
    result = mutual_information_gap(codes, f, factor_names=["a", "b", "c"])
    assert result.mig == pytest.approx(1.0, abs=0.03)
    assert result.top_dims == [2, 4, 1]
    assert result.entropy == pytest.approx([math.log(3), math.log(6), math.log(12)], abs=0.02)


def test_mig_of_noise_is_zero_and_of_an_entangled_code_is_low():
    f = _factors()
    rng = np.random.default_rng(2)
    assert mutual_information_gap(rng.normal(size=(len(f), 4)), f).mig < 0.02
    # every dimension mixes all three factors: each dimension knows something, none singles a factor out
    mix = np.c_[f[:, 0] + f[:, 1] + f[:, 2], f[:, 0] - f[:, 1] + f[:, 2], f[:, 0] + f[:, 1] - f[:, 2]]
    assert mutual_information_gap(mix + 0.1 * rng.normal(size=mix.shape), f).mig < 0.35


def test_mig_rejects_bad_shapes():
    with pytest.raises(ValueError):
        mutual_information_gap(np.zeros((10, 3)), np.zeros((9, 2), dtype=int))
    with pytest.raises(ValueError):
        mutual_information_gap(np.zeros((10, 1)), np.zeros((10, 2), dtype=int))


# beta-TC -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_vae():
    torch.manual_seed(0)
    vae = vaekit.build_vae((12,), hidden=[16], latent_dim=4, likelihood="gaussian")
    x = torch.randn(64, 12)
    return vae, x


def test_decomposition_telescopes_to_the_one_draw_kl(small_vae):
    vae, x = small_vae
    draw = vae(x)
    parts = kl_decomposition(draw.z, draw.qz, vae.prior(), dataset_size=1000)
    one_draw_kl = draw.qz.log_prob(draw.z) - vae.prior().log_prob(draw.z)
    torch.testing.assert_close(parts["mi"] + parts["tc"] + parts["dwkl"], one_draw_kl, rtol=0, atol=1e-4)


def test_minibatch_weighted_sampling_matches_a_direct_sum(small_vae):
    vae, x = small_vae
    with torch.no_grad():
        draw = vae(x[:6])
    z, loc, scale = draw.z.detach(), draw.qz.base_dist.loc.detach(), draw.qz.base_dist.scale.detach()
    n_data, m = 50, 6
    with torch.no_grad():
        parts = kl_decomposition(z, draw.qz, vae.prior(), dataset_size=n_data)
    for i in range(m):
        dens = [torch.distributions.Normal(loc[j], scale[j]).log_prob(z[i]) for j in range(m)]  # (d,) each
        log_qz = math.log(sum(math.exp(float(d.sum())) for d in dens) / (n_data * m))
        log_qzd = [math.log(sum(math.exp(float(d[k])) for d in dens) / (n_data * m)) for k in range(z.shape[1])]
        assert float(parts["tc"][i]) == pytest.approx(log_qz - sum(log_qzd), abs=1e-4)
        assert float(parts["mi"][i]) == pytest.approx(float(dens[i].sum()) - log_qz, abs=1e-4)


def test_beta_tc_with_unit_weights_is_the_elbo_in_expectation(small_vae):
    vae, x = small_vae
    torch.manual_seed(5)
    tc = beta_tc(vae, x, dataset_size=1000)
    torch.manual_seed(5)
    plain = elbo(vae, x)
    torch.testing.assert_close(tc.terms["recon"], plain.terms["recon"])  # the same draw
    # E_q[log q(z|x) - log p(z)] is the analytic KL: average many draws of the decomposed KL
    with torch.no_grad(), one_thread():
        runs = [beta_tc(vae, x, dataset_size=1000).terms for _ in range(200)]
    draws = torch.stack([t["mi"] + t["tc"] + t["dwkl"] for t in runs])
    mean, sem = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert ((mean - plain.terms["kl"].detach()).abs() < 4 * sem + 1e-3).float().mean() > 0.9
    assert float(mean.mean()) == pytest.approx(float(plain.terms["kl"].detach().mean()), rel=0.03)


def test_beta_tc_weights_only_the_total_correlation(small_vae):
    vae, x = small_vae
    torch.manual_seed(1)
    one = beta_tc(vae, x, dataset_size=500)
    torch.manual_seed(1)
    six = beta_tc(vae, x, dataset_size=500, beta=6.0)
    torch.testing.assert_close(six.terms["loss"] - one.terms["loss"], 5.0 * one.terms["tc"])
    six.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in vae.parameters() if p.requires_grad)


# from the command line ----------------------------------------------------------------------------------------
def test_registered_shapes_and_mig_from_the_cli(tmp_path, capsys):
    with one_thread():
        _shapes_and_mig_from_the_cli(tmp_path, capsys)


def _shapes_and_mig_from_the_cli(tmp_path, capsys):
    import json

    from vaekit.cli import main

    data = vaekit.load_dataset("shapes")
    assert data.splits["train"].shape == (10_000, 1, 64, 64) and data.factors["test"].shape == (2_000, 5)
    assert torch.equal(data.labels["train"], data.factors["train"][:, 0])
    shapes = Shapes()
    train_idx, test_idx = (set(shapes.index_of(data.factors[s].numpy()).tolist()) for s in ("train", "test"))
    assert not train_idx & test_idx, "test images are not training images"
    torch.testing.assert_close(data.splits["test"][:8], shapes.images(shapes.index_of(data.factors["test"][:8])))

    run = tmp_path / "run"
    flags = ["--data", "shapes", "--hidden", "16", "--latent-dim", "3", "--epochs", "1", "--objective", "beta-tc"]
    assert main(["train", *flags, "--beta", "6", "--no-report", "--quiet", "--out", str(run)]) == 0
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert {"train/mi", "train/tc", "train/dwkl", "val/tc"} <= set(logged)
    out = tmp_path / "mig.json"
    assert main(["evaluate", str(run), "--metric", "mig", "--limit", "500", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["factor_names"] == ["shape", "scale", "rotation", "x", "y"] and figures["n_examples"] == 500
    assert 0.0 <= figures["mig"] <= 1.0 and len(figures["gaps"]) == 5
    assert np.array(figures["mutual_info"]).shape == (3, 5)
    capsys.readouterr()

    digits = tmp_path / "digits"
    assert (
        main(
            ["train", "--hidden", "16", "--latent-dim", "3", "--epochs", "1", "-q", "--no-report", "--out", str(digits)]
        )
        == 0
    )
    capsys.readouterr()
    for argv, pattern in (
        (["evaluate", str(digits), "--metric", "mig"], "no ground-truth factors"),
        (["evaluate", str(run), "--metric", "fid"], "unknown metric"),
        (["train", *flags, "--free-bits", "1", "--out", str(tmp_path / "x")], "no kl_warmup or free_bits"),
        (["train", "--alpha", "2", "--out", str(tmp_path / "y")], "use --objective beta-tc"),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and pattern in err[0], err
