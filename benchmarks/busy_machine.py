"""Training on a busy machine: the same commands with and without one competing CPU-bound process.

    python benchmarks/busy_machine.py [--data-dir DIR] [--again]

A CPU-bound process (a Python busy loop, started and stopped by this script) takes one core while vaekit
trains. Each setting runs as a fresh ``vaekit train`` process in a temporary folder, quiet and busy:

- ``digits``: the no-argument ``vaekit train`` (the embedded default data set and preset), timed from start to
  exit. Target (issue 15): busy at most 2x quiet.
- ``mnist``: an MLP 784-400-20 (vaekit's default SiLU) on binarized MNIST, 5 epochs; the training time
  is the sum of the epochs' ``epoch_seconds``. Target: busy at most 2.5x quiet.

Each setting runs with vaekit's default (threads measured while training) and with ``--threads 2`` (what
vaekit did before: every core, whatever the load), which shows what the default avoids. Results are kept in
``benchmarks/results/busy_machine.json`` as they come, so an interrupted run resumes (``--again`` starts over);
the table goes to docs/benchmarks.md. The machine must otherwise be quiet: the cores busy just before each run
are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, busy_cores, default_data_dir, machine, today, update_docs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "busy_machine.json"
TARGETS = {"digits": 2.0, "mnist": 2.5}
MNIST = [
    "--data", "binarized-mnist", "--model", "mlp", "--hidden", "400", "--latent-dim", "20",
    "--epochs", "5", "--patience", "100", "--no-report",
]  # fmt: skip
SETTINGS = {
    # name: (arguments, what is timed)
    "digits": ([], "wall"),
    "mnist": (MNIST, "epochs"),
}
BUSY_LOOP = "while True:\n    pass\n"


def run_train(args: list[str], data_dir: str | None, busy: bool) -> dict:
    """One ``vaekit train`` process; with ``busy`` a competing busy loop runs for its whole life."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    if data_dir:
        env["VAEKIT_DATA_DIR"] = data_dir
    load = busy_cores()
    competitor = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "vaekit", "train", *args, "--out", str(out), "--quiet"],
                check=True,
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - t0
            records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    return {
        "wall_seconds": wall,
        "train_seconds": sum(r["epoch_seconds"] for r in records),
        "epochs": len(records),
        "threads": sorted({r["threads"] for r in records}),
        "busy_cores_before": load,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--again", action="store_true", help="discard saved results and measure everything")
    args = ap.parse_args()
    results: dict = {} if args.again or not RESULTS.exists() else json.loads(RESULTS.read_text())
    for name, (train_args, timed) in SETTINGS.items():
        for threads in ("default", "2"):
            extra = [] if threads == "default" else ["--threads", threads]
            for load in ("quiet", "busy"):
                key = f"{name}/{threads}/{load}"
                if key in results:
                    continue
                r = run_train(train_args + extra, args.data_dir, busy=load == "busy")
                r["seconds"] = r["wall_seconds"] if timed == "wall" else r["train_seconds"]
                results[key] = r
                print(
                    f"{key}: {r['seconds']:.1f} s ({timed}; wall {r['wall_seconds']:.1f} s, threads {r['threads']}, "
                    f"busy cores before {r['busy_cores_before']:.2f})",
                    flush=True,
                )
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rows, met = [], {}
    for name in SETTINGS:
        for threads in ("default", "2"):
            quiet, busy = results[f"{name}/{threads}/quiet"], results[f"{name}/{threads}/busy"]
            ratio = busy["seconds"] / quiet["seconds"]
            if threads == "default":
                met[name] = ratio <= TARGETS[name]
            label = "default (measured)" if threads == "default" else "`--threads 2`"
            rows.append(
                f"| {name} | {label} | {quiet['seconds']:.1f} | {busy['seconds']:.1f} | **{ratio:.2f}x** | "
                f"{'≤ ' + str(TARGETS[name]) + 'x' if threads == 'default' else ''} | "
                f"{'/'.join(map(str, quiet['threads']))} / {'/'.join(map(str, busy['threads']))} |"
            )
            print(
                f"{name}, threads {threads}: quiet {quiet['seconds']:.1f} s, busy {busy['seconds']:.1f} s: {ratio:.2f}x"
            )
    loads = [r["busy_cores_before"] for k, r in results.items() if k.endswith("quiet")]
    results["summary"] = {"met": met, "machine": machine(), "date": today()}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    update_docs(
        "Training on a busy machine (issue 15)",
        f"""Command: `python benchmarks/busy_machine.py`. Each setting is a fresh `vaekit train` process, run once on
the quiet machine and once while one competing CPU-bound process (a Python busy loop started by the script)
takes a core. `digits` is the no-argument `vaekit train`, timed from start to exit; `mnist` is the MLP
784-400-20 on binarized MNIST for 5 epochs, timed by its epochs' seconds. "Threads" lists the thread counts
the epochs ran with (quiet / busy).

| setting | threads | quiet (s) | busy (s) | busy / quiet | target | threads used |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The default measures its thread count while training (`vaekit.train.threads.ThreadTuner`): it times a few
steps with each candidate (all cores, halvings, 1), keeps the fastest (the fewer on a near tie), and measures
again every 30 seconds or as soon as steps run twice as slow as they did. With every core in use, a competing
process makes the threads of each parallel region wait for the one that lost its core, and small models
spend most of a step waiting. Cores busy just before the quiet runs: {min(loads):.2f}-{max(loads):.2f}.
Machine: {machine()}, measured {today()}.
""",
    )
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
