"""The record every objective returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Loss:
    """``loss``: the scalar to backpropagate. ``terms``: per-example values of shape ``(batch,)`` for logging.

    Terms are in nats per example (summed over data dimensions); the trainer averages them over examples and
    logs them as ``train/<name>`` and ``val/<name>``.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
