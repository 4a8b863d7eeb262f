"""How many CPU threads a training loop uses: measured while it runs, and measured again when the load changes.

Why not simply all cores: PyTorch's CPU kernels run on OpenMP threads that spin-wait for each other at the end
of every parallel region. When another process holds one of the cores, each region waits for a thread that is
not running, and a small model's step, made of many short regions, slowed down 5-12x on 2 cores. One thread
is then the fastest choice; on a quiet machine a model with large matrix products wants them all. Only a
measurement tells which, and only a repeated one notices that the machine became busy (or quiet) mid-run.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Callable, Iterator

import torch

log = logging.getLogger(__name__)


def thread_candidates(max_threads: int) -> list[int]:
    """``max_threads`` and its halvings down to 1, largest first: ``8 -> [8, 4, 2, 1]``, ``6 -> [6, 3, 1]``."""
    out, n = [], max_threads
    while n > 1:
        out.append(n)
        n //= 2
    return [*out, 1]


class ThreadTuner:
    """Choose the number of intra-op threads that runs the current unit of work (a training step) fastest.

    A trial runs ``trial_steps`` units with each candidate count (see :func:`thread_candidates`) and keeps the
    one with the smallest median time; on a near-tie (within ``tie``) the smaller count wins, since it leaves
    cores to the rest of the machine. A new trial starts every ``interval`` seconds, or at once when
    ``patience`` units in a row take ``slowdown`` times the chosen count's median (the load went up). The
    units of a trial are real work, so a trial costs only the difference between the candidates.

    Use it as ``with tuner: ...`` around the loop (the thread count is restored on exit) and
    ``with tuner.unit(): one_step()`` around each unit; ``clock`` gives seconds. Results are not bit-identical
    to a run on a fixed thread count (sums split by thread round differently); fix the count where that
    matters.
    """

    def __init__(
        self,
        max_threads: int | None = None,
        *,
        trial_steps: int = 5,
        interval: float = 30.0,
        slowdown: float = 2.0,
        patience: int = 5,
        tie: float = 0.05,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.clock = clock
        self.max_threads = max_threads or torch.get_num_threads()
        self.candidates = thread_candidates(self.max_threads)
        self.trial_steps, self.interval, self.slowdown, self.patience, self.tie = (
            trial_steps,
            interval,
            slowdown,
            patience,
            tie,
        )
        self.threads = torch.get_num_threads()  # what runs now (the first trial sets each candidate)
        self.trials = 0  # trials completed
        self._queue: list[int] = []  # candidates still to time in the running trial
        self._times: dict[int, list[float]] = {}
        self._median = float("inf")  # per-unit seconds of the chosen count, as measured in the last trial
        self._next_trial = 0.0  # perf_counter time at which the next trial starts
        self._slow_in_row = 0
        self._restore = torch.get_num_threads()

    def __enter__(self) -> ThreadTuner:
        self._restore = torch.get_num_threads()
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._restore)

    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        """Time one unit of work run inside the block, on the thread count the tuner chooses for it."""
        if not self._queue and self.clock() >= self._next_trial:
            self._queue, self._times = list(self.candidates), {c: [] for c in self.candidates}
        if self._queue and self.threads != self._queue[0]:
            self._set(self._queue[0])
        t0 = self.clock()
        yield
        self._record(self.clock() - t0)

    def _set(self, n: int) -> None:
        self.threads = n
        torch.set_num_threads(n)

    def _record(self, seconds: float) -> None:
        if self._queue:
            times = self._times[self._queue[0]]
            times.append(seconds)
            if len(times) >= self.trial_steps:
                self._queue.pop(0)
                if not self._queue:
                    self._choose()
            return
        self._slow_in_row = self._slow_in_row + 1 if seconds > self.slowdown * self._median else 0
        if self._slow_in_row >= self.patience:
            self._next_trial, self._slow_in_row = 0.0, 0

    def _choose(self) -> None:
        medians = {c: statistics.median(t) for c, t in self._times.items()}
        fastest = min(medians.values())
        best = min(c for c, m in medians.items() if m <= fastest * (1 + self.tie))
        if best != self.threads or self.trials == 0:
            log.debug(
                "threads: %d (ms per step: %s)",
                best,
                ", ".join(f"{c} threads {1e3 * m:.2f}" for c, m in sorted(medians.items())),
            )
        self._set(best)
        self._median = medians[best]
        self._next_trial = self.clock() + self.interval
        self.trials += 1
