"""The run report: one self-contained HTML page (every picture inlined as a data URI, nothing fetched)."""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from vaekit.apps.latent import (
    choose_pairs,
    interpolate,
    interpolation_png,
    latent_map,
    latent_map_png,
    traversal_png,
    traverse,
)
from vaekit.build import load, read_run_record
from vaekit.data.registry import load_dataset
from vaekit.errors import VaekitError
from vaekit.train.checkpoint import atomic_write_text

log = logging.getLogger(__name__)

MAX_POINTS = 2000  # examples encoded for the latent map and the KL order: plenty for a picture, quick on CPU

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 2px 10px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr:nth-child(even) { background: #f6f6f6; }
pre { background: #f6f6f6; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
p.note { color: #666; font-size: 0.9em; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _read_png(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<h2>{html.escape(title)}</h2>\n{note_html}\n{body}\n"


def _table(rows: list[tuple[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:.4f}</td>'
        return f'<td class="num">{html.escape(str(v))}</td>'

    body = "\n".join(f"<tr><th>{html.escape(k)}</th>{cell(v)}</tr>" for k, v in rows)
    return f"<table>\n{body}\n</table>"


def _subset(x: torch.Tensor, labels: torch.Tensor | None, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Evenly spaced rows (held-out sets may be sorted by class)."""
    if len(x) <= n:
        return x, labels
    rows = torch.linspace(0, len(x) - 1, n).long()
    return x[rows], None if labels is None else labels[rows]


def _guarded(what: str, make) -> str:
    """A picture section that explains itself instead of failing the whole report."""
    try:
        return make()
    except VaekitError as err:
        return f'<p class="note">{html.escape(what)} not drawn: {html.escape(str(err))}</p>'


def build_report(
    run: str | os.PathLike,
    *,
    vae=None,
    x: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    seed: int = 0,
) -> str:
    """The HTML of a run's report: configuration, figures, training curves, samples, reconstructions, an
    interpolation, traversals and the latent map. ``x``/``labels``: held-out data (default: ``split`` of the
    run's data set); ``vae``: the trained model (default: loaded from the run folder)."""
    folder = Path(run)
    config, x_shape = read_run_record(folder)
    vae = vae if vae is not None else load(folder)
    vae.eval()
    if x is None:
        dataset = load_dataset(data or config.data.name, data_dir)
        x = dataset.split(split)
        labels = dataset.labels.get(split) if split in dataset.splits else dataset.labels.get("train")
    if labels is not None and len(labels) != len(x):
        labels = None
    x, labels = _subset(x, labels, MAX_POINTS)
    conditional = getattr(vae, "n_classes", 0) > 0
    y = labels if conditional else None
    images = len(x_shape) == 3

    summary_path = folder / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    metrics_path = folder / "metrics.jsonl"
    history = [json.loads(line) for line in metrics_path.read_text().splitlines()] if metrics_path.is_file() else []

    parts = [f"<h1>vaekit run <code>{html.escape(folder.name)}</code></h1>"]
    described = (
        f"{config.model.arch} VAE, {config.model.latent_dim} latent dimensions, {config.model.likelihood} "
        f"likelihood, objective {config.objective.name}, data {config.data.name} (examples of shape {list(x_shape)})"
        + (f", conditioned on {vae.n_classes} labels" if conditional else "")
    )
    parts.append(f"<p>{html.escape(described)}</p>")

    rows: list[tuple[str, Any]] = [(k, v) for k, v in summary.items() if isinstance(v, (int, float, str))]
    last = history[-1] if history else {}
    rows += [(f"last epoch {k}", v) for k, v in last.items() if "/" in k]
    parts.append(_section("Figures", _table(rows) if rows else "<p>no figures yet</p>", "losses in nats per example"))

    for title, name in (
        ("Training curves", "loss.png"),
        ("Samples from the prior", "samples.png"),
        ("Reconstructions", "reconstructions.png"),
    ):
        png = _read_png(folder / name)
        if png is not None:
            note = "a row per class" if conditional and name == "samples.png" and images else ""
            if name == "reconstructions.png" and images:
                note = "held-out inputs above their reconstructions"
            parts.append(_section(title, _img(png, title), note))

    def interpolation_html() -> str:
        if not images:
            raise VaekitError("the data are not images")
        a, b = choose_pairs(len(x), 8, seed=seed, labels=y)
        result = interpolate(vae, x[a], x[b], steps=10, y=None if y is None else y[a])
        return _img(interpolation_png(result), "interpolation")

    parts.append(
        _section(
            "Interpolation",
            _guarded("interpolation", interpolation_html),
            "each row: a real held-out input, ten decoded points on the straight line between the two posterior "
            "means, the other real input" + (" (pairs of the same class)" if conditional else ""),
        )
    )

    def traversal_html() -> str:
        if not images:
            raise VaekitError("the data are not images")
        result = traverse(vae, x, span=3.0, steps=9, y=y)
        kl = ", ".join(f"z{j}: {result.kl[j]:.2f}" for j in result.dims)
        return _img(traversal_png(result), "traversals") + f'<p class="note">mean KL per dimension (nats): {kl}</p>'

    parts.append(
        _section(
            "Latent traversals",
            _guarded("traversals", traversal_html),
            "one row per latent dimension, largest KL first; each varies that dimension from -3 to 3 around the "
            "posterior mean of the first held-out example",
        )
    )

    def map_html() -> str:
        result = latent_map(vae, x, labels, y=y)
        return _img(latent_map_png(result), "latent map")

    parts.append(_section("Latent map", _guarded("latent map", map_html)))
    parts.append(
        _section("Configuration", f"<pre>{html.escape(json.dumps(config.model_dump(mode='json'), indent=2))}</pre>")
    )
    title = html.escape(f"vaekit report: {folder.name}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )


def write_report(
    run: str | os.PathLike,
    path: str | os.PathLike,
    *,
    vae=None,
    x: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    seed: int = 0,
) -> Path:
    """Write :func:`build_report`'s page to ``path`` (atomically); returns the path."""
    page = build_report(run, vae=vae, x=x, labels=labels, data=data, data_dir=data_dir, split=split, seed=seed)
    atomic_write_text(path, page)
    log.info("wrote %s", path)
    return Path(path)
