"""The run report: one self-contained HTML page (every picture inlined as a data URI, nothing fetched)."""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from pathlib import Path
from typing import Any

from vaekit.apps.latent import latent_map, latent_map_png
from vaekit.errors import VaekitError
from vaekit.run import Examples, Run
from vaekit.utils import atomic_write_text, eval_mode

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


def embed_png(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG inlined as a data URI (the page fetches nothing)."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _read_png(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<h2>{html.escape(title)}</h2>\n{note_html}\n{body}\n"


EXPLANATIONS = "Why the most anomalous training rows are flagged"


def add_picture(report: str | os.PathLike, title: str, png: str | os.PathLike) -> None:
    """Put the picture ``png`` into the existing page ``report`` as a section before its configuration (a
    picture made after the page was written; rendering the whole page again would redo every figure)."""
    page = Path(report).read_text()
    section = _section(title, embed_png(Path(png).read_bytes(), title))
    marker = page.find("<h2>Configuration</h2>")
    marker = marker if marker != -1 else page.rfind("</body>")
    atomic_write_text(report, page[:marker] + section + page[marker:])


def _table(rows: list[tuple[str, Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:.4f}</td>'
        return f'<td class="num">{html.escape(str(v))}</td>'

    body = "\n".join(f"<tr><th>{html.escape(k)}</th>{cell(v)}</tr>" for k, v in rows)
    return f"<table>\n{body}\n</table>"


def _guarded(what: str, make) -> str:
    """A picture section that explains itself instead of failing the whole report."""
    try:
        return make()
    except VaekitError as err:
        return f'<p class="note">{html.escape(what)} not drawn: {html.escape(str(err))}</p>'


def _common_sections(run: Run, vae: Any, examples: Examples, *, seed: int) -> list[str]:
    """Figures, curves and the run folder's pictures, the latent map: what every modality's report shows."""
    parts = []
    rows: list[tuple[str, Any]] = [(k, v) for k, v in run.summary.items() if isinstance(v, (int, float, str))]
    last = run.metrics[-1] if run.metrics else {}
    rows += [(f"last epoch {k}", v) for k, v in last.items() if "/" in k]
    parts.append(_section("Figures", _table(rows) if rows else "<p>no figures yet</p>", "losses in nats per example"))
    for title, name in (
        ("Training curves", "loss.png"),
        ("Samples from the prior", "samples.png"),
        ("Reconstructions", "reconstructions.png"),
        (EXPLANATIONS, "explanations.png"),
    ):
        png = _read_png(run.path / name)
        if png is not None:
            parts.append(_section(title, embed_png(png, title), run.modality.picture_note(name, run.conditional)))
    return parts


def build_report(
    run: Run | str | os.PathLike,
    *,
    model: Any = None,
    examples: Examples | None = None,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    seed: int = 0,
) -> str:
    """The HTML of a run's report: configuration, figures, training curves, samples, reconstructions, the
    latent map, and the sections the run's modality adds (images: an interpolation and traversals).
    ``examples``: held-out data (default: ``split`` of the run's data); ``model``: the trained model (default:
    the run's)."""
    run = run if isinstance(run, Run) else Run.open(run)
    vae = model if model is not None else run.model()
    examples = examples if examples is not None else run.data(split, data=data, data_dir=data_dir)
    examples = examples.spread(MAX_POINTS)
    y = examples.y if run.conditional else None
    config = run.config
    described = (
        f"{config.model.arch} VAE, {config.model.latent_dim} latent dimensions, {config.model.likelihood} "
        f"likelihood, objective {config.objective.name}, data {config.data.name} ({run.modality.name}, examples "
        f"of shape {list(run.x_shape)})" + (f", conditioned on {vae.n_classes} labels" if run.conditional else "")
    )
    parts = [f"<h1>vaekit run <code>{html.escape(run.path.name)}</code></h1>", f"<p>{html.escape(described)}</p>"]
    parts += _common_sections(run, vae, examples, seed=seed)
    with eval_mode(vae):
        try:
            sections = run.modality.report_sections(vae, examples.x, y, seed=seed)
        except VaekitError as err:
            sections = [("Pictures", f'<p class="note">not drawn: {html.escape(str(err))}</p>', "")]
        parts += [_section(title, body, note) for title, body, note in sections]

        def map_html() -> str:
            return embed_png(latent_map_png(latent_map(vae, examples.x, examples.labels, y=y)), "latent map")

        parts.append(_section("Latent map", _guarded("latent map", map_html)))
    parts.append(
        _section("Configuration", f"<pre>{html.escape(json.dumps(config.model_dump(mode='json'), indent=2))}</pre>")
    )
    title = html.escape(f"vaekit report: {run.path.name}")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )


def write_report(
    run: Run | str | os.PathLike,
    path: str | os.PathLike,
    *,
    model: Any = None,
    examples: Examples | None = None,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    seed: int = 0,
) -> Path:
    """Write :func:`build_report`'s page to ``path`` (atomically); returns the path."""
    page = build_report(run, model=model, examples=examples, data=data, data_dir=data_dir, split=split, seed=seed)
    atomic_write_text(path, page)
    log.info("wrote %s", path)
    return Path(path)
