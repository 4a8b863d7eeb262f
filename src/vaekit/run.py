"""A run folder, read and validated once: its config, model, data, metrics and kind of data.

Every command and app that works on a trained run takes a :class:`Run`::

    run = vaekit.Run.open("runs/digits")
    vae = run.model(device="cpu")          # best weights, eval mode
    held_out = run.data("test")            # the run's own data set, binarization, bars and labels
    run.modality.write("samples", run.modality.sample(vae, 16), "samples.png")

:func:`save` and :func:`load` are the two halves of one format: ``config.json`` (everything needed to rebuild
the model), ``model.safetensors`` (its weights) and ``checksums.json`` (their sha256, checked on load);
training adds metrics, state and pictures beside them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from vaekit import __version__
from vaekit.build import build_vae
from vaekit.config import FORMAT_VERSION, ModelConfig, RunConfig, parse_run_config
from vaekit.data.dataset import Dataset, held_out_binarization
from vaekit.data.registry import load_dataset
from vaekit.errors import DataError, RunFolderError, VaekitError
from vaekit.modalities import Modality, modality_of_run
from vaekit.train.checkpoint import RunFolder, module_tensors

log = logging.getLogger(__name__)

ARRAYS = "<arrays>"  # the data name of a run trained by vaekit.fit on the caller's arrays


@dataclass(frozen=True)
class Examples:
    """Held-out examples ``x (N, *x_shape)`` with their data set's ``labels (N,)`` (None where it has none) and,
    for a subset of a split, the ``index (N,)`` of its rows in the split.

    ``conditional``: the run's model needs labels; :attr:`y` gives them (an error if the data has none).
    """

    x: torch.Tensor
    labels: torch.Tensor | None
    conditional: bool = False
    index: torch.Tensor | None = None  # which rows of the split these are, where not all of them

    @property
    def y(self) -> torch.Tensor | None:
        """The labels a conditional model takes; None for an unconditional one."""
        if not self.conditional:
            return None
        if self.labels is None:
            raise VaekitError("this model is conditional and the data has no labels", "use labelled data")
        return self.labels

    def __len__(self) -> int:
        return len(self.x)

    def rows(self, index: torch.Tensor | slice) -> Examples:
        """The examples at ``index`` (labels follow)."""
        labels = None if self.labels is None else self.labels[index]
        return Examples(self.x[index], labels, self.conditional)

    def spread(self, n: int | None) -> Examples:
        """At most ``n`` evenly spaced examples (held-out sets may be sorted by class); all for ``None``."""
        if n is None or len(self) <= n:
            return self
        return self.rows(torch.linspace(0, len(self) - 1, max(n, 1)).long())


def run_record(config: RunConfig, x_shape: tuple[int, ...], modality: str) -> dict[str, Any]:
    """The content of a run folder's ``config.json``."""
    return {
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "x_shape": list(x_shape),
        "modality": modality,
        "run": config.model_dump(mode="json"),
    }


class Run:
    """One run folder: ``config``, ``x_shape`` and ``modality`` read once; model and data on request."""

    def __init__(
        self, path: Path, config: RunConfig, x_shape: tuple[int, ...], modality: Modality, *, verify: bool = True
    ):
        self.path, self.config, self.x_shape, self.modality = path, config, x_shape, modality
        self.folder = RunFolder(path, verify=verify)
        self._models: dict[str, Any] = {}

    @classmethod
    def open(cls, path: str | os.PathLike, *, verify: bool = True) -> Run:
        """Read and check ``path``'s ``config.json`` (an error names what is missing or incompatible).

        With ``verify`` (the default), the weights are checked against the sha256 the run folder recorded when
        :meth:`model` reads them; ``verify=False`` loads changed or damaged weights anyway."""
        folder = RunFolder(path, verify=verify)
        record = folder.read_config()
        version = record.get("format_version") if isinstance(record, dict) else None
        if version != FORMAT_VERSION:
            raise RunFolderError(
                f"{folder.path} was written by an incompatible vaekit (run format {version!r}, this vaekit reads "
                f"{FORMAT_VERSION})",
                "retrain it with this version",
            )
        try:
            x_shape = tuple(int(d) for d in record["x_shape"])
            config = parse_run_config(record["run"])
        except (KeyError, TypeError, ValueError, VaekitError) as err:
            raise RunFolderError(f"{folder.path}/config.json is incomplete or invalid ({err})", "retrain it") from None
        modality = modality_of_run(record.get("modality"), config.model, x_shape)
        return cls(folder.path, config, x_shape, modality, verify=verify)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, modality={self.modality.name!r}, x_shape={self.x_shape})"

    # model ----------------------------------------------------------------------------------------------
    def model(self, device: str | torch.device = "cpu") -> Any:
        """The trained model (best weights) in eval mode on ``device``; built once per device."""
        key = str(torch.device(device))
        if key not in self._models:
            vae = build_vae(self.x_shape, self.config.model)
            state = self.folder.load_model_state()
            bad = [name for name, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
            if bad:
                raise RunFolderError(
                    f"the weights in {self.path / RunFolder.MODEL} hold NaN or inf values ({bad[0]})",
                    "training diverged: retrain with a lower --lr",
                )
            try:
                vae.load_state_dict(state)
            except RuntimeError as err:
                first = str(err).splitlines()[0]
                raise RunFolderError(
                    f"weights in {self.path} do not match its config.json ({first})", "retrain it"
                ) from None
            self._models[key] = vae.to(device).eval()
        return self._models[key]

    @property
    def conditional(self) -> bool:
        return self.config.model.classes > 0

    # data -----------------------------------------------------------------------------------------------
    def dataset(self, data: str | None = None, data_dir: str | os.PathLike | None = None) -> Dataset:
        """``data`` (a name or path; default: the data set the run was trained on) read as the run reads it."""
        if data is None and self.config.data.name == ARRAYS:
            raise DataError(
                f"{self.path} was trained on arrays passed from Python, not on a data set", "give --data (data=)"
            )
        return load_dataset(data or self.config.data.name, data_dir, **self.config.data.loader_options)

    def data(
        self,
        split: str = "test",
        *,
        data: str | None = None,
        data_dir: str | os.PathLike | None = None,
        limit: int | None = None,
        limit_seed: int = 0,
    ) -> Examples:
        """``split`` of ``data`` (default: the run's data set) as the model saw its held-out data: the run's
        fixed binarization where it trained with dynamic binarization, its melody windows; checked against the
        model. ``limit`` keeps a random subset of N examples, the same for every call with the same
        ``limit_seed`` (the first N of a sorted or curated test set can be far from typical), in split order."""
        dataset = self.dataset(data, data_dir)
        x = dataset.split(split)
        labels = dataset.labels.get(split if split in dataset.splits else "train")
        if labels is not None and len(labels) != len(x):
            labels = None
        if len(x) == 0:
            raise DataError(f"the {split} split of {dataset.name!r} is empty")
        built = next(iter(self._models.values()), None)  # any device's copy will do for a shape check
        self.modality.check_input(built if built is not None else self.model(), x, f"the {split} data")
        if self.config.data.binarize == "dynamic":  # the whole split, so a row's draw does not depend on limit
            x = held_out_binarization(x, self.config.train.seed, split)
        examples = Examples(x, labels, self.conditional)
        if limit is None or limit >= len(x):
            return examples
        index = torch.randperm(len(x), generator=torch.Generator().manual_seed(limit_seed))[:limit].sort().values
        return replace(examples.rows(index), index=index)

    # records --------------------------------------------------------------------------------------------
    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        """One record per epoch (``metrics.jsonl``)."""
        return self.folder.read_metrics()

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Final figures (``summary.json``); empty while training has not ended."""
        return self.folder.read_summary()


def save(model: Any, path: str | os.PathLike, *, config: RunConfig | None = None, modality: str | None = None) -> Path:
    """Write a model built by :func:`vaekit.build_vae` to a folder that :func:`load` reads back:
    ``config.json`` (its typed config) and ``model.safetensors``."""
    if getattr(model, "config", None) is None:
        raise VaekitError("only a model made by vaekit.build_vae can be saved", "build it with build_vae")
    model_config = ModelConfig.model_validate(model.config["model"])
    config = config or RunConfig(model=model_config)
    if modality is None:
        modality = modality_of_run(None, model_config, tuple(model.x_shape)).name
    folder = RunFolder(path)
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.write_config(run_record(config, tuple(model.x_shape), modality))
    folder.save_model(module_tensors(model))
    return folder.path


def load(path: str | os.PathLike, *, device: str | torch.device = "cpu", verify: bool = True) -> Any:
    """The trained model of a run folder (best weights), in eval mode on ``device``.

    With ``verify`` (the default), weights that do not match the sha256 recorded beside them are refused."""
    return Run.open(path, verify=verify).model(device)
