"""Does ``--compile`` pay on this machine? Eager against compiled trunks, same model, data and steps.

    python benchmarks/compile_speed.py [--data-dir DIR] [--rounds 6] [--steps 100] [--threads 2]

The MLP 784-400-20 of benchmarks/train_speed.py on binarized MNIST, batch 128: vaekit's ELBO, fused AdamW.
One model trains eagerly, an identical one with :func:`vaekit.model.compile_trunks`; after the compiled one's
first steps (the compilation, timed), the two alternate ``--rounds`` times ``--steps`` steps on the same
batches. Prints and saves ms per step (median of the rounds) to ``benchmarks/results/compile_speed.json`` and
the section of docs/performance.md. This measurement is why ``train.compile`` defaults to off on CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, busy_cores, default_data_dir, machine, today, update_docs  # noqa: E402
from train_speed import mlp_vae  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import load_dataset  # noqa: E402
from vaekit.model import compile_trunks  # noqa: E402


def model(compiled: bool, shape) -> tuple:
    vae = mlp_vae(shape)
    if compiled:
        compile_trunks(vae)
    return vae, torch.optim.AdamW(vae.parameters(), lr=1e-3, fused=True)


def steps(vae, optimizer, x: torch.Tensor, n: int, seed: int) -> float:
    """ms per step over ``n`` steps on batches drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(n):
        out = vaekit.elbo(vae, x[torch.randint(0, len(x), (128,), generator=g)])
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
    return (time.perf_counter() - t0) / n * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = busy_cores()
    x = load_dataset("binarized-mnist", args.data_dir).split("train")
    eager, compiled = model(False, x.shape[1:]), model(True, x.shape[1:])
    t0 = time.perf_counter()
    steps(*compiled, x, 3, seed=0)
    compile_seconds = time.perf_counter() - t0
    steps(*eager, x, 3, seed=0)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for r in range(args.rounds):
        times["eager"].append(steps(*eager, x, args.steps, seed=r + 1))
        times["compiled"].append(steps(*compiled, x, args.steps, seed=r + 1))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "ms_per_step": times,
        "median_ms": med,
        "compile_seconds": compile_seconds,
        "threads": args.threads,
        "busy_cores_before": load,
        "machine": machine(),
        "date": today(),
    }
    (ROOT / "benchmarks" / "results" / "compile_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    ratio = med["eager"] / med["compiled"]
    print(f"eager {med['eager']:.2f} ms/step, compiled {med['compiled']:.2f} ms/step ({ratio:.2f}x), "
          f"compiling took {compile_seconds:.1f} s")  # fmt: skip
    update_docs(
        "Compiled trunks on CPU",
        f"""Command: `python benchmarks/compile_speed.py --rounds {args.rounds} --steps {args.steps} --threads
{args.threads}`. The MLP 784-400-20 on binarized MNIST, batch 128, {args.threads} threads; an eager and a
compiled model (`compile_trunks`: the encoder's and decoder's trunks, the distributions eager) alternate
{args.rounds} rounds of {args.steps} steps on the same batches. Median ms per step: eager {med["eager"]:.2f},
compiled {med["compiled"]:.2f}: the compiled model runs **{ratio:.2f}x** the eager one, after
{compile_seconds:.1f} s of compilation. The step is dominated by matrix products that inductor hands to the
same BLAS kernels, and the elementwise work it can fuse is a small share, so on a CPU `train.compile` is off
unless asked for (`--compile`). On CUDA, where each small kernel costs a launch, it is on by default, a
choice not yet measured here (benchmarks/gpu_speed.py measures it). Cores busy just
before the run: {load:.2f}. Machine: {machine()}, measured {today()}.
""",
        page="performance.md",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
