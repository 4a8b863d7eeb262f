"""The command line end to end in temporary folders, and every bad input ending in one ``error:`` line."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from tests.conftest import expect_error as _expect_error
from tests.conftest import run_cli
from vaekit.cli import main

FAST = ["--epochs", "3", "--quiet", "--hidden", "32", "--latent-dim", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--out", str(out), *FAST]) == 0
    return out


def test_train_writes_a_complete_run_folder(trained):
    for name in (
        "config.json",
        "model.safetensors",
        "trainer_state.pt",
        "metrics.jsonl",
        "summary.json",
        "samples.png",
        "reconstructions.png",
        "loss.png",
    ):
        assert (trained / name).is_file(), name
    config = json.loads((trained / "config.json").read_text())
    assert config["x_shape"] == [1, 8, 8] and config["run"]["model"]["hidden"] == [32]
    assert config["run"]["data"]["name"] == "digits"
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 3
    assert not list(trained.glob(".*tmp")), "no temporary files are left behind"


def test_sample_reconstruct_encode(trained, tmp_path, capsys):
    assert main(["sample", str(trained), "-n", "16", "--seed", "1", "-o", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (16, 1, 8, 8)  # digits trains a Gaussian decoder (its preset), so means may leave [0, 1]
    assert main(["sample", str(trained), "-n", "16", "--seed", "1", "-o", str(tmp_path / "s2.npy")]) == 0
    assert np.array_equal(s, np.load(tmp_path / "s2.npy"))
    assert main(["sample", str(trained), "-n", "9", "--temperature", "0.5", "-o", str(tmp_path / "s.png")]) == 0
    assert main(["reconstruct", str(trained), "-o", str(tmp_path / "r.png")]) == 0
    assert main(["reconstruct", str(trained), "-n", "5", "-o", str(tmp_path / "r.npy")]) == 0
    assert np.load(tmp_path / "r.npy").shape == (5, 1, 8, 8)
    assert main(["encode", str(trained), "-o", str(tmp_path / "z.csv")]) == 0
    lines = (tmp_path / "z.csv").read_text().splitlines()
    assert lines[0] == "z0,z1,z2" and len(lines) == 361
    assert main(["encode", str(trained), "--sample", "--seed", "0", "-o", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (360, 3)
    np.save(tmp_path / "mine.npy", np.random.default_rng(0).random((7, 8, 8)))
    assert main(["encode", str(trained), "--data", str(tmp_path / "mine.npy"), "-o", str(tmp_path / "m.npy")]) == 0
    assert np.load(tmp_path / "m.npy").shape == (7, 3)


def test_evaluate_reports_likelihood_in_nats_and_writes_json(trained, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["evaluate", str(trained), "--k", "20", "--limit", "50", "--seed", "3", "--json", str(out)]
    assert main(args) == 0
    figures = json.loads(out.read_text())
    for key in ("nll", "neg_elbo", "recon", "kl", "bits_per_dim", "active_units", "k", "n_examples"):
        assert key in figures, key
    assert figures["k"] == 20 and figures["n_examples"] == 50
    assert figures["nll"] <= figures["neg_elbo"] + 0.5  # k = 20 draws tighten the bound (up to noise)
    assert abs(figures["neg_elbo"] - figures["recon"] - figures["kl"]) < 1e-6
    assert "nll (nats)" in capsys.readouterr().out
    assert main([*args[:-1], str(tmp_path / "again.json")]) == 0  # a seed makes it repeatable
    assert json.loads((tmp_path / "again.json").read_text())["nll"] == figures["nll"]


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        (["--k", "0"], "--k must be at least 1"),
        (["--split", "validation"], "no 'validation' split"),
        (["--json", "out.txt"], ".json"),
        (["--limit", "1"], "--limit must be at least 2"),
    ],
)
def test_evaluate_rejects_bad_input(trained, tmp_path, capsys, extra, pattern):
    _expect_error(capsys, ["evaluate", str(trained), *extra], pattern)


def test_stronger_models_train_and_evaluate_from_the_cli(tmp_path, capsys):
    for name, flags in (
        ("iwae", ["--objective", "iwae", "--k", "5"]),
        ("vamp", ["--prior", "vamp", "--components", "10", "--lr-schedule", "cosine", "--lr-warmup", "1"]),
        ("ladder", ["--ladder", "6", "--prior", "mog", "--lr-schedule", "plateau", "--skip-grad-norm", "1e4"]),
    ):
        out = tmp_path / name
        assert main(["train", "--out", str(out), *FAST, *flags]) == 0, name
        assert main(["evaluate", str(out), "--k", "10", "--limit", "20", "--json", str(out / "e.json")]) == 0
        figures = json.loads((out / "e.json").read_text())
        assert figures["latent_dims"] == ([6, 3] if name == "ladder" else [3]), name
        config = json.loads((out / "config.json").read_text())["run"]
        assert config["objective"]["name"] == ("iwae" if name == "iwae" else "elbo")
        assert main(["sample", str(out), "-n", "4", "-o", str(out / "s.npy")]) == 0


def test_config_file_and_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("[model]\nlatent_dim = 5\nhidden = [16]\n[train]\nepochs = 2\nbatch_size = 200\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(toml), "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    run = json.loads((out / "config.json").read_text())["run"]
    assert run["model"]["latent_dim"] == 5 and run["train"]["epochs"] == 1 and run["train"]["batch_size"] == 200


def test_resume_from_the_cli(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "2", *FAST[2:]]) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "4", "--quiet"]) == 0
    metrics = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(m)["epoch"] for m in metrics] == [1, 2, 3, 4]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["train", "--out", str(out), "--resume", "--lr", "0.1", "--latent-dim", "9", "-q"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_table_data_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    x = np.c_[z, z @ rng.normal(size=(2, 3))] + 0.1 * rng.normal(size=(300, 5))
    (tmp_path / "t.csv").write_text("a,b,c,d,e\n" + "\n".join(",".join(f"{v:.5f}" for v in r) for r in x) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--likelihood", "gaussian", "--out", str(out), *FAST]) == 0
    assert (out / "samples.png").is_file() and (out / "reconstructions.png").is_file()
    assert main(["sample", str(out), "-n", "4", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 5)


# bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "pattern"),
    [
        (["--epochs", "-1"], "train.epochs"),
        (["--latent-dim", "0"], "model.latent_dim"),
        (["--beta", "-1"], "objective.beta"),
        (["--lr", "0"], "train.lr"),
        (["--model", "transformer"], "model.arch"),
        (["--hidden", "4x"], "--hidden"),
        (["--epochs", "many"], "--epochs"),
        (["--data", "nonexistent-set"], "unknown data set"),
        (["--data", "missing/file.npy"], "no such file"),
        (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "tpu"], "device"),
        (["--resume"], "does not exist"),
        (["--objective", "iwae", "--beta", "2"], "iwae bound has no KL term"),
        (["--objective", "vimco"], "objective.name"),
        (["--prior", "flow"], "model.prior"),
        (["--ladder", "0"], "model.ladder"),
        (["--ladder", "4", "--model", "conv", "--hidden", "32"], "then the dense width"),
        (["--lr-schedule", "step"], "train.lr_schedule"),
        (["--precision", "fp8"], "train.precision"),
        (["--skip-grad-norm", "0"], "train.skip_grad_norm"),
    ],
)
def test_nonsense_options(tmp_path, capsys, flags, pattern):
    out = tmp_path / "run"
    _expect_error(capsys, ["train", "--out", str(out), "--quiet", *flags], pattern)
    assert not out.exists(), "nothing may be written for a rejected run"


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("a,b\n1,2\n3,x\n", "is not a number"),
        ("a,b\n1,2\n3\n", "cells, the header has 2"),
        ("a,b\n1,nan\n", "NaN or inf"),
        ("a,b\n1,2\ninf,1\n", "NaN or inf"),
    ],
)
def test_bad_data_files(tmp_path, capsys, content, pattern):
    (tmp_path / "d.csv").write_text(content)
    out = tmp_path / "run"
    _expect_error(capsys, ["train", "--data", str(tmp_path / "d.csv"), "--out", str(out), "--quiet"], pattern)
    assert not out.exists()


def test_bernoulli_needs_unit_interval(tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.random.default_rng(0).normal(size=(50, 4)))
    _expect_error(
        capsys,
        ["train", "--data", str(tmp_path / "wide.npy"), "--out", str(tmp_path / "r"), "-q"],
        "Bernoulli likelihood needs [0, 1]",
    )


def test_checksum_mismatch_and_missing_files(tmp_path, capsys):
    (tmp_path / "mnist").mkdir()
    # a valid gzip of other content (the checksum covers the decompressed bytes)
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not really"))
    _expect_error(
        capsys,
        ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")],
        "checksum mismatch",
    )
    _expect_error(
        capsys,
        ["train", "--data", "binarized-mnist", "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "r")],
        "put the file at",
    )


def test_existing_run_folder_stays_intact(trained, capsys):
    before = {p.name: p.read_bytes() for p in trained.iterdir()}
    _expect_error(capsys, ["train", "--out", str(trained), "--quiet"], "already exists")
    assert {p.name: p.read_bytes() for p in trained.iterdir()} == before


def test_shape_mismatch_and_bad_outputs(trained, tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.zeros((3, 28, 28), dtype=np.float32))
    _expect_error(
        capsys,
        ["encode", str(trained), "--data", str(tmp_path / "big.npy"), "-o", str(tmp_path / "z.npy")],
        "the model expects (1, 8, 8)",
    )
    assert not (tmp_path / "z.npy").exists()
    _expect_error(capsys, ["sample", str(trained), "-o", str(tmp_path / "s.gif")], "cannot write s.gif")
    _expect_error(capsys, ["sample", str(trained), "-o", str(tmp_path / "no" / "s.png")], "does not exist")
    _expect_error(capsys, ["sample", str(trained), "-n", "0", "-o", str(tmp_path / "s.png")], "at least 1")


def test_incomplete_and_incompatible_run_folders(trained, tmp_path, capsys):
    _expect_error(capsys, ["sample", str(tmp_path / "nope"), "-o", str(tmp_path / "s.png")], "does not exist")
    (tmp_path / "empty").mkdir()
    _expect_error(capsys, ["sample", str(tmp_path / "empty"), "-o", str(tmp_path / "s.png")], "not a vaekit run folder")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_bytes((trained / "config.json").read_bytes())
    _expect_error(capsys, ["sample", str(partial), "-o", str(tmp_path / "s.png")], "incomplete run folder")
    old = tmp_path / "old"
    old.mkdir()
    record = json.loads((trained / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**record, "format_version": 99}))
    (old / "model.safetensors").write_bytes((trained / "model.safetensors").read_bytes())
    _expect_error(capsys, ["sample", str(old), "-o", str(tmp_path / "s.png")], "incompatible vaekit")
    other = tmp_path / "other"
    other.mkdir()
    record["run"]["model"]["latent_dim"] = 7
    (other / "config.json").write_text(json.dumps(record))
    (other / "model.safetensors").write_bytes((trained / "model.safetensors").read_bytes())
    _expect_error(capsys, ["sample", str(other), "-o", str(tmp_path / "s.png")], "do not match its config.json")
    (other / "model.safetensors").write_bytes(b"garbage")
    _expect_error(capsys, ["sample", str(other), "-o", str(tmp_path / "s.png")], "cannot read")
    assert not (tmp_path / "s.png").exists()


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    proc = run_cli("train", "--epochs", "-1", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: invalid configuration: train.epochs: Input should be greater than or equal to 1 (got -1)"
    ]
    proc = run_cli("train", "--epochs", "x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
