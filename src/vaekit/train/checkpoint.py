"""Run folders: self-describing, written atomically, read without unpickling.

Layout::

    config.json          everything needed to rebuild the model (and repeat the run)
    model.safetensors    the best weights so far (by validation loss)
    trainer_state.pt     last weights, optimiser, RNG states, epoch, history: what --resume needs
    checksums.json       the sha256 of model.safetensors and trainer_state.pt, checked when they are read
    metrics.jsonl        one JSON object per epoch
    .lock                held by the process writing the run (see :mod:`vaekit.train.lock`)
    summary.json         final figures (test loss, best epoch, ...) once training ends
    *.png                pictures

Every file is written to a temporary name in the same folder and moved into place with ``os.replace``, so
a kill at any moment leaves either the old file or the new one, never a torn one.

``checksums.json`` maps each weight file to the digests it may have: normally one. Replacing a weight file takes
three atomic writes: the digest list becomes [old, new], the file is replaced, the list becomes [new]. A kill
between any two leaves a file whose digest is listed, so a good folder always verifies, while a flipped byte
(or any content vaekit did not write) does not. A folder written before digests existed loads unverified.
"""

from __future__ import annotations

import hashlib
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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunFolder:
    """Reads and writes one run folder. Knows modules and dicts, not VAEs.

    With ``verify`` (the default), weight files are checked against ``checksums.json`` when read.
    """

    CONFIG = "config.json"
    MODEL = "model.safetensors"
    STATE = "trainer_state.pt"
    METRICS = "metrics.jsonl"
    SUMMARY = "summary.json"
    CHECKSUMS = "checksums.json"

    def __init__(self, path: str | os.PathLike, *, verify: bool = True):
        self.path = Path(path)
        self.verify = verify
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
        for name in (self.MODEL, self.STATE, self.CHECKSUMS, self.METRICS, self.SUMMARY):
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

    # checksums ------------------------------------------------------------------------------------------
    def read_checksums(self) -> dict[str, list[str]]:
        """``checksums.json``: file name -> the sha256 digests it may have (empty when there is none)."""
        file = self / self.CHECKSUMS
        if not file.is_file():
            return {}
        try:
            record = json.loads(file.read_text("utf-8"))
            if not isinstance(record, dict) or not all(
                isinstance(v, list) and all(isinstance(d, str) for d in v) for v in record.values()
            ):
                raise ValueError("not a mapping of file names to lists of digests")
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
            raise RunFolderError(
                f"{file} is damaged ({err.__class__.__name__})", "pass --no-verify to load the run without it"
            ) from None
        return record

    def _write_checksums(self, record: Mapping[str, list[str]]) -> None:
        atomic_write_text(self / self.CHECKSUMS, json.dumps(dict(record), indent=2, sort_keys=True) + "\n")

    def _replace(self, name: str, data: bytes) -> None:
        """Write weight file ``name`` and its digest so that a kill between any two writes leaves a folder
        that verifies (see the module docstring)."""
        try:
            record = self.read_checksums()
        except RunFolderError:
            record = {}  # a damaged record is rewritten whole below
        new = sha256_hex(data)
        old = record.get(name)
        if old is None and (self / name).is_file():
            # written before digests existed: it loaded unverified until now, and still may until replaced
            old = [sha256_hex((self / name).read_bytes())]
        pending = list(dict.fromkeys([*(old or []), new]))
        if record.get(name) != pending:
            self._write_checksums({**record, name: pending})
        atomic_write_bytes(self / name, data)
        if pending != [new]:
            self._write_checksums({**record, name: [new]})

    def _read_verified(self, name: str, hint: str) -> bytes:
        """The bytes of weight file ``name``, checked against ``checksums.json`` when ``verify`` is on."""
        file = self / name
        data = file.read_bytes()
        if not self.verify:
            return data
        digests = self.read_checksums().get(name)
        if digests is None:
            log.info(
                "no recorded sha256 for %s in %s (written before vaekit kept digests): not verified", name, self.path
            )
        elif sha256_hex(data) not in digests:
            raise RunFolderError(
                f"{name} in {self.path} does not match its recorded sha256",
                f"the file was changed or damaged; {hint}, or pass --no-verify to load it anyway",
            )
        return data

    # weights --------------------------------------------------------------------------------------------
    def save_model(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Write weights (e.g. ``module_tensors(model)``) as ``model.safetensors``, and record their sha256."""
        self._replace(self.MODEL, st_save(dict(tensors)))

    def load_model_state(self) -> dict[str, torch.Tensor]:
        """The weights of ``model.safetensors`` (checked against their recorded sha256 when ``verify`` is on)."""
        file = self / self.MODEL
        if not file.is_file():
            raise RunFolderError(
                f"incomplete run folder {self.path}: no {self.MODEL}", "train it to the end, or --resume it"
            )
        try:
            data = self._read_verified(self.MODEL, "retrain")
        except OSError as err:
            raise RunFolderError(f"cannot read {file}: {err.strerror}", "the run folder is damaged") from None
        try:
            return st_load(data)
        except (SafetensorError, ValueError, OSError) as err:
            raise RunFolderError(f"cannot read {file}: {err}", "the run folder is damaged") from None

    # trainer state --------------------------------------------------------------------------------------
    def save_state(self, state: Mapping[str, Any]) -> None:
        """Write ``trainer_state.pt`` (tensors and plain values), and record its sha256."""
        buf = io.BytesIO()
        torch.save(dict(state), buf)
        self._replace(self.STATE, buf.getvalue())

    def has_state(self) -> bool:
        return (self / self.STATE).is_file()

    def load_state(self) -> dict[str, Any]:
        file = self / self.STATE
        if not file.is_file():
            raise RunFolderError(f"nothing to resume in {self.path}: no {self.STATE}", "start a new run instead")
        try:
            data = self._read_verified(self.STATE, "start a new run")
        except OSError as err:
            raise RunFolderError(f"cannot read {file}: {err.strerror}", "the run folder is damaged") from None
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
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
