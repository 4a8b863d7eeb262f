"""Schedules for objective weights, as functions of the optimisation step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearWarmup:
    """``value * min(1, step / warmup_steps)``: KL annealing from 0 (Bowman et al. 2016, arXiv:1511.06349).

    With ``warmup_steps == 0`` it is constant. Step counts from 0, so the first update sees a small weight.
    """

    value: float
    warmup_steps: int

    def __call__(self, step: int) -> float:
        if self.warmup_steps <= 0:
            return self.value
        return self.value * min(1.0, (step + 1) / self.warmup_steps)
