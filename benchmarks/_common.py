"""Helpers shared by the benchmark scripts: where the data is, what machine this is, docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> str | None:
    """``$VAEKIT_DATA_DIR``, else ``../shared/data`` beside the checkout, else None (the user cache)."""
    shared = ROOT.parent / "shared" / "data"
    return os.environ.get("VAEKIT_DATA_DIR") or (str(shared) if shared.is_dir() else None)


def machine() -> str:
    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def today() -> str:
    return time.strftime("%Y-%m-%d")


def update_docs(section: str, body: str) -> None:
    """Replace (or append) the ``## section`` block of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nEvery figure here was measured by the script named in its section.\n"
    )
    start = text.find(f"\n## {section}\n")
    block = f"\n## {section}\n\n{body.strip()}\n"
    if start == -1:
        text = text.rstrip() + "\n" + block
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + block + (text[end:] if end != -1 else "")
    path.write_text(text)
