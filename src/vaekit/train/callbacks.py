"""Trainer callbacks: hooks that observe training without changing it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vaekit.objectives.loss import Loss
    from vaekit.train.trainer import Trainer


class Callback(Protocol):
    """All hooks are optional; implement the ones you need."""

    def on_fit_start(self, trainer: Trainer) -> None: ...
    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None: ...
    def on_step_end(self, trainer: Trainer, out: Loss) -> None: ...
    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None: ...
    def on_fit_end(self, trainer: Trainer) -> None: ...


def call(callbacks: list[Any], hook: str, *args: Any) -> None:
    """Call ``hook`` on every callback that defines it."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)
