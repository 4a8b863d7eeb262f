"""Training: a generic trainer, callbacks, run folders and device selection."""

from vaekit.train.checkpoint import RunFolder
from vaekit.train.device import resolve_device
from vaekit.train.trainer import Trainer

__all__ = ["RunFolder", "Trainer", "resolve_device"]
