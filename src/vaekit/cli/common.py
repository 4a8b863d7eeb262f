"""What every command family shares: the app, option definitions, logging and the progress bar."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from vaekit.data.registry import dataset_names
from vaekit.errors import VaekitError
from vaekit.modalities import get_modality, modality_names

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

# options shared by several commands, declared once
RunArg = Annotated[Path, typer.Argument(help="run folder")]
RunData = Annotated[str | None, typer.Option("--data", help=DATA_HELP + " [default: the run's data]")]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="data folder [default: $VAEKIT_DATA_DIR, else the user cache]")
]
Split = Annotated[str, typer.Option("--split", help="split of a registered data set")]
Seed = Annotated[int | None, typer.Option("--seed", help="seed for repeatable draws")]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps")]
NoVerify = Annotated[
    bool, typer.Option("--no-verify", help="load weights even if they do not match the sha256 the run recorded")
]


def outputs_help(kind: str) -> str:
    """What each registered modality writes for ``kind``, e.g. ``images: .npy .png; tables: .csv .npy``."""
    shown = []
    for name in modality_names():
        if kind not in get_modality(name).outputs:
            continue
        suffixes = sorted(get_modality(name).outputs[kind])
        shown.append(f"{name}: " + " ".join(s or "a folder" for s in suffixes))
    return "by the run's kind of data: " + "; ".join(shown)


def output_option(help: str) -> Any:
    """The ``-o/--output`` option of a command, described by what it writes."""
    return Annotated[Path, typer.Option("-o", "--output", help=help)]


def parse_ints(text: str | None, flag: str = "--hidden") -> list[int] | None:
    """``"512,256"`` -> ``[512, 256]``; an error that names ``flag`` for anything else."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise VaekitError(f"{flag} {text!r} is not a list of integers", f"e.g. {flag} 400 or {flag} 512,256") from None


def setup_logging(quiet: bool, console: Any = None) -> None:
    """Log lines to stderr; on a terminal through the progress bar's rich console, so they print above the bar.

    A bar's handler left by an earlier command in the same process is removed first: its console is gone.
    """
    level = logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "vaekit_bar", False)]:
        root.removeHandler(handler)
    if console is not None:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_time=False, show_path=False, show_level=False)
        handler.vaekit_bar = True
        logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


def print_table(title: str, rows: list[tuple[str, str]], columns: tuple[str, ...] = ("figure", "value")) -> None:
    """A rich table of ``rows`` on stdout: first column left-aligned, the others right-aligned."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console().print(table)


def wrote(output: Path, detail: str = "") -> None:
    typer.echo(f"wrote {output}" + (f" {detail}" if detail else ""))


class ProgressBar:
    """Two rich progress bars: the run's (epoch N of M, elapsed, time left, best validation loss) and the
    epoch's optimisation steps with the live loss (read every ``every`` steps)."""

    def __init__(self, every: int = 10):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.every = every
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description:<5}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            transient=True,
            console=self.console,
        )
        self.run_task = None
        self.task = None
        self.runs = 0  # training runs followed (an anomaly detector trains twice: fit, then refit)

    def on_fit_start(self, trainer) -> None:
        for task in list(self.progress.task_ids):  # a second training run (a refit) starts its own bars
            self.progress.remove_task(task)
        self.task = None
        self.runs += 1
        self.progress.start()
        self.run_task = self.progress.add_task(
            "run" if self.runs == 1 else f"run {self.runs}",
            total=trainer.epochs,
            completed=trainer.epoch,
            note=self._best(trainer),
        )

    def on_epoch_start(self, trainer, epoch: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch}", total=trainer.steps_per_epoch, note="loss ...")

    def on_step_end(self, trainer, out) -> None:
        self.progress.advance(self.task)
        if trainer.step % self.every == 0:
            self.progress.update(self.task, note=f"loss {float(out.loss.detach()):.3f}")

    def on_epoch_end(self, trainer, record) -> None:
        self.progress.update(self.run_task, completed=trainer.epoch, note=self._best(trainer))

    def on_fit_end(self, trainer) -> None:
        self.progress.stop()

    @staticmethod
    def _best(trainer) -> str:
        return f"best {trainer.best:.3f} (epoch {trainer.best_epoch})" if trainer.best_epoch else ""


@contextlib.contextmanager
def counting(what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar of ``what`` on a terminal (None elsewhere)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich import progress as rp
    from rich.console import Console

    bar = rp.Progress(
        rp.TextColumn(what),
        rp.BarColumn(),
        rp.MofNCompleteColumn(),
        rp.TimeElapsedColumn(),
        rp.TextColumn("left"),
        rp.TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    )
    task = bar.add_task(what, total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield progress
