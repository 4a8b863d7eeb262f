"""The ``vaekit`` command: parse, load, one library call, write output.

Every user mistake ends as one line ``error: <what> (<hint>)`` on stderr with exit code 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import typer

import vaekit
from vaekit.apps import latent
from vaekit.apps.evaluation import mig_run
from vaekit.apps.generation import check_output, sample_by_label, write_array, write_reconstruction_picture
from vaekit.apps.images import save_image_grid
from vaekit.apps.music import (
    check_melody_output,
    evaluate_melody_run,
    is_melody_run,
    read_melody,
    reconstruct_melodies,
    reconstruct_tune,
    sample_melodies,
    write_melodies,
)
from vaekit.build import read_run_record
from vaekit.config import merge
from vaekit.data.midi import is_melody_path
from vaekit.data.registry import dataset_names, load_dataset
from vaekit.errors import VaekitError
from vaekit.train.checkpoint import atomic_write_text

# Typer ships its own copy of click in recent versions; take the exception classes from its MRO so this works
# with either.
_CLICK_ERRORS = {c.__name__: c for c in typer.BadParameter.__mro__}
ClickException, UsageError = _CLICK_ERRORS["ClickException"], _CLICK_ERRORS["UsageError"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Variational autoencoders: train, evaluate, sample, reconstruct, encode.",
)

DATA_HELP = (
    "registered data set (" + ", ".join(dataset_names()) + ") or a .npy/.npz/.csv file, image folder, "
    ".mid/.abc/MusicXML file or folder of them"
)


def _parse_ints(text: str | None, flag: str = "--hidden") -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise VaekitError(f"{flag} {text!r} is not a list of integers", f"e.g. {flag} 400 or {flag} 512,256") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    if not path.is_file():
        raise VaekitError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise VaekitError(f"config file {path} is not valid TOML ({err})") from None


def _drop_none(tree: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            v = _drop_none(v)
            if v:
                out[k] = v
        elif v is not None:
            out[k] = v
    return out


def _setup_logging(quiet: bool, console: Any = None) -> None:
    """Log lines to stderr; on a terminal through the progress bar's rich console, so they print above the bar."""
    level = logging.WARNING if quiet else logging.INFO
    if console is not None:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=console, show_time=False, show_path=False, show_level=False)
        logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


class _ProgressBar:
    """A rich progress bar over optimisation steps, showing the live loss (read every ``every`` steps)."""

    def __init__(self, every: int = 10):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.every = every
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            transient=True,
            console=self.console,
        )
        self.task = None

    def on_fit_start(self, trainer) -> None:
        self.progress.start()

    def on_epoch_start(self, trainer, epoch: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("train", total=trainer.steps_per_epoch, epoch=epoch, loss="...")

    def on_step_end(self, trainer, out) -> None:
        self.progress.advance(self.task)
        if trainer.step % self.every == 0:
            self.progress.update(self.task, loss=f"{float(out.loss):.3f}")

    def on_fit_end(self, trainer) -> None:
        self.progress.stop()


@app.command()
def train(
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: digits]"),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="data folder [default: $VAEKIT_DATA_DIR, else the user cache]"
    ),
    model: str = typer.Option(None, "--model", help="mlp | conv | melody [default: mlp; melody for melodies]"),
    latent_dim: int = typer.Option(None, "--latent-dim", help="latent dimensions [default: 16]"),
    hidden: str = typer.Option(None, "--hidden", help="MLP widths or conv channels, e.g. 400 or 512,256"),
    likelihood: str = typer.Option(None, "--likelihood", help="bernoulli | gaussian [default: bernoulli]"),
    sigma: float = typer.Option(None, "--sigma", help="fixed Gaussian scale [default: learned per dimension]"),
    binarize: str = typer.Option(None, "--binarize", help="none | dynamic (a fresh Bernoulli draw per batch)"),
    beta: float = typer.Option(None, "--beta", help="weight of the KL term [default: 1]"),
    kl_warmup: float = typer.Option(None, "--kl-warmup", help="epochs of linear KL warm-up [default: 0]"),
    free_bits: float = typer.Option(None, "--free-bits", help="nats per latent dimension [default: 0]"),
    objective: str = typer.Option(None, "--objective", help="elbo | iwae | beta-tc [default: elbo]"),
    alpha: float = typer.Option(None, "--alpha", help="beta-tc: weight of the index-code MI [default: 1]"),
    gamma: float = typer.Option(None, "--gamma", help="beta-tc: weight of the dimension-wise KL [default: 1]"),
    condition: str = typer.Option(None, "--condition", help="none | label: a conditional VAE [default: none]"),
    iwae_k: int = typer.Option(None, "--k", help="importance samples per example for --objective iwae [default: 50]"),
    prior: str = typer.Option(None, "--prior", help="normal | mog | vamp (VampPrior) [default: normal]"),
    components: int = typer.Option(None, "--components", help="mixture components of the prior [mog 10, vamp 500]"),
    ladder: str = typer.Option(None, "--ladder", help="sizes of stochastic layers below the top one: a Ladder VAE"),
    bars: int = typer.Option(None, "--bars", help="melody: bars of 16 sixteenths per window [default: 2]"),
    decoder: str = typer.Option(None, "--decoder", help="melody: flat | hierarchical | unconditional [flat]"),
    cell: str = typer.Option(None, "--cell", help="melody: lstm | gru [default: lstm]"),
    epochs: int = typer.Option(None, "--epochs", help="maximum epochs [default: 100]"),
    batch_size: int = typer.Option(None, "--batch-size", help="[default: 128]"),
    lr: float = typer.Option(None, "--lr", help="AdamW learning rate [default: 1e-3]"),
    weight_decay: float = typer.Option(None, "--weight-decay", help="[default: 0]"),
    grad_clip: float = typer.Option(None, "--grad-clip", help="gradient-norm clip [default: 100]"),
    patience: int = typer.Option(None, "--patience", help="early stopping patience in epochs [default: 10]"),
    lr_schedule: str = typer.Option(None, "--lr-schedule", help="constant | cosine | plateau [default: constant]"),
    lr_warmup: float = typer.Option(None, "--lr-warmup", help="epochs of linear learning-rate warm-up [default: 0]"),
    lr_min: float = typer.Option(None, "--lr-min", help="floor of the cosine and plateau schedules [default: 0]"),
    lr_patience: int = typer.Option(None, "--lr-patience", help="plateau: epochs without gain before halving [5]"),
    skip_grad_norm: float = typer.Option(None, "--skip-grad-norm", help="skip updates with a larger gradient norm"),
    time_limit: float = typer.Option(None, "--time-limit", help="stop after the epoch that passes this many minutes"),
    precision: str = typer.Option(None, "--precision", help="fp32 | bf16 (autocast matrix products) [default: fp32]"),
    val_fraction: float = typer.Option(None, "--val-fraction", help="held out when the data has no val split"),
    seed: int = typer.Option(None, "--seed", help="[default: 0]"),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda | mps [default: auto]"),
    out: Path = typer.Option(None, "--out", help="run folder [default: runs/<data>-<model>-<time>]"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its last checkpoint"),
    report: bool = typer.Option(None, "--report/--no-report", help="write report.html at the end [default: yes]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only errors and the final figures"),
    config: Path = typer.Option(None, "--config", help="TOML file with [data] [model] [objective] [train] tables"),
) -> None:
    """Train a VAE and write a run folder (config, weights, metrics, pictures).

    Under ``torchrun --nproc-per-node N`` it trains data-parallel; only rank 0 prints and writes.
    """
    worker = int(os.environ.get("RANK", "0")) != 0  # a torchrun rank other than 0 stays silent
    quiet = quiet or worker
    callbacks = [_ProgressBar()] if sys.stderr.isatty() and not quiet else []
    _setup_logging(quiet, callbacks[0].console if callbacks else None)
    flags = _drop_none(
        {
            "data": {
                "name": data,
                "binarize": binarize,
                "val_fraction": val_fraction,
                "bars": bars,
                "condition": condition,
            },
            "model": {
                "decoder": decoder,
                "cell": cell,
                "arch": model,
                "latent_dim": latent_dim,
                "hidden": _parse_ints(hidden),
                "likelihood": likelihood,
                "sigma": sigma,
                "prior": prior,
                "components": components,
                "ladder": _parse_ints(ladder, "--ladder"),
            },
            "objective": {
                "name": objective,
                "k": iwae_k,
                "beta": beta,
                "alpha": alpha,
                "gamma": gamma,
                "kl_warmup": kl_warmup,
                "free_bits": free_bits,
            },
            "train": {
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "weight_decay": weight_decay,
                "grad_clip": grad_clip,
                "patience": patience,
                "seed": seed,
                "device": device,
                "lr_schedule": lr_schedule,
                "lr_warmup": lr_warmup,
                "lr_min": lr_min,
                "lr_patience": lr_patience,
                "skip_grad_norm": skip_grad_norm,
                "time_limit": time_limit,
                "precision": precision,
                "report": report,
            },
        }
    )
    raw = merge(_read_toml(config), flags) if config else flags
    if resume and out is None:
        raise VaekitError("--resume needs the run folder", "give --out RUN")
    if out is None:
        import time

        stem = Path(raw.get("data", {}).get("name", "digits")).stem
        out = Path("runs") / f"{stem}-{raw.get('model', {}).get('arch', 'mlp')}-{time.strftime('%Y%m%d-%H%M%S')}"
    result = vaekit.train(raw, out=out, data_dir=data_dir, resume=resume, callbacks=callbacks)
    if not worker:
        _print_summary(result, quiet)


def _print_summary(result: Any, quiet: bool) -> None:
    s = result.summary
    if quiet:
        key = "test/loss" if "test/loss" in s else "val/loss"
        value = s.get(key, result.history[-1].get(key) if result.history else None)
        typer.echo(f"{result.run_dir}\t{key}={value:.4f}" if value is not None else str(result.run_dir))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run folder {result.run_dir}", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    last = result.history[-1] if result.history else {}
    rows = [("epochs run", s["epochs_run"]), ("best epoch", s["best_epoch"]), ("stopped", s["stop_reason"])]
    rows += [(k, f"{last[k]:.4f}") for k in ("train/loss", "val/loss", "val/recon", "val/kl") if k in last]
    rows += [(k, f"{s[k]:.4f}") for k in ("test/loss", "test/recon", "test/kl") if k in s]
    if last:
        rows.append(("seconds per epoch (last)", f"{last['epoch_seconds']:.2f}"))
    for k, v in rows:
        table.add_row(k, str(v))
    Console().print(table)


def _run_data(run: Path, data: str | None, data_dir: Path | None, split: str):
    return _run_data_labels(run, data, data_dir, split)[0]


def _run_data_labels(run: Path, data: str | None, data_dir: Path | None, split: str):
    """``(x, labels or None)`` of ``split`` of ``--data``, or of the data set the run was trained on."""
    config, _ = read_run_record(run)
    dataset = load_dataset(data or config.data.name, data_dir, bars=config.data.bars)
    x = dataset.split(split)
    y = dataset.labels.get(split if split in dataset.splits else "train")
    return x, (y if y is not None and len(y) == len(x) else None)


def _labels_for(vae: Any, y: Any) -> Any:
    """The labels a conditional model needs (an error if the data has none); None for other models."""
    if not getattr(vae, "n_classes", 0):
        return None
    if y is None:
        raise VaekitError("this model is conditional and the data has no labels", "use labelled data")
    return y


def _write_melodies(rows: Any, output: Path, **kwargs: Any) -> None:
    if output.suffix.lower() == ".npy":
        write_array(rows, output)
    else:
        check_melody_output(output)
        write_melodies(rows, output, **kwargs)
    typer.echo(f"wrote {output}")


def _reconstruct_melodies(run: Path, data: str | None, data_dir: Path | None, split: str, n: int | None, output: Path):
    """A melody file is reconstructed whole, window after window; data set windows one after the other."""
    if output.suffix.lower() != ".npy":
        check_melody_output(output)
    if data is not None and is_melody_path(data) and Path(data).is_file():
        x = read_melody(data)
        return _write_melodies(reconstruct_tune(run, x)[None], output, reference=x[None])
    x = _run_data(run, data, data_dir, split)[: n or 8]
    _write_melodies(reconstruct_melodies(run, x), output, reference=x.numpy())


@app.command()
def sample(
    run: Path = typer.Argument(..., help="run folder"),
    n: int = typer.Option(64, "-n", help="number of samples (with --grid-by-label: per class, default 10)"),
    temperature: float = typer.Option(
        1.0, "--temperature", "-t", help="prior scale T: z ~ N(0, T^2 I); melodies: softmax temperature"
    ),
    seed: int = typer.Option(None, "--seed", help="seed for repeatable draws"),
    greedy: bool = typer.Option(False, "--greedy", help="melody: the most likely token at each step"),
    label: int = typer.Option(None, "--label", help="conditional VAE: draw this class"),
    grid_by_label: bool = typer.Option(False, "--grid-by-label", help="conditional VAE: a row of -n draws per class"),
    output: Path = typer.Option(..., "-o", "--output", help=".png grid or .npy array; melodies .mid/.wav/.png/folder"),
) -> None:
    """Draw new examples from the prior and decode them (a conditional VAE: of one class, or a row per class)."""
    if is_melody_run(run):
        rows = sample_melodies(run, n, temperature=temperature, greedy=greedy, seed=seed)
        return _write_melodies(rows, output)
    check_output(output, {".png", ".npy"})
    vae = vaekit.load(run)
    if grid_by_label:
        if label is not None:
            raise VaekitError("--label and --grid-by-label exclude each other", "give one of them")
        per_class = n if n != 64 else 10  # -n counts draws per class here; 10 unless given
        images = sample_by_label(vae, per_class, temperature=temperature, seed=seed)
        if output.suffix.lower() == ".png" and images.ndim == 4:
            save_image_grid(images, output, nrow=per_class)
        else:
            write_array(images, output)
    else:
        n_classes = getattr(vae, "n_classes", 0)
        if n_classes and label is None:
            raise VaekitError("this model is conditional", f"give --label 0..{n_classes - 1} or --grid-by-label")
        write_array(vaekit.sample(vae, n, temperature=temperature, seed=seed, y=label), output)
    typer.echo(f"wrote {output}")


@app.command()
def reconstruct(
    run: Path = typer.Argument(..., help="run folder"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    n: int = typer.Option(None, "-n", help="number of examples [default: 32 for .png, all for .npy]"),
    output: Path = typer.Option(..., "-o", "--output", help=".png (inputs above reconstructions) or .npy"),
) -> None:
    """Reconstruct inputs through the latent space: E[x | z = E[z|x]] (melodies: a greedy decoding from it)."""
    if is_melody_run(run):
        return _reconstruct_melodies(run, data, data_dir, split, n, output)
    check_output(output, {".png", ".npy"})
    vae = vaekit.load(run)
    x, y = _run_data_labels(run, data, data_dir, split)
    y = _labels_for(vae, y)
    limit = n if n is not None else (32 if output.suffix.lower() == ".png" else len(x))
    x, y = x[: max(limit, 1)], (None if y is None else y[: max(limit, 1)])
    x_hat = vaekit.reconstruct(vae, x, y=y)
    if output.suffix.lower() == ".png":
        write_reconstruction_picture(x, x_hat, output)
    else:
        write_array(x_hat, output)
    typer.echo(f"wrote {output}")


@app.command()
def encode(
    run: Path = typer.Argument(..., help="run folder"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    draw: bool = typer.Option(False, "--sample", help="draw z ~ q(z|x) instead of the mean E[z|x]"),
    seed: int = typer.Option(None, "--seed"),
    output: Path = typer.Option(..., "-o", "--output", help=".npy or .csv (columns z0, z1, ...)"),
) -> None:
    """Map inputs to latent codes (posterior means, or draws with --sample)."""
    check_output(output, {".npy", ".csv"})
    vae = vaekit.load(run)
    x, y = _run_data_labels(run, data, data_dir, split)
    write_array(vaekit.encode(vae, x, sample=draw, seed=seed, y=_labels_for(vae, y)), output, column_prefix="z")
    typer.echo(f"wrote {output}")


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="run folder"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    k: int = typer.Option(5000, "--k", help="importance samples per example"),
    seed: int = typer.Option(0, "--seed", help="seed of the draws (repeatable figures)"),
    limit: int = typer.Option(None, "--limit", help="evaluate only the first N examples"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | mps"),
    json_out: Path = typer.Option(None, "--json", help="also write the figures to this .json file"),
    metric: str = typer.Option("nll", "--metric", help="nll (likelihood, ELBO, active units) | mig (disentanglement)"),
) -> None:
    """Importance-sampled log-likelihood (nats, bits/dim), the ELBO's terms and active units on held-out data;
    or, with --metric mig, the Mutual Information Gap against the data's ground-truth factors."""
    if json_out is not None:
        check_output(json_out, {".json"})
    if metric not in ("nll", "mig"):
        raise VaekitError(f"unknown metric {metric!r}", "use --metric nll or --metric mig")
    _setup_logging(quiet=False)
    if metric == "mig":
        _evaluate_mig(run, data, data_dir, split, limit, device, json_out)
        return
    result = vaekit.evaluate_run(
        run, data=data, split=split, k=k, seed=seed, limit=limit, data_dir=data_dir, device=device
    )
    figures = result.to_dict()
    melody = is_melody_run(run)
    if melody:
        figures.update(evaluate_melody_run(run, data=data, split=split, limit=limit, seed=seed, data_dir=data_dir))
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(figures, indent=2) + "\n")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{run}: {result.n_examples} {split} examples, k = {result.k}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("nll (nats)", f"{result.nll:.3f} ± {result.nll_sem:.3f}")
    table.add_row("negative ELBO (nats)", f"{result.neg_elbo:.3f}")
    table.add_row("  reconstruction", f"{result.recon:.3f}")
    table.add_row("  KL", f"{result.kl:.3f}")
    table.add_row("bits per dimension", f"{result.bits_per_dim:.4f}")
    layers = "+".join(str(a) for a in result.active_units_per_layer)
    table.add_row("active units", f"{result.active_units} of {sum(result.latent_dims)} ({layers})")
    if result.kl_per_dim is not None:
        top = sorted(result.kl_per_dim, reverse=True)[:8]
        table.add_row("KL per dimension (largest)", " ".join(f"{v:.2f}" for v in top))
    table.add_row("seconds", f"{result.seconds:.1f}")
    if melody:
        _melody_rows(table, figures)
    Console().print(table)
    if json_out is not None:
        typer.echo(f"wrote {json_out}")


def _melody_rows(table: Any, f: dict[str, Any]) -> None:
    table.add_row("accuracy, teacher-forced", f"{f['accuracy/teacher_forced']:.3f}")
    table.add_row("accuracy, free-running", f"{f['accuracy/free_running']:.3f}")
    table.add_row(
        "  on note events (teacher-forced / free)",
        f"{f['accuracy/teacher_forced_events']:.3f} / {f['accuracy/free_running_events']:.3f}",
    )
    table.add_row("pitch-class distance (samples vs data)", f"{f['pitch_class_distance']:.3f}")
    for key in ("in_key", "notes_per_bar", "pitch_range", "rhythm_repetition", "silent"):
        table.add_row(f"{key} (samples / data)", f"{f['samples/' + key]:.3f} / {f['data/' + key]:.3f}")


def _evaluate_mig(run, data, data_dir, split, limit, device, json_out) -> None:
    from rich.console import Console
    from rich.table import Table

    result = mig_run(run, data=data, split=split, limit=limit, data_dir=data_dir, device=device)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result.to_dict(), indent=2) + "\n")
    table = Table(title=f"{run}: MIG over {result.n_examples} {split} examples")
    for col in ("factor", "gap", "best dimension", "H(factor) nats"):
        table.add_column(col, justify="left" if col == "factor" else "right")
    for name, gap, top, h in zip(result.factor_names, result.gaps, result.top_dims, result.entropy, strict=True):
        table.add_row(name, f"{gap:.3f}", f"z{top}", f"{h:.2f}")
    table.add_row("MIG (mean)", f"{result.mig:.3f}", "", "")
    Console().print(table)
    if json_out is not None:
        typer.echo(f"wrote {json_out}")


def _held_out(run: Path, data: str | None, data_dir: Path | None, split: str, vae: Any):
    x, y = _run_data_labels(run, data, data_dir, split)
    return x, y, _labels_for(vae, y)


@app.command()
def interpolate(
    run: Path = typer.Argument(..., help="run folder"),
    second: str = typer.Argument(None, help="melodies: the second file, as in --data a.mid b.mid", show_default=False),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]; melodies: two files"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    pairs: int = typer.Option(8, "--pairs", help="number of random held-out pairs (a row each)"),
    steps: int = typer.Option(10, "--steps", help="decoded points per path, ends included"),
    method: str = typer.Option("lerp", "--method", help="lerp | slerp"),
    seed: int = typer.Option(0, "--seed", help="which pairs"),
    output: Path = typer.Option(..., "-o", "--output", help=".png (a row per pair), .gif (animated) or .npy"),
) -> None:
    """Decode points on the latent path between pairs of held-out inputs (shown at the ends of each row).

    For a melody model: ``--data a.mid b.mid -o morph.mid`` gives the melodies between two tunes (.mid/.wav played
    one after the other, .png their piano rolls).
    """
    if is_melody_run(run):
        from vaekit.apps.music import interpolate_melody_files

        if data is None or second is None:
            raise VaekitError("a melody interpolation needs two files", "give --data a.mid b.mid")
        interpolate_melody_files(run, data, second, steps, method=method, output=output)
        typer.echo(f"wrote {output}")
        return
    if second is not None:
        raise VaekitError(f"unexpected argument {second!r}", "give one --data for image models")
    check_output(output, {".png", ".gif", ".npy"})
    vae = vaekit.load(run)
    x, _, y = _held_out(run, data, data_dir, split, vae)
    a, b = latent.choose_pairs(len(x), pairs, seed=seed, labels=y)
    result = latent.interpolate(vae, x[a], x[b], steps=steps, method=method, y=None if y is None else y[a])
    latent.write_interpolation(result, output)
    typer.echo(f"wrote {output}")


@app.command()
def traverse(
    run: Path = typer.Argument(..., help="run folder"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    dims: str = typer.Option("all", "--dims", help="all (ordered by KL) or a list such as 0,3,5"),
    span: float = typer.Option(3.0, "--range", help="each dimension goes from -RANGE to RANGE (prior std units)"),
    steps: int = typer.Option(9, "--steps", help="values per dimension"),
    index: int = typer.Option(0, "--index", help="the held-out example whose posterior mean is the base point"),
    output: Path = typer.Option(..., "-o", "--output", help=".png (a row per dimension) or .npy"),
) -> None:
    """Vary one latent dimension at a time around a base point: a row per dimension, largest KL first."""
    check_output(output, {".png", ".npy"})
    vae = vaekit.load(run)
    x, _, y = _held_out(run, data, data_dir, split, vae)
    if not 0 <= index < len(x):
        raise VaekitError(f"--index {index} is outside the {len(x)} {split} examples")
    # the KL order needs a sample of the data, not all of it; the base example goes first
    rows = torch.cat([torch.tensor([index]), torch.linspace(0, len(x) - 1, min(len(x), 2000)).long()])
    result = latent.traverse(
        vae, x[rows], dims=dims, span=span, steps=steps, base_index=0, y=None if y is None else y[rows]
    )
    latent.write_traversal(result, output)
    typer.echo(f"wrote {output} (dimensions {', '.join(str(d) for d in result.dims)})")


@app.command("latent-map")
def latent_map_command(
    run: Path = typer.Argument(..., help="run folder"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    limit: int = typer.Option(5000, "--limit", help="at most this many examples in the scatter"),
    grid: int = typer.Option(12, "--grid", help="decoded images per side of the manifold"),
    output: Path = typer.Option(..., "-o", "--output", help=".png, or .npz (coords, labels, manifold)"),
) -> None:
    """Latent means coloured by label beside the decoded manifold (2-D latent; else the first two PCs)."""
    check_output(output, {".png", ".npz"})
    if limit < 2:
        raise VaekitError(f"--limit must be at least 2, got {limit}")
    vae = vaekit.load(run)
    x, labels, y = _held_out(run, data, data_dir, split, vae)
    rows = torch.linspace(0, len(x) - 1, min(len(x), limit)).long()
    result = latent.latent_map(
        vae, x[rows], None if labels is None else labels[rows], grid=grid, y=None if y is None else y[rows]
    )
    if output.suffix.lower() == ".png":
        latent.write_picture(latent.latent_map_png(result, title=str(run)), output)
    else:
        import io

        buf = io.BytesIO()
        extra = {} if result.labels is None else {"labels": result.labels}
        np.savez(buf, coords=result.coords, manifold=result.manifold, axes=result.axes, center=result.center, **extra)
        latent.write_picture(buf.getvalue(), output)
    typer.echo(f"wrote {output}")


@app.command()
def report(
    run: Path = typer.Argument(..., help="run folder"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="held-out split for the pictures"),
    output: Path = typer.Option(None, "-o", "--output", help=".html file [default: RUN/report.html]"),
) -> None:
    """One self-contained HTML page: config, figures, curves, samples, reconstructions, latent pictures."""
    output = output or run / "report.html"
    check_output(output, {".html"})
    from vaekit.apps.report import write_report

    write_report(run, output, data=data, data_dir=data_dir, split=split)
    typer.echo(f"wrote {output}")


anomaly_app = typer.Typer(
    no_args_is_help=True, help="Anomaly detection: fit a detector on mostly normal data, score new data."
)
app.add_typer(anomaly_app, name="anomaly")
FEATURES_HELP = ".csv (header row), .npy or .npz file, or a registered image data set"


def _features(data: str, data_dir: Path | None, split: str, **columns: Any):
    """``(x, names, labels, image_shape)`` from a feature file or a registered (image) data set."""
    if Path(data).suffix.lower() in {".csv", ".npy", ".npz"}:
        from vaekit.data.table import read_features

        return (*read_features(data, **columns), None)
    if data not in dataset_names():
        raise VaekitError(f"cannot read {data!r}", "give a .csv, .npy or .npz file or a registered data set")
    dataset = load_dataset(data, data_dir)
    x = dataset.split(split)
    labels = dataset.labels.get(split if split in dataset.splits else "train")
    return x.flatten(1).numpy().astype("float64"), None, labels, tuple(x.shape[1:])


@anomaly_app.command("fit")
def anomaly_fit(
    data: str = typer.Option(..., "--data", help=FEATURES_HELP),
    out: Path = typer.Option(..., "--out", help="run folder to create"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    score: str = typer.Option("nll", "--score", help="nll (importance-sampled -log p(x)) | elbo | recon"),
    contamination: float = typer.Option(0.1, "--contamination", help="share of training rows flagged"),
    model: str = typer.Option(None, "--model", help="mlp | conv [default: mlp; conv for image data sets]"),
    likelihood: str = typer.Option(None, "--likelihood", help="gaussian | bernoulli [default: by data]"),
    latent_dim: int = typer.Option(None, "--latent-dim", help="[default: features - 1, at most 4; images 16]"),
    hidden: str = typer.Option(None, "--hidden", help="layer widths, e.g. 64,64 [default: 16; conv 32,64]"),
    sigma: float = typer.Option(
        None, "--sigma", help="Gaussian scale in standard deviations [default: 1 for tables]; 0 learns it"
    ),
    trim: float = typer.Option(0.2, "--trim", help="refit without this share of worst-explained training rows"),
    epochs: int = typer.Option(100, "--epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr"),
    patience: int = typer.Option(10, "--patience"),
    k: int = typer.Option(100, "--k", help="importance samples per row for the nll score"),
    drop: str = typer.Option(None, "--drop", help="CSV columns to leave out, e.g. id,label"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device", help="auto | cpu | cuda | mps"),
) -> None:
    """Train a VAE on mostly normal data and set the threshold that flags --contamination of it."""
    from vaekit.apps.anomaly import fit_detector

    drop_columns = [c.strip() for c in drop.split(",") if c.strip()] if drop else []
    x, names, _, image_shape = _features(data, data_dir, "train", drop=drop_columns)
    images = image_shape is not None
    arch = model or ("conv" if images else "mlp")
    widths = _parse_ints(hidden) or ((32, 64) if arch == "conv" else (16,))
    if sigma is not None and sigma < 0:
        raise VaekitError(f"--sigma must be positive (or 0 to learn it), got {sigma}")
    detector, result = fit_detector(
        x,
        score=score,
        contamination=contamination,
        arch=arch,
        likelihood=likelihood or ("bernoulli" if images else "gaussian"),
        latent_dim=latent_dim or (16 if images else None),
        hidden=widths,
        sigma=(None if images else 1.0) if sigma is None else (sigma or None),
        trim=trim,
        image_shape=image_shape,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience,
        k=k,
        seed=seed,
        device=device,
        columns=names,
        out=out,
    )
    flagged = detector.extra["flagged_training_rows"]  # scored once, when the threshold was set
    typer.echo(
        f"wrote {out}: {len(x)} rows, {result.summary['epochs_run']} epochs, {score} threshold "
        f"{detector.threshold:.4g} flags {flagged} training rows"
    )


@anomaly_app.command("score")
def anomaly_score(
    run: Path = typer.Argument(..., help="detector run folder from 'vaekit anomaly fit'"),
    data: str = typer.Option(..., "--data", help=FEATURES_HELP),
    output: Path = typer.Option(..., "-o", "--output", help=".csv: anomaly_score, is_anomaly per input row"),
    labels: str = typer.Option(None, "--labels", help="labels file (.npy/.csv/.txt) or a column of the data CSV"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
) -> None:
    """Score every row (higher is more anomalous) and flag those above the detector's threshold."""
    from vaekit.apps.anomaly import label_metrics, load_detector
    from vaekit.data.table import read_labels

    check_output(output, {".csv"})
    detector = load_detector(run)
    label_file = labels is not None and Path(labels).is_file()
    column = labels if labels is not None and not label_file else None
    if column is not None and Path(data).suffix.lower() != ".csv":
        raise VaekitError(f"no labels file {labels!r}", "give an existing file, or a column name of a .csv")
    x, names, y, _ = _features(data, data_dir, split, label_column=column)
    if detector.columns is not None and names is not None and names != detector.columns:
        raise VaekitError(
            f"{data} has feature columns {names}, the detector was trained on {detector.columns}",
            "score data with the training columns (name the label column with --labels)",
        )
    scores = detector.scores(x, str(data))
    flags = detector.is_anomaly(scores)
    metrics = None
    if labels is not None:
        metrics = label_metrics(scores, read_labels(labels) if label_file else y)
    lines = ["anomaly_score,is_anomaly"] + [f"{s!r},{f}" for s, f in zip(scores.tolist(), flags.tolist(), strict=True)]
    atomic_write_text(output, "\n".join(lines) + "\n")
    typer.echo(f"wrote {output}: {len(scores)} rows, {int(flags.sum())} flagged as anomalies")
    if metrics is not None:
        typer.echo(f"ROC-AUC {metrics['roc_auc']:.4f}  average precision {metrics['average_precision']:.4f}")


@app.command()
def impute(
    data: str = typer.Option(
        ..., "--data", help=".csv with a header row (empty cells and NaN are missing), or a registered data set"
    ),
    output: Path = typer.Option(..., "-o", "--output", help=".csv with the input's columns, missing cells filled"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    n_imputations: int = typer.Option(
        None, "--n-imputations", help="write M draws in long format (columns imputation, row, ...) [default: means]"
    ),
    remove: float = typer.Option(
        None, "--remove", help="first hide this share of the observed cells at random and report the error on them"
    ),
    epochs: int = typer.Option(500, "--epochs"),
    k: int = typer.Option(1000, "--k", help="importance samples per row for the imputation"),
    latent_dim: int = typer.Option(None, "--latent-dim", help="[default: columns - 1, at most 16]"),
    hidden: str = typer.Option("128,128", "--hidden"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Fill the missing cells of a table (numeric and text columns) with a VAE trained on it (MIWAE)."""
    import torch

    from vaekit.apps.imputation import check_rows_observed, remove_at_random
    from vaekit.data.table import format_table, read_table, table_from_array
    from vaekit.sklearn import VAEImputer

    check_output(output, {".csv"})
    if n_imputations is not None and n_imputations < 1:
        raise VaekitError(f"--n-imputations must be at least 1, got {n_imputations}")
    if data in dataset_names():  # examples flattened into columns x0, x1, ...
        table = table_from_array(load_dataset(data, data_dir).split("train").numpy())
    else:
        table = read_table(data)
    values = table.values if remove is None else remove_at_random(table.values, remove, seed=seed)
    check_rows_observed(torch.from_numpy(values), str(data))
    imputer = VAEImputer(
        latent_dim=latent_dim,
        hidden=tuple(_parse_ints(hidden) or (128, 128)),
        categorical_features=table.categorical_indices,
        n_samples=k,
        epochs=epochs,
        random_state=seed,
        device=device,
    ).fit(values)
    if n_imputations is None:
        filled = imputer.transform(values)
        text = format_table(table.columns, filled)
    else:
        draws = imputer.sample_imputations(values, n_imputations)
        filled = draws.mean(0)
        n = len(values)
        lead = [
            ("imputation", [m + 1 for m in range(n_imputations) for _ in range(n)]),
            ("row", list(range(n)) * n_imputations),
        ]
        text = format_table(table.columns, draws.reshape(-1, draws.shape[-1]), lead)
    atomic_write_text(output, text)
    missing = int(np.isnan(values).sum())
    typer.echo(f"wrote {output}: {missing} missing cells of {values.size} filled ({len(imputer.history_)} epochs)")
    if remove is not None:
        hidden = np.isnan(values) & ~np.isnan(table.values)
        numeric = hidden & np.array([c.kind == "numeric" for c in table.columns])
        categorical = hidden & ~numeric
        if numeric.any():
            error = float((((filled - table.values) / imputer.scale_)[numeric] ** 2).mean())
            typer.echo(f"{int(numeric.sum())} hidden numeric cells: mean squared error {error:.4f} (in variances)")
        if categorical.any():
            right = float((np.round(filled) == table.values)[categorical].mean())
            typer.echo(f"{int(categorical.sum())} hidden categorical cells: {right:.1%} of levels right")


@app.command()
def inpaint(
    run: Path = typer.Argument(..., help="run folder of an image model"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option("test", "--split", help="split of a registered data set"),
    mask: str = typer.Option("half", "--mask", help="half (bottom half missing) | random (half the pixels)"),
    n: int = typer.Option(16, "-n", help="number of images"),
    k: int = typer.Option(1000, "--k", help="importance samples per image"),
    seed: int = typer.Option(0, "--seed"),
    output: Path = typer.Option(..., "-o", "--output", help=".png (original, with holes, completed) or .npy"),
) -> None:
    """Remove pixels from images and let the model fill them in: E[missing | observed]."""
    import torch

    from vaekit.apps.images import save_row_groups, show_missing
    from vaekit.apps.imputation import inpaint as complete
    from vaekit.apps.imputation import mask_images

    check_output(output, {".png", ".npy"})
    if n < 1:
        raise VaekitError(f"-n must be at least 1, got {n}")
    vae = vaekit.load(run)
    x = _run_data(run, data, data_dir, split)
    x = x[torch.linspace(0, len(x) - 1, min(n, len(x))).long()]
    holes = mask_images(x, mask, seed=seed)
    filled = complete(vae, holes, k=k, seed=seed)
    if output.suffix.lower() == ".png":
        save_row_groups([show_missing(x), show_missing(holes), show_missing(filled)], output)
    else:
        write_array(filled.numpy(), output)
    missing = torch.isnan(holes)
    typer.echo(f"wrote {output}: squared error on the missing pixels {float((filled - x)[missing].pow(2).mean()):.4f}")


@app.command()
def datasets() -> None:
    """List the registered data sets."""
    for name in dataset_names():
        typer.echo(name)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every user mistake into one ``error:`` line and exit code 2."""
    try:
        app(args=argv, prog_name="vaekit", standalone_mode=False)
    except VaekitError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except UsageError as err:
        if type(err).__name__ == "NoArgsIsHelpError":
            typer.echo(err.ctx.get_help() if err.ctx else "usage: vaekit COMMAND", err=True)
            return 2
        hint = f" (see vaekit {err.ctx.info_name} --help)" if err.ctx and err.ctx.info_name != "vaekit" else ""
        typer.echo(f"error: {err.format_message()}{hint}", err=True)
        return 2
    except ClickException as err:
        typer.echo(f"error: {err.format_message()}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("error: interrupted (a run can be continued with vaekit train --resume --out RUN)", err=True)
        return 130
    except typer.Exit as err:
        return err.exit_code
    return 0
