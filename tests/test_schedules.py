"""Learning-rate schedules and the stability tools of the trainer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vaekit import Loss, Trainer, TrainingError
from vaekit.train.schedules import LRSchedule


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    s = LRSchedule(1e-3, "cosine", warmup_steps=10, total_steps=110, lr_min=1e-5)
    assert s(0) == pytest.approx(1e-4) and s(9) == pytest.approx(1e-3)
    assert s(10) == pytest.approx(1e-3)
    assert s(60) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2)
    assert s(110) == pytest.approx(1e-5) and s(500) == pytest.approx(1e-5)
    assert all(s(i) >= s(i + 1) for i in range(10, 120))


def test_plateau_schedule_halves_after_patience_epochs_without_gain_and_resumes():
    s = LRSchedule(1.0, "plateau", patience=2, lr_min=0.2)
    for loss in (5.0, 4.0, 4.5, 4.2):  # two epochs without a new best
        s.epoch_end(loss)
    assert s(0) == 0.5
    for loss in (4.1, 4.1, 4.1, 4.1):
        s.epoch_end(loss)
    assert s(0) == 0.2  # 0.125 floored at lr_min
    t = LRSchedule(1.0, "plateau", patience=2, lr_min=0.2)
    t.load_state_dict(s.state_dict())
    assert t(0) == s(0) and t.bad_epochs == s.bad_epochs


def _linear_problem():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])

    def loss_fn(model, batch, step):
        xb, yb = batch
        err = (model(xb).squeeze(-1) - yb) ** 2
        return Loss(err.mean(), {"loss": err})

    return nn.Linear(4, 1), (x, y), loss_fn


def test_trainer_follows_the_schedule_step_by_step():
    model, data, loss_fn = _linear_problem()
    schedule = LRSchedule(0.1, "cosine", warmup_steps=4, total_steps=40)
    seen = []

    class Spy:
        def on_step_end(self, trainer, out):
            seen.append(trainer.optimizer.param_groups[0]["lr"])

    Trainer(model, loss_fn, epochs=5, batch_size=32, lr=0.1, lr_schedule=schedule, callbacks=[Spy()]).fit(data)
    assert seen == pytest.approx([schedule(i) for i in range(40)])


def test_updates_with_an_exploding_gradient_norm_are_skipped_and_stop_training():
    model, data, loss_fn = _linear_problem()
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model, loss_fn, epochs=3, batch_size=32, skip_grad_norm=1e-6, max_bad_steps=5)
    with pytest.raises(TrainingError, match="exploding"):
        trainer.fit(data)
    assert trainer.skipped_steps == 5 and trainer.step == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_time_limit_stops_after_the_epoch_that_passes_it():
    model, data, loss_fn = _linear_problem()
    trainer = Trainer(model, loss_fn, epochs=50, batch_size=32, time_limit=1e-9)
    trainer.fit(data)
    assert trainer.epoch == 1 and "time limit" in trainer.stop_reason


def test_bf16_autocast_trains_and_evaluates_in_full_precision():
    model, data, loss_fn = _linear_problem()
    trainer = Trainer(model, loss_fn, epochs=30, batch_size=32, lr=0.05, autocast=torch.bfloat16)
    history = trainer.fit(data, data)
    assert history[-1]["val/loss"] < 0.05 * history[0]["val/loss"]
    assert math.isfinite(history[-1]["train/loss"])
