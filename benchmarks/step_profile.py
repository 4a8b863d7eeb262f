"""Where one training step's time goes: vaekit's Trainer against the textbook loop, under torch.profiler.

    python benchmarks/step_profile.py [--data-dir DIR] [--steps 100] [--threads 2] [--before 7d65fac]

The MLP 784-400-20 of benchmarks/train_speed.py on binarized MNIST, batch 128, a fixed thread count. Each loop
trains one warm-up pass of ``--steps`` steps, then one profiled pass; time is split into matrix products
(``aten::mm``, ``addmm``, ``bmm``), the optimizer (everything under ``Optimizer.step``), and the rest (the
likelihood and KL, autograd's bookkeeping, the gradient norm, batching, Python), per step, from the wall
clock of the profiled pass. ``--before REV`` also profiles the Trainer of an earlier commit (checked out in
a temporary git worktree, run in a subprocess): 7d65fac is the last commit before the changes of issue 15.
The unprofiled speed of both loops is in benchmarks/train_speed.py; the profiler
adds a little overhead to every operator. Saves ``benchmarks/results/step_profile.json`` and the section of
docs/performance.md.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, busy_cores, default_data_dir, machine, today, update_docs  # noqa: E402
from train_speed import TRAIN_FLOP, Reference, mlp_vae, vaekit_trainer  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import load_dataset  # noqa: E402

MATMUL = {"aten::mm", "aten::addmm", "aten::bmm"}


def split_profile(prof, wall: float, steps: int) -> dict:
    """ms per step: matrix products, optimizer (inclusive time of its step), the rest of the wall clock."""
    events = prof.key_averages()
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL) / 1e3
    optimizer = sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step")) / 1e3
    # matrix products inside the optimizer (none for Adam) would be counted twice; Adam's are elementwise
    total = wall * 1e3
    return {
        "ms_per_step": total / steps,
        "matmul_ms": matmul / steps,
        "optimizer_ms": optimizer / steps,
        "other_ms": (total - matmul - optimizer) / steps,
        "top_ops": [
            (e.key, e.self_cpu_time_total / 1e3 / steps)
            for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]
        ],
    }


def profile_vaekit(x: torch.Tensor, threads: int) -> dict:
    vae = mlp_vae(x.shape[1:])
    torch.set_num_threads(threads)
    fixed = {"threads": threads} if "threads" in inspect.signature(vaekit.Trainer).parameters else {}

    def trainer():
        return vaekit_trainer(vae, 1, **fixed)

    trainer().fit(x)  # warm-up
    profiled = trainer()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        profiled.fit(x)
        wall = time.perf_counter() - t0
    return split_profile(prof, wall, len(x) // 128)


def profile_reference(x: torch.Tensor, threads: int) -> dict:
    torch.set_num_threads(threads)
    ref = Reference(x, None, seed=0)
    ref.epoch()  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        ref.epoch()
        wall = time.perf_counter() - t0
    return split_profile(prof, wall, len(x) // 128)


def profile_vaekit_at(rev: str, args) -> dict:
    """:func:`profile_vaekit` with the vaekit of commit ``rev``, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        tree, out = Path(tmp) / "tree", Path(tmp) / "out.json"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(tree), rev], check=True, capture_output=True)
        try:
            cmd = [sys.executable, __file__, "--steps", str(args.steps), "--threads", str(args.threads)]
            cmd += ["--vaekit-only", str(out)] + (["--data-dir", args.data_dir] if args.data_dir else [])
            subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(tree / "src")}, check=True)
            return json.loads(out.read_text())
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--before", metavar="REV", help="also profile the Trainer of this earlier commit")
    ap.add_argument("--vaekit-only", metavar="JSON", help=argparse.SUPPRESS)  # what --before runs
    args = ap.parse_args()
    x = load_dataset("binarized-mnist", args.data_dir).split("train")[: 128 * args.steps]
    if args.vaekit_only:
        Path(args.vaekit_only).write_text(json.dumps({**profile_vaekit(x, args.threads), "version": vaekit.__file__}))
        return 0
    load = busy_cores()
    threads_before = torch.get_num_threads()
    result = {"vaekit": profile_vaekit(x, args.threads), "reference": profile_reference(x, args.threads)}
    torch.set_num_threads(threads_before)
    if args.before:
        result["vaekit_before"] = {**profile_vaekit_at(args.before, args), "rev": args.before}
    result.update(threads=args.threads, steps=args.steps, busy_cores_before=load, machine=machine(), date=today())
    (ROOT / "benchmarks" / "results" / "step_profile.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = []
    labels = {
        "reference": "textbook loop (DataLoader, Adam)",
        "vaekit_before": f"vaekit Trainer before issue 15 ({args.before})",
        "vaekit": "vaekit Trainer now",
    }
    for name, label in labels.items():
        if name not in result:
            continue
        r = result[name]
        gflops = 128 * TRAIN_FLOP / (r["matmul_ms"] / 1e3) / 1e9
        rows.append(
            f"| {label} | {r['ms_per_step']:.2f} | {r['matmul_ms']:.2f} ({r['matmul_ms'] / r['ms_per_step']:.0%}, "
            f"{gflops:.0f} GFLOP/s) | {r['optimizer_ms']:.2f} | {r['other_ms']:.2f} |"
        )
        print(rows[-1])
        print("   top:", ", ".join(f"{k} {v:.2f}" for k, v in r["top_ops"][:6]))
    v, ref = result["vaekit"], result["reference"]
    change = ""
    if "vaekit_before" in result:
        b = result["vaekit_before"]
        change = (
            f"Before issue 15 ({args.before}) vaekit's step took {b['ms_per_step']:.2f} ms, "
            f"{b['optimizer_ms']:.2f} of them in the optimizer and {b['other_ms']:.2f} outside products and "
            f"optimizer; now {v['ms_per_step']:.2f}, {v['optimizer_ms']:.2f} and {v['other_ms']:.2f}. "
        )
    update_docs(
        "Where the time of one training step goes",
        f"""Command: `python benchmarks/step_profile.py --steps {args.steps} --threads {args.threads}\
{" --before " + args.before if args.before else ""}`. The MLP
784-400-20 on binarized MNIST, batch 128, {args.threads} threads, {args.steps} profiled steps after as many
warm-up steps; milliseconds per step under torch.profiler (which adds a little to every operator).

| loop | ms/step | matrix products | optimizer | everything else |
|---|---|---|---|---|
{chr(10).join(rows)}

{change}If every millisecond outside the matrix products were removed from vaekit's step, it would run
{ref["ms_per_step"] / v["matmul_ms"]:.2f}x the textbook loop; as measured it runs
{ref["ms_per_step"] / v["ms_per_step"]:.2f}x here. vaekit's heaviest operators per step:
{", ".join(f"`{k}` {t:.2f} ms" for k, t in v["top_ops"][:8])}. Cores busy just before the run:
{load:.2f}. Machine: {machine()}, measured {today()}.
""",
        page="performance.md",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
