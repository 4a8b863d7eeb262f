"""Pictures: image grids and training curves, written atomically as PNG."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from vaekit.utils import atomic_write_bytes


def image_grid(
    images: torch.Tensor | np.ndarray,
    *,
    nrow: int | None = None,
    pad: int = 2,
    min_tile: int = 56,
    row_labels: Sequence[str] | None = None,
    caption: str | None = None,
):
    """Tile ``(N, C, H, W)`` images in [0, 1] into one PIL image, ``nrow`` per row.

    Small images are scaled up with nearest-neighbour until a tile is at least ``min_tile`` pixels (an 8x8 digit
    becomes 56x56: pixels stay sharp squares). ``row_labels`` writes one label left of each row; ``caption`` a
    line above the grid (what the picture shows, e.g. the sampling temperature).
    """
    from PIL import Image

    x = torch.as_tensor(np.asarray(images), dtype=torch.float32).clamp(0, 1)
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, nrow)
        grid[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = x[i]
    array = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(array[..., 0] if c == 1 else array[..., :3])
    scale = max(1, math.ceil(min_tile / max(h, w)))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    if row_labels is not None or caption:
        image = _annotated(image, row_pitch=(h + pad) * scale, top=pad * scale, labels=row_labels, caption=caption)
    return image


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow built without FreeType has one bitmap size only
        return ImageFont.load_default()


def _annotated(image, *, row_pitch: int, top: int, labels: Sequence[str] | None, caption: str | None):
    """``image`` on a white canvas with ``labels`` left of its rows (``row_pitch`` px apart) and ``caption`` above."""
    from PIL import Image, ImageDraw

    font = _font(max(12, min(18, row_pitch // 3)))
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))

    def width(text: str) -> int:
        return measure.textbbox((0, 0), text, font=font)[2]

    left = max((width(t) for t in labels), default=0) + 12 if labels else 0
    line = measure.textbbox((0, 0), "Ag", font=font)[3]
    head = line + 12 if caption else 0
    canvas = Image.new(image.mode, (max(image.width + left, width(caption or "") + 12), image.height + head), "white")
    canvas.paste(image, (left, head))
    draw = ImageDraw.Draw(canvas)
    ink = "black" if image.mode != "L" else 0
    if caption:
        draw.text((6, 6), caption, fill=ink, font=font)
    for r, text in enumerate(labels or ()):
        draw.text((6, head + top + r * row_pitch + (row_pitch - top - line) // 2), text, fill=ink, font=font)
    return canvas


def save_png(image: Any, path: str | os.PathLike) -> None:
    """Write a PIL image or a matplotlib figure to ``path`` as PNG, atomically."""
    buf = io.BytesIO()
    if hasattr(image, "savefig"):
        image.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    else:
        image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def save_image_grid(
    images: torch.Tensor | np.ndarray, path: str | os.PathLike, *, nrow: int | None = None, caption: str | None = None
) -> None:
    save_png(image_grid(images, nrow=nrow, caption=caption), path)


def save_pairs(inputs: torch.Tensor, outputs: torch.Tensor, path: str | os.PathLike, *, per_row: int = 8) -> None:
    """Rows of inputs, each directly above the row of their reconstructions."""
    save_row_groups([inputs, outputs], path, per_row=per_row)


def save_row_groups(groups: Sequence[torch.Tensor], path: str | os.PathLike, *, per_row: int = 8) -> None:
    """Equal-length image sets shown in blocks of rows: ``per_row`` examples of each set, one set per row."""
    blocks = []
    for start in range(0, len(groups[0]), per_row):
        for images in groups:
            block = torch.as_tensor(images[start : start + per_row], dtype=torch.float32)
            short = per_row - len(block)
            blocks.append(torch.cat([block, torch.ones(short, *block.shape[1:])]) if short else block)
    save_image_grid(torch.cat(blocks), path, nrow=per_row)


def show_missing(images: torch.Tensor, colour: Sequence[float] = (0.9, 0.2, 0.2)) -> torch.Tensor:
    """Grey or colour images ``(N, C, H, W)`` as RGB with their missing (NaN) pixels painted ``colour``."""
    x = images if images.shape[1] == 3 else images[:, :1].expand(-1, 3, -1, -1)
    missing = torch.isnan(x).any(1, keepdim=True).expand_as(x)
    paint = torch.tensor(colour, dtype=x.dtype).view(1, 3, 1, 1).expand_as(x)
    return torch.where(missing, paint, x)


def _figure(ncols: int, width: float = 4.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 3.2))
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def plot_losses(history: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """Train and validation loss, reconstruction and KL per epoch, in nats per example."""
    fig, axes = _figure(3)
    epochs = [r["epoch"] for r in history]
    for ax, term in zip(axes, ("loss", "recon", "kl"), strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            key = f"{split}/{term}"
            if any(key in r for r in history):
                ax.plot(epochs, [r.get(key, np.nan) for r in history], style, marker=".", label=split)
        ax.set_title({"loss": "loss (negative ELBO with beta)", "recon": "reconstruction", "kl": "KL"}[term])
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per example")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_png(fig, path)


def plot_table_pairs(
    a: torch.Tensor,
    b: torch.Tensor,
    path: str | os.PathLike,
    *,
    labels: tuple[str, str],
    title: str,
    paired: bool = False,
) -> None:
    """For tables: the first two features of ``a`` and ``b`` side by side (or one histogram for 1-D data)."""
    fig, axes = _figure(1, width=5.0)
    ax = axes[0]
    if a.shape[1] >= 2:
        if paired:  # a thin segment from each input to its reconstruction
            for p, q in zip(a[:200], b[:200], strict=True):
                ax.plot([p[0], q[0]], [p[1], q[1]], color="0.6", linewidth=0.5, zorder=0)
        ax.scatter(a[:, 0], a[:, 1], s=6, alpha=0.5, label=labels[0])
        ax.scatter(b[:, 0], b[:, 1], s=6, alpha=0.5, label=labels[1])
        ax.set_xlabel("feature 0")
        ax.set_ylabel("feature 1")
    else:
        ax.hist([a[:, 0].numpy(), b[:, 0].numpy()], bins=40, label=list(labels))
        ax.set_xlabel("feature 0")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    save_png(fig, path)
