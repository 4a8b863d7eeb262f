"""Images ``(C, H, W)`` in [0, 1]: picture grids, interpolation and traversal pictures, GIFs."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.config import ModelConfig
from vaekit.data.dataset import Dataset
from vaekit.modalities.base import Modality, static_text


class Images(Modality):
    """Images ``(C, H, W)``: samples and reconstructions as picture grids, paths as rows of pictures."""

    name = "images"
    outputs = {
        "samples": frozenset({".png", ".npy"}),
        "reconstructions": frozenset({".png", ".npy"}),
        "codes": frozenset({".npy", ".csv"}),
        "interpolation": frozenset({".png", ".gif", ".npy"}),
        "traversal": frozenset({".png", ".npy"}),
        "map": frozenset({".png", ".npz"}),
    }

    def recognises(self, dataset: Dataset) -> bool:
        return dataset.modality == self.name or (dataset.modality is None and len(dataset.x_shape) == 3)

    def recognises_model(self, model: ModelConfig, x_shape: tuple[int, ...]) -> bool:
        return len(x_shape) == 3

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
        from vaekit.apps.images import save_image_grid, save_pairs

        suffix = Path(path).suffix.lower()
        if suffix == ".png" and kind == "reconstructions" and reference is not None:
            save_pairs(torch.as_tensor(reference), torch.as_tensor(rows), path)
        elif suffix == ".png":
            save_image_grid(rows, path, nrow=per_row)
        else:
            super().write(kind, rows, path)

    def shown(self, kind: str, path: str | os.PathLike) -> int | None:
        return 32 if Path(path).suffix.lower() == ".png" else None

    def write_interpolation(self, result: Any, path: str | os.PathLike, *, names: Sequence[str] = ()) -> None:
        from vaekit.apps.latent import write_interpolation

        write_interpolation(result, path)

    def picture_note(self, name: str, conditional: bool) -> str:
        if name == "reconstructions.png":
            return "held-out inputs above their reconstructions"
        return "a row per class" if name == "samples.png" and conditional else ""

    def write_pictures(
        self,
        model: Any,
        folder: Path,
        held_out: torch.Tensor | None,
        *,
        labels: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        """``samples.png``: 64 prior draws (a row of 10 per class for a conditional VAE); ``reconstructions.png``:
        32 evenly spaced held-out images above their reconstructions."""
        from vaekit.apps.generation import reconstruct, sample, sample_by_label
        from vaekit.apps.images import save_image_grid

        # the model's own distribution (temperature 1), said on the picture: a sharper-looking lower
        # temperature would flatter the model (vaekit sample --temperature draws those)
        if model.n_classes:
            drawn = sample_by_label(model, 10, seed=seed)
            caption = "a row per class, the same 10 draws z ~ p(z) in every row; temperature 1, decoded means"
            save_image_grid(drawn, folder / "samples.png", nrow=10, caption=caption)
        else:
            caption = "64 draws z ~ p(z), temperature 1; decoded means E[x|z]"
            save_image_grid(sample(model, 64, seed=seed), folder / "samples.png", caption=caption)
        if held_out is not None and len(held_out):
            # evenly spaced, not the first rows: some test sets are sorted by class (binarized MNIST starts with 0s)
            rows = torch.linspace(0, len(held_out) - 1, min(len(held_out), 32)).long()
            x, y = held_out[rows], (labels[rows] if model.n_classes else None)
            self.write("reconstructions", reconstruct(model, x, y=y), folder / "reconstructions.png", reference=x)

    def report_sections(
        self, model: Any, x: torch.Tensor, y: torch.Tensor | None, *, seed: int = 0
    ) -> list[tuple[str, str, str]]:
        from vaekit.apps.latent import choose_pairs, interpolate, interpolation_png, traversal_png, traverse
        from vaekit.apps.report import embed_png

        a, b = choose_pairs(len(x), 8, seed=seed, labels=y)
        path = interpolate(model, x[a], x[b], steps=10, y=None if y is None else y[a])
        walk = traverse(model, x, span=3.0, steps=9, y=y)
        kl = ", ".join(f"z{j}: {walk.kl[j]:.2f}" for j in walk.dims)
        same = " (pairs of the same class)" if y is not None else ""
        return [
            (
                "Interpolation",
                embed_png(interpolation_png(path), "interpolation"),
                "each row: a real held-out input, ten decoded points on the straight line between the two "
                "posterior means, the other real input" + same,
            ),
            (
                "Latent traversals",
                embed_png(traversal_png(walk), "traversals")
                + f'<p class="note">mean KL per dimension (nats): {html.escape(kl)}</p>',
                "one row per latent dimension, largest KL first; each varies that dimension from -3 to 3 around "
                "the posterior mean of the first held-out example",
            ),
        ]

    def view_script(self) -> str:
        return static_text("vaekit.modalities", "images.js")

    def view_context(self, x: np.ndarray, names: Sequence[str] | None = None) -> dict[str, Any]:
        return {}

    def view_json(self, rows: np.ndarray) -> list[Any]:
        """Each image as nested lists ``[C][H][W]`` of grey levels (3 decimals; the page clips them to [0, 1])."""
        return np.round(np.asarray(rows, dtype=np.float64), 3).tolist()
