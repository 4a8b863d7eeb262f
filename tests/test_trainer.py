"""The trainer's promises: it learns, it checkpoints, it resumes exactly, it survives bad steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import vaekit
from vaekit import Loss, RunFolder, Trainer, TrainingError, build_vae
from vaekit.data import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").splits["train"]


def test_tiny_model_overfits_a_tiny_set(digits):
    torch.manual_seed(0)
    x = digits[:16]
    vae = build_vae(x.shape[1:], latent_dim=4, hidden=[128], likelihood="gaussian", sigma=0.1)
    result = vaekit.fit(vae, x, val=x, epochs=300, batch_size=16, lr=3e-3, patience=None, device="cpu")
    first, last = result.history[0]["train/recon"], result.history[-1]["train/recon"]
    assert first > 100 and last < -75  # -88.5 nats would be a perfect fit with sigma 0.1
    mse = float(((vaekit.reconstruct(result.vae, x) - x.numpy()) ** 2).mean())
    assert mse < 0.01, mse  # the 16 images are memorised (their variance is about 0.18)


def test_save_then_load_gives_identical_outputs(tmp_path, digits):
    vae = build_vae(digits.shape[1:], latent_dim=3, hidden=[32])
    vaekit.fit(vae, digits[:200], epochs=2, batch_size=50, out=tmp_path / "run", device="cpu")
    loaded = vaekit.load(tmp_path / "run")
    x = digits[200:220]
    vae.eval()
    for a, b in [(vae.encode(x).mean, loaded.encode(x).mean), (vae.encode(x).stddev, loaded.encode(x).stddev)]:
        assert torch.equal(a, b)
    z = torch.randn(5, 3)
    assert torch.equal(vae.decode(z).mean, loaded.decode(z).mean)
    assert np.array_equal(vaekit.sample(vae, 4, seed=1), vaekit.sample(loaded, 4, seed=1))


def _weights(folder):
    return RunFolder(folder).load_state()["model"]


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, digits):
    config = {
        "model": {"latent_dim": 3, "hidden": [32]},
        # a fixed thread count: the default measures and changes it, and sums split by thread round differently
        "train": {"epochs": 4, "batch_size": 64, "device": "cpu", "threads": 2},
        "data": {"binarize": "dynamic"},
        "objective": {"kl_warmup": 2},
    }

    vaekit.train(config, out=tmp_path / "full")

    class Interrupt:
        def on_epoch_end(self, trainer, record):
            if trainer.epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vaekit.train(config, out=tmp_path / "cut", callbacks=[Interrupt()])
    assert RunFolder(tmp_path / "cut").load_state()["epoch"] == 2
    assert len(RunFolder(tmp_path / "cut").read_metrics()) == 2
    torch.manual_seed(12345)  # whatever happened in between must not matter
    vaekit.train(out=tmp_path / "cut", resume=True)

    full, cut = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert full.keys() == cut.keys()
    for k in full:
        assert torch.equal(full[k], cut[k]), k
    metrics_full = RunFolder(tmp_path / "full").read_metrics()
    metrics_cut = RunFolder(tmp_path / "cut").read_metrics()
    assert [m["val/loss"] for m in metrics_full] == [m["val/loss"] for m in metrics_cut]


class _FlakyLoss:
    """A loss that is NaN on the steps listed in ``bad`` (or from step ``always_from`` on)."""

    def __init__(self, bad=(), always_from=None):
        self.bad, self.always_from, self.calls = set(bad), always_from, 0

    def __call__(self, model, x, step):
        self.calls += 1
        loss = ((model(x) - x) ** 2).sum(1)
        if self.calls in self.bad or (self.always_from is not None and self.calls >= self.always_from):
            loss = loss * float("nan")
        return Loss(loss=loss.mean(), terms={"loss": loss.detach()})


def test_non_finite_steps_are_skipped_and_counted():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3)
    x = torch.randn(64, 3)
    trainer = Trainer(model, _FlakyLoss(bad={2, 5}), epochs=2, batch_size=16, lr=1e-2)
    history = trainer.fit(x)
    assert trainer.skipped_steps == 2
    assert trainer.step == 2 * 4 - 2
    assert all(np.isfinite(r["train/loss"]) for r in history)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_persistent_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3)
    x = torch.randn(64, 3)
    folder = RunFolder(tmp_path)
    # 4 steps per epoch: epochs 1-2 are fine, then every loss is NaN
    trainer = Trainer(model, _FlakyLoss(always_from=9), epochs=5, batch_size=16, max_bad_steps=3, run_folder=folder)
    with pytest.raises(TrainingError, match="3 steps in a row"):
        trainer.fit(x)
    state = folder.load_state()
    assert state["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in folder.load_model_state().values())
    assert len(folder.read_metrics()) == 2


def test_early_stopping_restores_the_best_weights():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3)
    x = torch.randn(32, 3)
    seen = []

    def val_loss(m, batch):
        # validation gets worse after epoch 2, whatever the model does
        loss = torch.full((len(batch),), [5.0, 1.0, 2.0, 3.0, 4.0, 6.0][len(seen) % 6])
        return Loss(loss=loss.mean(), terms={"loss": loss})

    class Record:
        def on_epoch_end(self, trainer, record):
            seen.append({k: v.clone() for k, v in trainer.model.state_dict().items()})

    trainer = Trainer(
        model, _FlakyLoss(), val_loss_fn=val_loss, epochs=20, batch_size=8, patience=3, callbacks=[Record()]
    )
    trainer.fit(x, x)
    assert trainer.epoch == 5 and trainer.best_epoch == 2
    assert "early stop" in trainer.stop_reason
    for k, v in model.state_dict().items():
        assert torch.equal(v, seen[1][k])


def test_metrics_jsonl_has_the_documented_keys(tmp_path, digits):
    vae = build_vae(digits.shape[1:], latent_dim=2, hidden=[16])
    vaekit.fit(vae, digits[:300], epochs=2, out=tmp_path / "r", device="cpu")
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[-1])
    for key in (
        "epoch",
        "step",
        "epoch_seconds",
        "examples_per_second",
        "train/loss",
        "train/recon",
        "train/kl",
        "val/loss",
        "val/recon",
        "val/kl",
    ):
        assert key in record, key
    assert record["epoch"] == 2 and record["examples_per_second"] > 0
