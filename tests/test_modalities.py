"""The modality seam and the Run object: a fourth kind of data registered from outside vaekit's files trains,
samples and evaluates through the CLI; a run folder opens once into everything a command needs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.conftest import one_thread
from vaekit.cli import main
from vaekit.data.dataset import Dataset
from vaekit.data.registry import REGISTRY, register
from vaekit.modalities import Modality, get_modality, modality_of, register_modality, unregister_modality


class Waves(Modality):
    """A toy kind of data: sine waves of 16 samples, written as text, with its own figure (mean amplitude)."""

    name = "waves"
    outputs = {**Modality.outputs, "samples": frozenset({".txt"}), "reconstructions": frozenset({".txt"})}

    def preset(self):
        return {"model": {"likelihood": "gaussian", "latent_dim": 2, "hidden": [32]}, "train": {"epochs": 3}}

    def write(self, kind, rows, path, *, reference=None, titles=None, per_row=None):
        Path(path).write_text("\n".join(" ".join(f"{v:.3f}" for v in row) for row in np.asarray(rows)) + "\n")

    def metrics(self, model, x, *, seed=0):
        return {"waves/amplitude": float(x.abs().amax(1).mean())}

    def metric_rows(self, figures):
        return [("mean amplitude", f"{figures['waves/amplitude']:.3f}")]


def _waves(root: Path) -> Dataset:
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 2 * math.pi, 16)
    phase, amp = torch.rand(300, 1, generator=g) * 6.28, 0.5 + torch.rand(300, 1, generator=g)
    x = amp * torch.sin(t + phase)
    return Dataset("toy-waves", splits={"train": x[:240], "test": x[240:]}, modality="waves")


@pytest.fixture
def waves():
    register_modality(Waves())
    register("toy-waves")(_waves)
    yield
    unregister_modality("waves")
    REGISTRY.pop("toy-waves", None)


def test_a_new_modality_trains_samples_and_evaluates_through_the_cli(waves, tmp_path, capsys):
    run = tmp_path / "run"
    with one_thread():
        assert main(["train", "--data", "toy-waves", "--out", str(run), "--quiet", "--no-report"]) == 0
        record = json.loads((run / "config.json").read_text())
        assert record["modality"] == "waves" and record["run"]["model"]["latent_dim"] == 2  # the preset applied
        assert main(["sample", str(run), "-n", "5", "-o", str(tmp_path / "s.txt"), "--seed", "0"]) == 0
        rows = (tmp_path / "s.txt").read_text().splitlines()
        assert len(rows) == 5 and all(len(r.split()) == 16 for r in rows)
        capsys.readouterr()
        assert main(["evaluate", str(run), "--k", "10", "--json", str(tmp_path / "e.json")]) == 0
    assert "mean amplitude" in capsys.readouterr().out
    figures = json.loads((tmp_path / "e.json").read_text())
    assert 0.5 < figures["waves/amplitude"] < 1.5 and math.isfinite(figures["nll"])
    # the modality refuses an output it cannot write, before any work
    assert main(["sample", str(run), "-o", str(tmp_path / "s.png")]) == 2
    assert "cannot write s.png (samples of waves are written as .txt)" in capsys.readouterr().err


def test_data_sets_name_or_imply_their_modality():
    images = Dataset("x", {"train": torch.zeros(2, 1, 4, 4)})
    table = Dataset("x", {"train": torch.zeros(2, 3)})
    tokens = Dataset("x", {"train": torch.zeros(2, 32)}, modality="melodies")
    assert [modality_of(d).name for d in (images, table, tokens)] == ["images", "tables", "melodies"]
    assert get_modality("melodies").preset()["model"]["arch"] == "melody"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "digits"
    with one_thread():
        assert main(["train", "--out", str(out), "--epochs", "2", "--quiet", "--no-report", "--hidden", "32"]) == 0
    return out


def test_run_opens_once_and_offers_model_data_metrics(digits_run):
    run = vaekit.Run.open(digits_run)
    assert run.modality.name == "images" and run.x_shape == (1, 8, 8)
    vae = run.model()
    assert run.model() is vae and not vae.training  # built once per device, in eval mode
    held_out = run.data("test")
    assert held_out.x.shape == (360, 1, 8, 8) and held_out.labels.shape == (360,) and held_out.y is None
    assert len(run.metrics) == 2 and run.summary["epochs_run"] == 2
    assert held_out.spread(10).x.shape[0] == 10


def test_save_and_load_are_two_halves_of_one_format(tmp_path):
    vae = vaekit.build_vae((5,), likelihood="gaussian", latent_dim=2, hidden=8)
    vae.save(tmp_path / "m")
    back = vaekit.load(tmp_path / "m")
    x = torch.randn(4, 5)
    torch.testing.assert_close(back.reconstruct(x), vae.eval().reconstruct(x))
    assert vaekit.Run.open(tmp_path / "m").modality.name == "tables"


def test_an_old_run_folder_without_a_recorded_modality_is_recognised(digits_run, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(digits_run, old)
    record = json.loads((old / "config.json").read_text())
    del record["modality"]
    (old / "config.json").write_text(json.dumps(record))
    assert vaekit.Run.open(old).modality.name == "images"
