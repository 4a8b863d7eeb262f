"""Run folders: self-describing, written atomically, read without unpickling.

Layout::

    config.json          everything needed to rebuild the model (and repeat the run)
    model.safetensors    the best weights so far (by validation loss)
    trainer_state.pt     last weights, optimiser, RNG states, epoch, history: what --resume needs
    metrics.jsonl        one JSON object per epoch
    .lock                held by the process writing the run (see :mod:`vaekit.train.lock`)
    summary.json         final figures (test loss, best epoch, ...) once training ends
    *.png                pictures

Every file is written to a temporary name in the same folder and moved into place with ``os.replace``, so
a kill at any moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from vaekit.errors import RunFolderError
from vaekit.train.lock import LOCK_NAME, FolderLock
from vaekit.utils import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)


def module_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's persistent state as contiguous CPU tensors (what safetensors can store)."""
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


class RunFolder:
    """Reads and writes one run folder. Knows modules and dicts, not VAEs."""

    CONFIG = "config.json"
    MODEL = "model.safetensors"
    STATE = "trainer_state.pt"
    METRICS = "metrics.jsonl"
    SUMMARY = "summary.json"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.held_lock: FolderLock | None = None  # set by whoever claims the folder for a run
        self.created = False  # did that claim create the folder?

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def exists(self) -> bool:
        return (self.path / self.CONFIG).is_file()

    def is_empty(self) -> bool:
        """No folder, or nothing in it but its lock."""
        return not self.path.is_dir() or all(p.name == LOCK_NAME for p in self.path.iterdir())

    def lock(self) -> FolderLock:
        """This folder's exclusive lock (``with folder.lock(): ...``); see :class:`~vaekit.train.lock.FolderLock`."""
        return FolderLock(self.path)

    def clear_training(self) -> None:
        """Remove what an earlier attempt at training left (weights, state, metrics, summary) to start again."""
        for name in (self.MODEL, self.STATE, self.METRICS, self.SUMMARY):
            (self / name).unlink(missing_ok=True)

    # config ---------------------------------------------------------------------------------------------
    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_text(self / self.CONFIG, json.dumps(config, indent=2, sort_keys=True) + "\n")

    def read_config(self) -> dict[str, Any]:
        if not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} does not exist", "give the --out folder of a training run")
        file = self / self.CONFIG
        if not file.is_file():
            raise RunFolderError(
                f"{self.path} is not a vaekit run folder (no {self.CONFIG})", "give the --out folder of a training run"
            )
        try:
            return json.loads(file.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunFolderError(
                f"{file} is not valid JSON ({err.__class__.__name__})", "the run folder is damaged"
            ) from None

    # weights --------------------------------------------------------------------------------------------
    def save_model(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Write weights (e.g. ``module_tensors(model)``) as ``model.safetensors``."""
        atomic_write_bytes(self / self.MODEL, st_save(dict(tensors)))

    def load_model_state(self) -> dict[str, torch.Tensor]:
        file = self / self.MODEL
        if not file.is_file():
            raise RunFolderError(
                f"incomplete run folder {self.path}: no {self.MODEL}", "train it to the end, or --resume it"
            )
        try:
            return st_load(file.read_bytes())
        except (SafetensorError, ValueError, OSError) as err:
            raise RunFolderError(f"cannot read {file}: {err}", "the run folder is damaged") from None

    # trainer state --------------------------------------------------------------------------------------
    def save_state(self, state: Mapping[str, Any]) -> None:
        buf = io.BytesIO()
        torch.save(dict(state), buf)
        atomic_write_bytes(self / self.STATE, buf.getvalue())

    def has_state(self) -> bool:
        return (self / self.STATE).is_file()

    def load_state(self) -> dict[str, Any]:
        file = self / self.STATE
        if not file.is_file():
            raise RunFolderError(f"nothing to resume in {self.path}: no {self.STATE}", "start a new run instead")
        try:
            return torch.load(file, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for damaged or foreign files
            raise RunFolderError(f"cannot read {file}: {err.__class__.__name__}", "the run folder is damaged") from None

    # metrics --------------------------------------------------------------------------------------------
    def write_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        atomic_write_text(self / self.METRICS, "".join(json.dumps(r) + "\n" for r in records))

    def read_metrics(self) -> list[dict[str, Any]]:
        file = self / self.METRICS
        if not file.is_file():
            return []
        records = []
        for number, line in enumerate(file.read_text("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                log.warning("skipped line %d of %s: not a JSON object", number, file)
                continue
            records.append(record)
        return records

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        atomic_write_text(self / self.SUMMARY, json.dumps(summary, indent=2) + "\n")

    def read_summary(self) -> dict[str, Any]:
        file = self / self.SUMMARY
        if not file.is_file():
            return {}
        try:
            return json.loads(file.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunFolderError(
                f"{file} is not valid JSON ({err.__class__.__name__})", "the run folder is damaged"
            ) from None
