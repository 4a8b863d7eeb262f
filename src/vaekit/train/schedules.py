"""Learning-rate schedules: a function of the optimisation step, plus an optional plateau factor per epoch."""

from __future__ import annotations

import math
from typing import Any


class LRSchedule:
    """lr(step) = warm-up(step) * shape(step) * plateau factor, never below ``lr_min`` after warm-up.

    - warm-up: linear from ``lr / warmup_steps`` to ``lr`` over ``warmup_steps`` steps (Goyal et al. 2017,
      arXiv:1706.02677);
    - ``cosine``: ``lr_min + (lr - lr_min) (1 + cos(pi t)) / 2`` with t the fraction of ``total_steps`` after
      warm-up (Loshchilov & Hutter 2017, arXiv:1608.03983, without restarts);
    - ``plateau``: halve the rate after ``patience`` epochs whose monitored loss did not improve;
    - ``constant``: only the warm-up.

    The plateau state is part of :meth:`state_dict`, so a resumed run continues the same schedule.
    """

    def __init__(
        self,
        lr: float,
        kind: str = "constant",
        *,
        warmup_steps: int = 0,
        total_steps: int = 1,
        lr_min: float = 0.0,
        patience: int = 5,
        factor: float = 0.5,
    ):
        if kind not in ("constant", "cosine", "plateau"):
            raise ValueError(f"unknown schedule {kind!r}")
        self.lr, self.kind, self.warmup_steps = lr, kind, warmup_steps
        self.total_steps, self.lr_min = max(total_steps, 1), lr_min
        self.patience, self.factor = patience, factor
        self.scale, self.best, self.bad_epochs = 1.0, math.inf, 0

    def __call__(self, step: int) -> float:
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        lr = self.lr * self.scale
        if self.kind == "cosine":
            t = min(1.0, (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1))
            lr = self.lr_min + (self.lr - self.lr_min) * 0.5 * (1 + math.cos(math.pi * t))
        return max(lr, self.lr_min)

    def epoch_end(self, monitor: float) -> None:
        """Tell the schedule the epoch's monitored loss (``val/loss``, else ``train/loss``)."""
        if self.kind != "plateau":
            return
        if monitor < self.best:
            self.best, self.bad_epochs = monitor, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                self.scale *= self.factor
                self.bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.best, self.bad_epochs = state["scale"], state["best"], state["bad_epochs"]
