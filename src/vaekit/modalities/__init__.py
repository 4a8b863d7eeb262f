"""Kinds of data as plug-ins: images, tables, melodies, and whatever a user registers.

Everything above this package (CLI, training, evaluation, the report) asks a :class:`Modality` what depends
on the kind of data, and tests nothing itself. A new kind is one subclass and one call::

    from vaekit.modalities import Modality, register_modality

    class Spectra(Modality):
        name = "spectra"
        ...

    register_modality(Spectra())

A data set names its modality when its loader knows it (``Dataset.modality``); otherwise the modalities are
asked in reverse order of registration (plug-ins before the built-in images and tables). A run folder records
the modality it was trained on, so commands on it never guess.
"""

from __future__ import annotations

from vaekit.config import ModelConfig
from vaekit.data.dataset import Dataset
from vaekit.errors import DataError, RunFolderError
from vaekit.modalities.base import OUTPUT_KINDS, Modality
from vaekit.modalities.images import Images
from vaekit.modalities.tables import Tables

_MODALITIES: dict[str, Modality] = {}


def register_modality(modality: Modality) -> Modality:
    """Add (or replace) a modality under its ``name``; returns it."""
    if not modality.name:
        raise ValueError("a modality needs a name")
    _MODALITIES.pop(modality.name, None)
    _MODALITIES[modality.name] = modality
    return modality


def unregister_modality(name: str) -> None:
    """Remove a registered modality (tests that register their own clean up with this)."""
    _MODALITIES.pop(name, None)


def modality_names() -> list[str]:
    return list(_MODALITIES)


def get_modality(name: str) -> Modality:
    """The registered modality ``name``."""
    try:
        return _MODALITIES[name]
    except KeyError:
        raise RunFolderError(
            f"unknown kind of data {name!r} (known: {', '.join(_MODALITIES)})",
            "import the package that registers it before loading the run",
        ) from None


def modality_of(dataset: Dataset) -> Modality:
    """The modality of a loaded data set: the one its loader named, else the last registered that claims it."""
    if dataset.modality is not None:
        return get_modality(dataset.modality)
    for modality in reversed(list(_MODALITIES.values())):
        if modality.recognises(dataset):
            return modality
    raise DataError(f"no kind of data takes examples of shape {dataset.x_shape}", "give tables (N, D) or images")


def modality_of_run(recorded: str | None, model: ModelConfig, x_shape: tuple[int, ...]) -> Modality:
    """A run's modality: the recorded name, or (for folders written before it was recorded) recognised."""
    if recorded is not None:
        return get_modality(recorded)
    for modality in reversed(list(_MODALITIES.values())):
        if modality.recognises_model(model, x_shape):
            return modality
    raise RunFolderError(f"cannot tell what kind of data a model of examples {x_shape} takes", "retrain it")


register_modality(Tables())
register_modality(Images())

__all__ = [
    "OUTPUT_KINDS",
    "Images",
    "Modality",
    "Tables",
    "get_modality",
    "modality_names",
    "modality_of",
    "modality_of_run",
    "register_modality",
    "unregister_modality",
]
