"""Melody VAEs on the Essen folk songs (issue 7): flat and hierarchical decoders against an LSTM language model.

    python benchmarks/melody.py                          # the full benchmark: 2 and 16 bars, under an hour a run
    python benchmarks/melody.py --bars 2 --time-limit 7 --test-limit 1000 --k 50 --section "... (reduced)"

For each window length and decoder it trains with ``vaekit.train`` (the same trainer and objective for all; the
``unconditional`` decoder is the flat one that never sees z, i.e. an LSTM language model, whose KL goes to
zero), then on held-out test tunes measures: -ELBO and the importance-sampled NLL (``vaekit evaluate``) in
nats per step, KL in nats per window, active units, reconstruction accuracy teacher-forced and free-running
(all steps, and note events only), and statistics of 512 prior samples (T = 1) beside those of the test
windows. Writes ``benchmarks/results/<name>.json`` (keeping rows of earlier invocations with the same name, so the
benchmark can be run in parts) and a section of ``docs/benchmarks.md``. Runs stay in ``runs/bench-melody-*`` for a
look at their pictures; ``--resume --epochs N`` continues them from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from _common import ROOT, machine, today, update_docs  # noqa: E402

import vaekit  # noqa: E402
from vaekit.music.apps import evaluate_melodies  # noqa: E402

TARGETS = {
    2: "free-running accuracy >= 0.90; VAE NLL <= LM NLL with KL well above 0",
    16: "hierarchical beats flat on free-running accuracy; VAE NLL <= LM NLL",
}


SETTINGS = ("batch_size", "lr", "lr_schedule", "precision", "patience", "time_limit")


def run_one(bars: int, decoder: str, args: argparse.Namespace) -> dict:
    out = ROOT / "runs" / f"bench-melody-{bars}-{decoder}{args.variant}"
    resume = args.resume and (out / vaekit.RunFolder.STATE).is_file()
    if not resume:
        shutil.rmtree(out, ignore_errors=True)
    vae_run = decoder != "unconditional"
    config = {
        "data": {"name": "essen", "bars": bars},
        "model": {"arch": "melody", "decoder": decoder, "latent_dim": args.latent_dim, "hidden": args.hidden},
        "objective": {"free_bits": args.free_bits if vae_run else 0.0, "kl_warmup": args.kl_warmup if vae_run else 0},
        "train": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "time_limit": args.time_limit,
            "patience": args.patience,
            "seed": args.seed,
            "device": "cpu",
            "precision": args.precision,
            "lr_schedule": args.lr_schedule,
        },
    }
    if resume:  # a run goes on from its checkpoint up to --epochs, its stored settings unchanged
        result = vaekit.train({"train": {"epochs": args.epochs}}, out=out, data_dir=args.data_dir, resume=True)
    else:
        result = vaekit.train(config, out=out, data_dir=args.data_dir)
    stored = json.loads((out / "config.json").read_text())["run"]  # a resumed run keeps its own settings
    train_seconds = sum(r["epoch_seconds"] for r in result.history)
    ev = vaekit.evaluate_run(out, k=args.k, limit=args.test_limit, data_dir=args.data_dir, device="cpu")
    x = vaekit.load_dataset("essen", args.data_dir, bars=bars).split("test")[: args.test_limit]
    music = evaluate_melodies(out, x, n_samples=args.samples, seed=args.seed)
    steps = bars * 16
    return {
        "bars": bars,
        "decoder": (decoder if vae_run else "LSTM LM (no latent)") + args.variant,
        "free_bits": stored["objective"]["free_bits"],
        "nll_per_step": ev.nll / steps,
        "nll_sem_per_step": ev.nll_sem / steps,
        "neg_elbo_per_step": ev.neg_elbo / steps,
        "kl": ev.kl,
        "active_units": ev.active_units,
        "latent_dim": args.latent_dim,
        **music,
        "epochs": result.summary["epochs_run"],
        "best_epoch": result.summary["best_epoch"],
        "stop": result.summary["stop_reason"],
        "train_minutes": train_seconds / 60,  # the sum of epoch times, over all sessions of a resumed run
        "n_test": ev.n_examples,
        "k": ev.k,
        "run": str(out.relative_to(ROOT)),
        "settings": {
            "hidden": stored["model"]["hidden"],
            "kl_warmup": stored["objective"]["kl_warmup"],
            **{key: stored["train"][key] for key in SETTINGS},
        },
        "machine": machine(),
        "date": today(),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| bars | decoder | free bits | NLL/step | -ELBO/step | KL (nats) | active | acc TF | acc free "
        "| events TF / free | in key | notes/bar | range | PC dist | epochs | minutes |\n|" + "---|" * 16
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['bars']} | {r['decoder']} | {r.get('free_bits', '')} | {r['nll_per_step']:.4f} "
            f"| {r['neg_elbo_per_step']:.4f} | {r['kl']:.2f} "
            f"| {r['active_units']}/{r['latent_dim']} | {r['accuracy/teacher_forced']:.3f} "
            f"| {r['accuracy/free_running']:.3f} | {r['accuracy/teacher_forced_events']:.3f} / "
            f"{r['accuracy/free_running_events']:.3f} | {r['samples/in_key']:.3f} | {r['samples/notes_per_bar']:.2f} "
            f"| {r['samples/pitch_range']:.1f} | {r['pitch_class_distance']:.3f} | {r['epochs']} "
            f"| {r['train_minutes']:.1f} |"
        )
    for bars in sorted({r["bars"] for r in rows}):
        r = next(r for r in rows if r["bars"] == bars)
        lines.append(
            f"| {bars} | *test tunes* | | | | | | | | | {r['data/in_key']:.3f} | {r['data/notes_per_bar']:.2f} "
            f"| {r['data/pitch_range']:.1f} | 0 | | |"
        )
    return "\n".join(lines)


def report(rows: list[dict], n_samples: int) -> str:
    """The docs section: how the rows were made, the targets, the table."""
    # in the order they were run: fresh runs before the --resume invocations that continued them
    commands = "; then ".join(
        f"`{c}`" for c in sorted(dict.fromkeys(r["command"] for r in rows), key=lambda c: "--resume" in c)
    )
    first = rows[0]
    st = first.get("settings", {})
    targets = "; ".join(f"{b} bars: {TARGETS[b]}" for b in sorted({r["bars"] for r in rows}) if b in TARGETS)
    machines = ", ".join(sorted({f"{r['machine']} ({r['date']})" for r in rows if "machine" in r}))
    return f"""Commands: {commands}. Essen folk songs from music21 (windows of 16 sixteenths per bar at every
bar, split 80/10/10 by tune); melody VAE with a bidirectional {st.get("hidden", ["?"])[0]}-unit LSTM encoder,
latent as in the table, a {st.get("hidden", ["?", "?"])[1]}-unit LSTM decoder (flat, or a conductor and one
decoder per bar), free bits in nats per latent dimension as in the table, KL warm-up {st.get("kl_warmup")} epochs,
batch {st.get("batch_size")}, Adam {st.get("lr")} with a {st.get("lr_schedule")} schedule over the planned
epochs, {st.get("precision")} autocast in training, early stopping after {st.get("patience")} epochs without a
better validation loss, at most {st.get("time_limit")} minutes a run (checked after each epoch). The language
model is the flat decoder with no latent, trained by the same trainer. NLL: importance-sampled, k = {first["k"]},
on the first {first["n_test"]} test windows; KL in nats per window; accuracy: share of steps whose argmax token
is right with z = E[z|x], teacher-forced (TF) and free-running (greedy), over all steps and over note events
only (steps that are not HOLD); sample statistics of {n_samples} prior samples (T = 1): share of notes in the
best-fitting diatonic key, notes per bar, pitch range (semitones), and the total-variation distance between the
pitch-class histograms of samples and test windows. Targets: {targets}. Machine: {machines}.

{table(rows)}
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, nargs="+", default=[2, 16])
    p.add_argument("--decoders", nargs="+", default=["flat", "hierarchical", "unconditional"])
    p.add_argument("--time-limit", type=float, default=55.0, help="minutes per run (checked after each epoch)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", default="cosine", choices=["constant", "cosine", "plateau"], help="over --epochs")
    p.add_argument(
        "--precision", default="bf16", choices=["fp32", "bf16"], help="training autocast (bf16: 2x on AVX-512)"
    )
    p.add_argument("--patience", type=int, default=5, help="early stopping on the validation loss (epochs)")
    p.add_argument("--variant", default="", help="suffix of the run folders and decoder names, e.g. -fb0.25")
    p.add_argument("--latent-dim", type=int, default=32)
    p.add_argument("--hidden", type=int, nargs=2, default=[256, 256], metavar=("ENCODER", "DECODER"))
    p.add_argument("--free-bits", type=float, default=0.5, help="nats per latent dimension (VAE runs)")
    p.add_argument("--kl-warmup", type=float, default=1.0, help="epochs (VAE runs)")
    p.add_argument("--k", type=int, default=1000, help="importance samples per test window")
    p.add_argument("--test-limit", type=int, default=None, help="first N test windows only")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None, help="where the Essen cache lives [default: vaekit's data dir]")
    p.add_argument("--name", default="melody", help="results file benchmarks/results/<name>.json")
    p.add_argument("--section", default="Melodies: Essen folk songs (issue 7)")
    p.add_argument("--resume", action="store_true", help="continue runs that have a checkpoint up to --epochs")
    p.add_argument("--report-only", action="store_true", help="train nothing: rewrite the docs section from results")
    p.add_argument("--include", nargs="*", default=[], help="also show the rows of these results names in the table")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = ROOT / "benchmarks" / "results" / f"{args.name}.json"
    # rows of earlier invocations with the same --name stay (a long benchmark is run in parts); new rows replace
    rows = json.loads(results.read_text()) if results.is_file() else []
    command = shlex.join(["python", "benchmarks/melody.py", *sys.argv[1:]])
    for bars in [] if args.report_only else args.bars:
        for decoder in args.decoders:
            row = {**run_one(bars, decoder, args), "command": command}
            rows = [r for r in rows if r["run"] != row["run"]] + [row]
            print(json.dumps(row), flush=True)
            rows.sort(key=lambda r: (r["bars"], r["run"]))
            results.parent.mkdir(exist_ok=True)
            results.write_text(json.dumps(rows, indent=2) + "\n")  # after each run, so a later failure keeps it
    for name in args.include:
        rows += json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
    if rows:
        update_docs(args.section, report(rows, args.samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
