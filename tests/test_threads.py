"""The thread tuner: it keeps the fastest thread count, notices a slowdown, and leaves the caller's setting."""

from __future__ import annotations

import pytest
import torch

import vaekit
from vaekit.data import load_dataset
from vaekit.train.threads import ThreadTuner, thread_candidates


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits").splits["train"]


class FakeWork:
    """A unit of work whose cost (fake seconds) depends on the thread count it runs on."""

    def __init__(self, cost: dict[int, float]):
        self.cost, self.now = cost, 0.0

    def clock(self) -> float:
        return self.now

    def run(self, tuner: ThreadTuner, units: int) -> list[int]:
        used = []
        for _ in range(units):
            with tuner.unit():
                used.append(torch.get_num_threads())
                self.now += self.cost[torch.get_num_threads()]
        return used


def test_candidates_halve_down_to_one():
    assert thread_candidates(8) == [8, 4, 2, 1]
    assert thread_candidates(6) == [6, 3, 1]
    assert thread_candidates(2) == [2, 1]
    assert thread_candidates(1) == [1]


def test_the_tuner_keeps_the_faster_count_and_retries_when_the_machine_gets_busy():
    before = torch.get_num_threads()
    work = FakeWork({2: 1.0, 1: 1.8})  # a quiet machine: two threads are faster
    with ThreadTuner(2, trial_steps=3, interval=1000.0, patience=4, clock=work.clock) as tuner:
        used = work.run(tuner, 20)
        assert used[:6] == [2, 2, 2, 1, 1, 1]  # the trial: each candidate for trial_steps units
        assert set(used[6:]) == {2} and tuner.trials == 1
        work.cost[2] = 9.0  # another process takes a core: two threads now wait for each other
        used = work.run(tuner, 4 + 6 + 10)
        assert used[:4] == [2] * 4  # patience: four slow units in a row start a new trial
        assert used[4:10] == [2, 2, 2, 1, 1, 1]
        assert set(used[10:]) == {1} and tuner.trials == 2
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("caller", [1, 2])
def test_the_first_trial_runs_every_candidate_whatever_count_the_caller_had(caller):
    """The tuner once believed the process already ran on its largest candidate: a caller on one thread then
    had its 'two-thread' trial run on one (found when the test suite ran in one-thread workers)."""
    torch.set_num_threads(caller)
    work = FakeWork({2: 1.0, 1: 1.8})
    with ThreadTuner(2, trial_steps=2, interval=1000.0, clock=work.clock) as tuner:
        assert work.run(tuner, 6) == [2, 2, 1, 1, 2, 2]
    assert torch.get_num_threads() == caller


def test_a_near_tie_goes_to_fewer_threads_and_trials_repeat_after_the_interval():
    work = FakeWork({2: 1.0, 1: 1.03})
    with ThreadTuner(2, trial_steps=2, interval=10.0, clock=work.clock) as tuner:
        used = work.run(tuner, 4 + 20)
        assert set(used[4:13]) == {1}  # within 5%: the cores are left to the rest of the machine
        # the first trial ended at 4.06 fake seconds, so the second starts after 14.06, once
        assert used[14:18] == [2, 2, 1, 1] and tuner.trials == 2


def test_fit_restores_the_callers_thread_count_and_a_fixed_count_is_used(digits):
    x = digits[:256]
    torch.set_num_threads(2)
    seen = []

    class Watch:
        def on_step_end(self, trainer, out):
            seen.append(torch.get_num_threads())

    vae = vaekit.build_vae(x.shape[1:], hidden=(16,), latent_dim=2)
    trainer = vaekit.Trainer(
        vae, lambda m, b, s: vaekit.elbo(m, b), epochs=1, batch_size=64, threads=1, callbacks=[Watch()]
    )
    history = trainer.fit(x)
    assert set(seen) == {1} and history[0]["threads"] == 1
    assert torch.get_num_threads() == 2
    vae = vaekit.build_vae(x.shape[1:], hidden=(16,), latent_dim=2)
    trainer = vaekit.Trainer(vae, lambda m, b, s: vaekit.elbo(m, b), epochs=2, batch_size=16)
    trainer.fit(x)
    assert trainer.tuner is not None and trainer.tuner.trials >= 1
    assert torch.get_num_threads() == 2
