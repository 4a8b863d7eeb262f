"""The conditional VAE: encoder and decoder both see the label; sampling by class; clear errors for bad labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import one_thread
from vaekit.cli import main


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    """A small conditional VAE on digits, trained long enough to draw recognisable classes (about 10 s)."""
    out = tmp_path_factory.mktemp("cvae") / "run"
    args = ["train", "--condition", "label", "--epochs", "40", "--hidden", "128", "--latent-dim", "4"]
    with one_thread():
        assert main([*args, "--quiet", "--no-report", "--out", str(out)]) == 0
    return out


def test_the_run_records_the_condition_and_rebuilds(conditional):
    run = json.loads((conditional / "config.json").read_text())["run"]
    assert run["data"]["condition"] == "label" and run["model"]["classes"] == 10
    vae = vaekit.load(conditional)
    assert vae.n_classes == 10
    z = torch.zeros(2, 4)
    a, b = vae.decode(z, torch.tensor([0, 0])).mean, vae.decode(z, torch.tensor([0, 1])).mean
    torch.testing.assert_close(a[0], b[0])
    assert not torch.allclose(a[1], b[1]), "the decoder sees the label"
    x = vaekit.load_dataset("digits").splits["test"][:2]
    assert not torch.allclose(vae.encode(x, torch.tensor([0, 0])).mean, vae.encode(x, torch.tensor([1, 1])).mean)


def test_sampling_a_label_draws_that_class(conditional, tmp_path):
    from sklearn.linear_model import LogisticRegression

    data = vaekit.load_dataset("digits")
    clf = LogisticRegression(max_iter=2000).fit(data.splits["train"].flatten(1).numpy(), data.labels["train"].numpy())
    for label in (3, 7):
        out = tmp_path / f"s{label}.npy"
        assert main(["sample", str(conditional), "--label", str(label), "-n", "40", "--seed", "0", "-o", str(out)]) == 0
        s = np.load(out)
        assert s.shape == (40, 1, 8, 8)
        hits = (clf.predict(s.reshape(40, -1).clip(0, 1)) == label).mean()
        assert hits >= 0.7, f"only {hits:.0%} of the samples of label {label} look like a {label}"
    assert main(["sample", str(conditional), "--grid-by-label", "-n", "5", "-o", str(tmp_path / "g.npy")]) == 0
    grid = np.load(tmp_path / "g.npy")
    assert grid.shape == (50, 1, 8, 8)
    hits = (clf.predict(grid.reshape(50, -1).clip(0, 1)) == np.repeat(np.arange(10), 5)).mean()
    assert hits >= 0.7
    assert main(["sample", str(conditional), "--grid-by-label", "-o", str(tmp_path / "g.png")]) == 0


def test_the_other_commands_use_the_labels(conditional, tmp_path):
    for args in (
        ["reconstruct", str(conditional), "-n", "5", "-o", str(tmp_path / "r.npy")],
        ["encode", str(conditional), "-o", str(tmp_path / "z.npy")],
        ["evaluate", str(conditional), "--k", "5", "--limit", "20", "--json", str(tmp_path / "e.json")],
        ["interpolate", str(conditional), "--pairs", "2", "-o", str(tmp_path / "i.png")],
        ["traverse", str(conditional), "-o", str(tmp_path / "t.png")],
        ["latent-map", str(conditional), "-o", str(tmp_path / "m.png")],
    ):
        assert main(args) == 0, args
    assert np.load(tmp_path / "z.npy").shape == (360, 4)


def _expect_error(capsys, argv, pattern):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and pattern in err[0], err


def test_wrong_labels_get_a_clear_error(conditional, tmp_path, capsys):
    out = str(tmp_path / "s.png")
    _expect_error(capsys, ["sample", str(conditional), "--label", "10", "-o", out], "label 10 is out of range")
    _expect_error(capsys, ["sample", str(conditional), "--label", "-1", "-o", out], "0..9")
    _expect_error(capsys, ["sample", str(conditional), "-o", out], "--label")
    _expect_error(capsys, ["sample", str(conditional), "--label", "3", "--grid-by-label", "-o", out], "exclude")
    vae = vaekit.load(conditional)
    with pytest.raises(vaekit.DataError, match="out of range"):
        vaekit.sample(vae, 2, y=[1, 12])
    assert not (tmp_path / "s.png").exists()


def test_condition_needs_labelled_data_and_a_conditional_model(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 6)))
    flags = ["--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]
    _expect_error(capsys, ["train", "--data", str(tmp_path / "x.npy"), "--condition", "label", *flags], "no labels")
    _expect_error(capsys, ["train", "--condition", "colour", *flags], "data.condition")
    _expect_error(
        capsys, ["train", "--condition", "label", "--prior", "vamp", *flags], "single-layer with a normal or mog prior"
    )
    plain = tmp_path / "plain"
    assert main(["train", "--epochs", "1", "--hidden", "16", "--quiet", "--no-report", "--out", str(plain)]) == 0
    _expect_error(capsys, ["sample", str(plain), "--label", "3", "-o", str(tmp_path / "s.png")], "not conditional")
    _expect_error(capsys, ["sample", str(plain), "--grid-by-label", "-o", str(tmp_path / "s.png")], "conditional")


def test_fit_trains_a_conditional_vae_from_arrays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = (np.eye(3)[y] @ rng.normal(size=(3, 6)) + 0.1 * rng.normal(size=(300, 6))).astype(np.float32)
    vae = vaekit.build_vae((6,), hidden=[16], latent_dim=2, likelihood="gaussian", classes=3)
    result = vaekit.fit(vae, x, y=y, epochs=3, seed=0)
    assert np.isfinite(result.history[-1]["val/loss"])
    with pytest.raises(vaekit.DataError, match="labels"):
        vaekit.fit(vae, x, epochs=1)
