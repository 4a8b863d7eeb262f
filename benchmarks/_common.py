"""Helpers shared by the benchmark scripts: where the data is, what machine this is, docs/benchmarks.md."""

from __future__ import annotations

import json
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


def busy_cores(seconds: float = 2.0) -> float:
    """Cores kept busy by every process over the next ``seconds`` (from /proc/stat; else the 1-minute load
    average). Measured just before a run, about 0 means the machine was quiet, 1 that another process took a
    core."""
    try:
        before = _cpu_times()
        time.sleep(seconds)
        after = _cpu_times()
    except OSError:
        return os.getloadavg()[0]
    total, idle = (a - b for a, b in zip(after, before, strict=True))
    return (total - idle) / total * (os.cpu_count() or 1) if total else 0.0


def _cpu_times() -> tuple[int, int]:
    """(all, idle + iowait) jiffies of all cores since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]


def today() -> str:
    return time.strftime("%Y-%m-%d")


def update_docs(section: str, body: str, page: str = "benchmarks.md") -> None:
    """Replace (or append) the ``## section`` block of ``docs/<page>`` (docs/benchmarks.md by default)."""
    path = ROOT / "docs" / page
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


def learning_curves(run: Path) -> tuple[list[float | None], list[float | None]]:
    """(training, validation) -ELBO per epoch of a run folder, in nats per example: reconstruction + KL, i.e. at
    beta = 1 without free bits (the objective's ``loss`` is weighed by the warm-up's beta, or by a chosen one);
    training as the mean over the epoch's batches. Where a run logged no KL (IWAE), its loss."""
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]

    def elbo(m: dict, split: str) -> float | None:
        kl = m.get(f"{split}/kl")
        return m[f"{split}/recon"] + kl if kl is not None and f"{split}/recon" in m else m.get(f"{split}/loss")

    return [elbo(m, "train") for m in metrics], [elbo(m, "val") for m in metrics]


def plot_curves(series: list[tuple[str, list, list]], path: Path, *, ylabel: str, top: float | None = None) -> None:
    """Learning curves: for each ``(label, training, validation)`` the validation loss per epoch (solid) and the
    training loss (dashed, same colour), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, train, val in series:
        (line,) = ax.plot(range(1, len(val) + 1), val, marker="." if len(val) < 20 else None, label=label)
        if train:
            ax.plot(range(1, len(train) + 1), train, color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title("-ELBO at beta = 1: validation (solid), training as the mean over each epoch (dashed)", fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if top is not None:
        ax.set_ylim(top=top)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def recipe_model(name: str):
    """The ``[model]`` table of ``configs/<name>.toml`` as a validated ``vaekit.ModelConfig``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    from vaekit.config import ModelConfig

    return ModelConfig(**tomllib.loads((ROOT / "configs" / f"{name}.toml").read_text())["model"])
