"""Melodies as a modality: token rows ``(steps,)`` decoded step by step, written as MIDI, WAV or piano rolls."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.config import ModelConfig
from vaekit.errors import DataError
from vaekit.modalities.base import Modality, static_text
from vaekit.music import apps
from vaekit.music.midi import MELODY_SUFFIXES
from vaekit.music.tokens import (
    FIRST_PITCH_TOKEN,
    HOLD,
    MIN_PITCH,
    NOTE_OFF,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    as_token_rows,
)

_MELODY_FILES = frozenset({".mid", ".midi", ".png", ".wav", ".npy", ""})


class Melodies(Modality):
    """Monophonic melodies on a sixteenth-note grid (see :mod:`vaekit.music.tokens`), MusicVAE-style models.

    The temperature of a melody sample is the decoder's softmax temperature (z is drawn from the prior at
    T = 1); ``greedy`` takes the most likely token at each step; reconstructions decode greedily.
    """

    name = "melodies"
    outputs = {
        "samples": _MELODY_FILES,
        "reconstructions": _MELODY_FILES,
        "codes": frozenset({".npy", ".csv"}),
        "interpolation": _MELODY_FILES - {""},
        "traversal": frozenset({".npy"}),
        "map": frozenset({".png", ".npz"}),
        "variations": _MELODY_FILES - {""},
    }

    def recognises_model(self, model: ModelConfig, x_shape: tuple[int, ...]) -> bool:
        return model.likelihood == "categorical"

    def preset(self) -> dict[str, Any]:
        # the sequence VAE; KL warm-up over the first epoch
        return {
            "model": {"arch": "melody", "latent_dim": 32},
            "objective": {"kl_warmup": 1.0},
            "train": {"epochs": 50, "batch_size": 128, "patience": 5},
        }

    def check_input(self, model: Any, x: torch.Tensor, what: str) -> None:
        rows = as_token_rows(x.detach().cpu().numpy(), what)
        if rows.shape[1:] != tuple(model.x_shape):
            steps = model.x_shape[0]
            raise DataError(
                f"{what} has {rows.shape[1]} steps, the model reads {steps} ({steps // STEPS_PER_BAR} bars)",
                "use the --bars the model was trained with",
            )

    def show(self, px: Any, *, temperature: float = 1.0, greedy: bool = True, generator=None) -> torch.Tensor:
        return px.sample(temperature=0.0 if greedy else temperature, generator=generator)

    def sample(
        self,
        model: Any,
        n: int,
        *,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        y: torch.Tensor | None = None,
    ) -> np.ndarray:
        z = model.prior.sample(n, generator=generator)
        return self.decode(model, z, y, temperature=temperature, greedy=greedy, generator=generator).cpu().numpy()

    def reconstruct(self, model: Any, x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
        return apps.reconstruct_melodies(model, x)

    def reads_file(self, path: str | os.PathLike) -> bool:
        return Path(path).suffix.lower() in MELODY_SUFFIXES and Path(path).is_file()

    def read_file(self, path: str | os.PathLike, model: Any) -> np.ndarray:
        return apps.consecutive_windows(apps.read_melody(path), model.x_shape[0], str(path))

    def reconstruct_file(self, model: Any, path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
        """A whole tune, window after window, cut back to its length."""
        tokens = apps.read_melody(path)
        return apps.reconstruct_tune(model, tokens)[None], tokens[None]

    def variations_of_file(
        self, model: Any, path: str | os.PathLike, n: int, *, spread: float, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The whole tune, window after window (:func:`vaekit.music.apps.melody_variations`)."""
        return apps.melody_variation_file(model, path, n, spread=spread, seed=seed)

    def shown(self, kind: str, path: str | os.PathLike) -> int | None:
        return 8

    def write(
        self,
        kind: str,
        rows: np.ndarray,
        path: str | os.PathLike,
        *,
        reference: np.ndarray | None = None,
        titles: Sequence[str] | None = None,
        per_row: int | None = None,
    ) -> None:
        if Path(path).suffix.lower() in (".npy", ".csv"):
            return super().write(kind, rows, path)
        apps.write_melodies(rows, path, titles=None if titles is None else list(titles), reference=reference)

    def write_interpolation(self, result: Any, path: str | os.PathLike, *, names: Sequence[str] = ()) -> None:
        """The melodies along the path, one after the other (``.png``: stacked piano rolls, titled)."""
        rows = result.decoded.reshape(-1, result.decoded.shape[-1])
        steps = len(result.t)
        titles = [f"{t:.2f}" for t in result.t]
        if len(names) == 2 and len(rows) == steps:
            titles[0], titles[-1] = names
        self.write("interpolation", rows, path, titles=titles)

    def write_pictures(
        self,
        model: Any,
        folder: Path,
        held_out: torch.Tensor | None,
        *,
        labels: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        apps.write_melody_pictures(model, folder, held_out, seed=seed)

    def metrics(self, model: Any, x: torch.Tensor, *, seed: int = 0) -> dict[str, Any]:
        return apps.evaluate_melodies(model, x, seed=seed)

    def metric_rows(self, f: Mapping[str, Any]) -> list[tuple[str, str]]:
        # note events first: 84% of the steps of a 16-bar tune are HOLD, so the all-steps accuracy of a model
        # that holds one note for bars still looks high
        onsets = f"{f['accuracy/onset_precision']:.3f} / {f['accuracy/onset_recall']:.3f}"
        rows = [
            ("note-event accuracy, free-running", f"{f['accuracy/free_running_events']:.3f}"),
            (
                "onset F1 of reconstructions (precision / recall)",
                f"{f['accuracy/onset_f1']:.3f} ({onsets})",
            ),
            ("note-event accuracy, teacher-forced", f"{f['accuracy/teacher_forced_events']:.3f}"),
            (
                "  all steps, HOLD included (teacher-forced / free)",
                f"{f['accuracy/teacher_forced']:.3f} / {f['accuracy/free_running']:.3f}",
            ),
            ("pitch-class distance (samples vs data)", f"{f['pitch_class_distance']:.3f}"),
        ]
        for key in ("in_key", "notes_per_bar", "pitch_range", "rhythm_repetition", "silent"):
            rows.append((f"{key} (samples / data)", f"{f['samples/' + key]:.3f} / {f['data/' + key]:.3f}"))
        return rows

    def view_script(self) -> str:
        """A piano roll with a play button (Web Audio, synthesised in the page) and a ``.mid`` download."""
        return static_text("vaekit.music", "melodies.js")

    def view_context(self, x: np.ndarray, names: Sequence[str] | None = None) -> dict[str, Any]:
        """The token grid (see :mod:`vaekit.music.tokens`), so the page turns tokens into notes itself."""
        return {
            "note_off": NOTE_OFF,
            "hold": HOLD,
            "first_pitch_token": FIRST_PITCH_TOKEN,
            "min_pitch": MIN_PITCH,
            "steps_per_bar": STEPS_PER_BAR,
            "steps_per_quarter": STEPS_PER_QUARTER,
            "bpm": 120,
        }

    def view_json(self, rows: np.ndarray) -> list[Any]:
        """Each melody as its token ids, one per sixteenth-note step."""
        return np.asarray(rows).astype(np.int64).reshape(len(rows), -1).tolist()


__all__ = ["Melodies"]
