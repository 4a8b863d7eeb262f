"""Tables ``(D,)``: rows of numbers (and coded categories), written as .csv or .npy, pictured as scatters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.config import ModelConfig
from vaekit.data.dataset import Dataset
from vaekit.modalities.base import Modality


class Tables(Modality):
    """Rows of features ``(D,)``: the fallback for any data that is not pictures or a registered kind."""

    name = "tables"

    def recognises(self, dataset: Dataset) -> bool:
        return dataset.modality == self.name or (dataset.modality is None and len(dataset.x_shape) == 1)

    def recognises_model(self, model: ModelConfig, x_shape: tuple[int, ...]) -> bool:
        return len(x_shape) == 1

    def report_sections(self, model: Any, x: torch.Tensor, y: torch.Tensor | None, *, seed: int = 0):
        note = '<p class="note">not drawn: the data are not images; the latent map below shows the latent space</p>'
        return [("Interpolation and traversals", note, "")]

    def write_pictures(
        self,
        model: Any,
        folder: Path,
        held_out: torch.Tensor | None,
        *,
        labels: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        """``samples.png``: 500 prior draws over the held-out rows (first two features); ``reconstructions.png``:
        500 held-out rows joined to their reconstructions."""
        from vaekit.apps.generation import reconstruct, sample
        from vaekit.apps.images import plot_table_pairs

        y = torch.arange(500) % model.n_classes if model.n_classes else None
        samples = torch.as_tensor(sample(model, 500, seed=seed, y=y))
        reference = held_out if held_out is not None else torch.empty(0, samples.shape[1])
        plot_table_pairs(
            reference, samples, folder / "samples.png", labels=("data", "samples"), title="samples from the prior"
        )
        if held_out is not None and len(held_out):
            rows = torch.linspace(0, len(held_out) - 1, min(len(held_out), 500)).long()
            x, y = held_out[rows], (labels[rows] if model.n_classes else None)
            x_hat = torch.as_tensor(reconstruct(model, x, y=y))
            plot_table_pairs(
                x,
                x_hat,
                folder / "reconstructions.png",
                labels=("input", "reconstruction"),
                title="reconstructions",
                paired=True,
            )
