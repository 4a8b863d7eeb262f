"""Paired comparison of two melody runs' free-running reconstruction accuracy on the same test windows.

    python benchmarks/melody_compare.py RUN_A RUN_B [--limit N] [--data-dir D]

Each test window is encoded (z = E[z|x]) and decoded greedily by both runs; the per-window accuracy of B minus
that of A is averaged, over all steps and over note events (steps that are not HOLD). Windows of one tune are
neighbours in the test split and overlap (one bar of stride), so the 95% interval comes from a block bootstrap
over runs of 16 consecutive windows rather than from independent windows. Prints and saves
``benchmarks/results/melody_compare.json`` (one row per pair, replacing an earlier row of the same pair).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import ROOT, today  # noqa: E402

import vaekit  # noqa: E402
from vaekit.music.apps import reconstruct_melodies  # noqa: E402
from vaekit.music.tokens import HOLD  # noqa: E402

BLOCK = 16


def window_accuracy(run: Path, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-window free-running accuracy (the greedy reconstruction from E[z|x]) over all steps and note events."""
    x = x.numpy()
    hit = reconstruct_melodies(run, x) == x
    is_event = x != HOLD
    return hit.mean(1), (hit & is_event).sum(1) / np.maximum(is_event.sum(1), 1)


def block_bootstrap(d: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    blocks = np.array_split(d, max(1, len(d) // BLOCK))
    rng = np.random.default_rng(seed)
    means = [np.concatenate([blocks[j] for j in rng.integers(len(blocks), size=len(blocks))]).mean() for _ in range(n)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--limit", type=int, default=None, help="first N test windows [default: all]")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bars = json.loads((args.run_a / "config.json").read_text())["run"]["data"]["bars"]
    x = vaekit.load_dataset("essen", args.data_dir, bars=bars).split("test")[: args.limit].round().long()
    a, b = window_accuracy(args.run_a, x), window_accuracy(args.run_b, x)
    row = {"run_a": str(args.run_a), "run_b": str(args.run_b), "bars": bars, "windows": len(x), "date": today()}
    for i, name in enumerate(("all_steps", "events")):
        d = b[i] - a[i]
        lo, hi = block_bootstrap(d)
        row[name] = {"a": float(a[i].mean()), "b": float(b[i].mean()), "b_minus_a": float(d.mean()), "ci95": [lo, hi]}
        print(f"{name:>9}: A {a[i].mean():.4f}  B {b[i].mean():.4f}  B - A {d.mean():+.4f}  95% [{lo:+.4f}, {hi:+.4f}]")
    path = ROOT / "benchmarks" / "results" / "melody_compare.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    rows = [r for r in rows if (r["run_a"], r["run_b"]) != (row["run_a"], row["run_b"])] + [row]
    path.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
