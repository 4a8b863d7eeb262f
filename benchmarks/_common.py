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


def load_average() -> float:
    """The 1-minute load average: on this 2-core machine, below about 0.5 before a run means it was quiet."""
    return os.getloadavg()[0]


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


def matmul_peak(seconds: float = 3.0) -> float:
    """fp32 GFLOP/s of a 2048 x 2048 matrix product on this CPU, best of repeated runs (current thread count)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * 2048**3 / (time.perf_counter() - t0) / 1e9)
    return best
