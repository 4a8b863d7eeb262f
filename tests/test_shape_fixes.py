"""Bugs found while reshaping the edges (issue 13), each with the test that failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import expect_error, one_thread
from vaekit.cli import main
from vaekit.cli.train import CONFIG_ONLY, FLAGS, SECTIONS

FAST = ["--epochs", "1", "--quiet", "--no-report", "--hidden", "16", "--latent-dim", "2"]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cvae") / "run"
    with one_thread():
        assert main(["train", "--condition", "label", "--out", str(out), *FAST]) == 0
    return out


@pytest.mark.parametrize("n", [3, 64])
def test_grid_by_label_draws_n_per_class_even_when_n_is_64(conditional_run, tmp_path, n):
    out = tmp_path / "grid.npy"
    assert main(["sample", str(conditional_run), "--grid-by-label", "-n", str(n), "-o", str(out)]) == 0
    assert np.load(out).shape == (10 * n, 1, 8, 8)  # before: -n 64 gave 10 per class


def test_grid_by_label_without_n_draws_ten_per_class(conditional_run, tmp_path):
    out = tmp_path / "grid.npy"
    assert main(["sample", str(conditional_run), "--grid-by-label", "-o", str(out)]) == 0
    assert np.load(out).shape == (100, 1, 8, 8)


def test_resume_accepts_the_original_command_and_refuses_only_changes(tmp_path, capsys):
    out = str(tmp_path / "run")
    with one_thread():
        assert main(["train", "--seed", "3", "--out", out, *FAST]) == 0
        # repeating the command with --resume (and more epochs) is what users do
        assert main(["train", "--seed", "3", "--out", out, *FAST[:1], "2", *FAST[2:], "--resume"]) == 0
        # a time limit is a budget for this sitting (a benchmark resumes with what is left of its budget)
        more = ["--seed", "3", "--out", out, *FAST[:1], "3", *FAST[2:], "--resume", "--time-limit", "5"]
        assert main(["train", *more]) == 0
    assert len(vaekit.Run.open(out).metrics) == 3
    capsys.readouterr()
    expect_error(capsys, ["train", "--seed", "4", "--out", out, "--resume"], "cannot change train.seed")


def test_train_and_fit_leave_the_global_rng_alone(tmp_path):
    vae = vaekit.build_vae((4,), likelihood="gaussian", latent_dim=2, hidden=8)  # building draws weights: before
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with one_thread():
        vaekit.train({"train": {"epochs": 1, "report": False}, "model": {"hidden": [8]}}, out=tmp_path / "a")
        vaekit.fit(vae, np.random.default_rng(0).normal(size=(64, 4)).astype("float32"), epochs=1)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_generation_restores_the_callers_training_mode():
    vae = vaekit.build_vae((1, 8, 8), latent_dim=2, hidden=8)
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype("float32")
    vae.train()
    for call in (
        lambda: vaekit.sample(vae, 2, seed=0),
        lambda: vaekit.encode(vae, x),
        lambda: vaekit.reconstruct(vae, x),
        lambda: vaekit.decode(vae, np.zeros((2, 2), dtype="float32")),
        lambda: vaekit.traverse(vae, x, steps=3),
        lambda: vaekit.interpolate(vae, x[:2], x[2:], steps=3),
    ):
        call()
        assert vae.training
    vae.eval()
    vaekit.sample(vae, 2, seed=0)
    assert not vae.training


def test_every_train_flag_is_a_config_field_and_every_field_has_a_flag():
    fields = {(section, f) for section, model in SECTIONS.items() for f in model.model_fields}
    flagged = set(FLAGS.values())
    assert flagged <= fields
    assert fields - flagged == set(CONFIG_ONLY), "a new config field needs a --flag or a CONFIG_ONLY reason"


def test_train_help_shows_the_config_defaults(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--epochs INTEGER" in text or "--epochs <int>" in text
    assert "maximum epochs [default: 100;" in text and "AdamW learning rate [default: 0.001]" in text


def test_sigma_vae_is_credited_to_its_authors():
    from pathlib import Path

    import vaekit.distributions as d

    text = Path(d.__file__).read_text(encoding="utf-8")
    assert "2006.13202" in text and "Rybkin" in text
