"""Tables and missing data: ``anomaly fit``, ``anomaly score``, ``impute``, ``inpaint``; and ``datasets``.

Each command parses its options, makes one call into :mod:`vaekit.apps.anomaly` or :mod:`vaekit.apps.imputation`
and prints the record it gets back. Options the user leaves out are not passed on, so the defaults are the
library's (shown in the help from the function's signature). The library's log lines (what the table reader
decided, which training stage runs) go to stderr; on a terminal, training shows a progress bar over epochs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from vaekit.apps import anomaly as anomaly_apps
from vaekit.apps import anomaly_files
from vaekit.apps import imputation as imputation_apps
from vaekit.cli.common import DATA_HELP, NoVerify, ProgressBar, app, parse_ints, setup_logging
from vaekit.data.registry import dataset_names
from vaekit.errors import VaekitError
from vaekit.run import Run

anomaly_app = typer.Typer(
    no_args_is_help=True, help="Anomaly detection: fit a detector on mostly normal data, score new data."
)
app.add_typer(anomaly_app, name="anomaly")
FEATURES_HELP = ".csv (header row), .npy or .npz file, or a registered image data set"
SEP_HELP = "CSV separator: , ; tab | [default: detected]"
DECIMAL_HELP = "decimal mark of CSV numbers: . or , [default: detected]"


# per-epoch lines and the run folder's pictures are train's business; here the bar (on a terminal) replaces them
_CHATTY = ("vaekit.train.trainer", "vaekit.apps.fit")


@contextlib.contextmanager
def _progress() -> Iterator[list[Any]]:
    """Log lines to stderr inside the block, and the callbacks a training run gets: a progress bar on a
    terminal, else none. The trainer's per-epoch lines are held back (their loggers' levels are restored)."""
    callbacks = [ProgressBar()] if sys.stderr.isatty() else []
    setup_logging(False, callbacks[0].console if callbacks else None)
    loggers = [logging.getLogger(name) for name in _CHATTY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield callbacks
    finally:
        for bar in callbacks:  # an error or Ctrl-C must not leave the bar drawn over the message
            bar.progress.stop()
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _shown(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple | list) else str(value)


def _default(fn: Callable[..., Any], name: str) -> str:
    """`` [default: …]`` for a help text, read from the library function's signature."""
    return f" [default: {_shown(inspect.signature(fn).parameters[name].default)}]"


def _fit_default(name: str) -> str:
    """`` [default: …]`` of a ``fit_detector`` keyword, with the image default where there is one."""
    shown = _default(anomaly_apps.fit_detector, name)
    if name not in anomaly_apps.IMAGE_DEFAULTS:
        return shown
    return f"{shown[:-1]}; images: {_shown(anomaly_apps.IMAGE_DEFAULTS[name])}]"


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (those not None)."""
    return {name: value for name, value in options.items() if value is not None}


def _hidden(text: str | None) -> tuple[int, ...] | None:
    widths = parse_ints(text)
    return None if widths is None else tuple(widths)


# the library functions whose signatures give the options' defaults
_score, _impute, _inpaint = anomaly_files.score_file, imputation_apps.fit_imputer, imputation_apps.inpaint_run
_impute_table = imputation_apps.impute_table


@anomaly_app.command("fit")
def anomaly_fit(
    data: str = typer.Option(..., "--data", help=FEATURES_HELP),
    out: Path = typer.Option(..., "--out", help="run folder to create"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    score: str = typer.Option(
        None, "--score", help="nll (importance-sampled -log p(x)) | elbo | recon" + _fit_default("score")
    ),
    contamination: float = typer.Option(
        None, "--contamination", help="share of training rows flagged" + _fit_default("contamination")
    ),
    model: str = typer.Option(None, "--model", help="mlp | conv" + _fit_default("arch")),
    likelihood: str = typer.Option(None, "--likelihood", help="gaussian | bernoulli" + _fit_default("likelihood")),
    latent_dim: int = typer.Option(None, "--latent-dim", help="[default: features - 1, at most 4; images: 16]"),
    hidden: str = typer.Option(
        None, "--hidden", help="layer widths, e.g. 64,64 (channels of a conv trunk)" + _fit_default("hidden")
    ),
    sigma: float = typer.Option(
        None,
        "--sigma",
        help="one model of this Gaussian scale in standard deviations, 0 learns it [default: two models, of scale 1 "
        "and learned, their standardised scores averaged]",
    ),
    trim: float = typer.Option(
        None, "--trim", help="refit without this share of worst-explained training rows" + _fit_default("trim")
    ),
    scaling: str = typer.Option(
        None, "--scaling", help="robust (median, IQR) | standard (mean, std)" + _fit_default("scaling")
    ),
    epochs: int = typer.Option(None, "--epochs", help=_fit_default("epochs")),
    batch_size: int = typer.Option(None, "--batch-size", help=_fit_default("batch_size")),
    lr: float = typer.Option(None, "--lr", help=_fit_default("lr")),
    patience: int = typer.Option(None, "--patience", help=_fit_default("patience")),
    k: int = typer.Option(None, "--k", help="importance samples per row for the nll score" + _fit_default("k")),
    drop: str = typer.Option(None, "--drop", help="CSV columns to leave out, e.g. id,label"),
    sep: str = typer.Option(None, "--sep", help=SEP_HELP),
    decimal: str = typer.Option(None, "--decimal", help=DECIMAL_HELP),
    seed: int = typer.Option(None, "--seed", help=_fit_default("seed")),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda | mps" + _fit_default("device")),
) -> None:
    """Train a VAE on mostly normal data and set the threshold that flags --contamination of it."""
    if sigma is not None and sigma < 0:
        raise VaekitError(f"--sigma must be positive (or 0 to learn it), got {sigma}")
    options = _given(
        score=score, contamination=contamination, arch=model, likelihood=likelihood, latent_dim=latent_dim,
        hidden=_hidden(hidden), trim=trim, scaling=scaling, epochs=epochs, batch_size=batch_size, lr=lr,
        patience=patience, k=k, seed=seed, device=device,
    )  # fmt: skip
    if sigma is not None:
        options["sigma"] = sigma or None  # 0: learn a scale per feature
    drop_columns = [c.strip() for c in drop.split(",") if c.strip()] if drop else []
    with _progress() as callbacks:
        if callbacks:
            options["callbacks"] = callbacks
        fitted = anomaly_files.fit_detector_on(
            data, out, data_dir=data_dir, drop=drop_columns, **_given(sep=sep, decimal=decimal), **options
        )
    detector = fitted.detector
    typer.echo(
        f"wrote {out}: {fitted.rows} rows, {fitted.epochs} epochs, {detector.score} threshold "
        f"{detector.threshold:.4g} flags {fitted.flagged} training rows"
    )


@anomaly_app.command("score")
def anomaly_score(
    run: Path = typer.Argument(..., help="detector run folder from 'vaekit anomaly fit'"),
    data: str = typer.Option(..., "--data", help=FEATURES_HELP),
    output: Path = typer.Option(..., "-o", "--output", help=".csv: anomaly_score, is_anomaly per input row"),
    labels: str = typer.Option(None, "--labels", help="labels file (.npy/.csv/.txt) or a column of the data CSV"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option(None, "--split", help="split of a registered data set" + _default(_score, "split")),
    sep: str = typer.Option(None, "--sep", help=SEP_HELP),
    decimal: str = typer.Option(None, "--decimal", help=DECIMAL_HELP),
    no_verify: NoVerify = None,  # left out: None, as every option here (the library verifies by default)
    explain: int = typer.Option(
        None, "--explain", help="add each row's N most anomalous features and their shares of its score"
    ),
) -> None:
    """Score every row (higher is more anomalous) and flag those above the detector's threshold."""
    given = _given(labels=labels, data_dir=data_dir, split=split, sep=sep, decimal=decimal, explain=explain)
    with _progress():
        scored = anomaly_files.score_file(run, data, output, verify=not no_verify, **given)
    typer.echo(f"wrote {scored.output}: {len(scored.scores)} rows, {scored.flagged} flagged as anomalies")
    if scored.metrics is not None:
        m = scored.metrics
        typer.echo(f"ROC-AUC {m['roc_auc']:.4f}  average precision {m['average_precision']:.4f}")


@app.command()
def impute(
    data: str = typer.Option(
        ..., "--data", help=".csv with a header row (empty, NA, NaN, ?, null... are missing), or a registered data set"
    ),
    output: Path = typer.Option(..., "-o", "--output", help=".csv with the input's columns, missing cells filled"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option(
        None, "--split", help="split of a registered data set" + _default(_impute_table, "split")
    ),
    sep: str = typer.Option(None, "--sep", help=SEP_HELP),
    decimal: str = typer.Option(None, "--decimal", help=DECIMAL_HELP),
    n_imputations: int = typer.Option(
        None, "--n-imputations", help="write M draws in long format (columns imputation, row, ...) [default: means]"
    ),
    remove: float = typer.Option(
        None, "--remove", help="first hide this share of the observed cells at random and report the error on them"
    ),
    epochs: int = typer.Option(None, "--epochs", help=_default(_impute, "epochs")),
    k: int = typer.Option(None, "--k", help="importance samples per row for the imputation" + _default(_impute, "k")),
    latent_dim: int = typer.Option(None, "--latent-dim", help="[default: columns - 1, at most 16]"),
    hidden: str = typer.Option(None, "--hidden", help="layer widths" + _default(_impute, "hidden")),
    seed: int = typer.Option(None, "--seed", help=_default(imputation_apps.impute_table, "seed")),
    device: str = typer.Option(None, "--device", help=_default(_impute, "device")),
) -> None:
    """Fill the missing cells of a table (numeric and text columns) with a VAE trained on it (MIWAE)."""
    options = _given(
        epochs=epochs, k=k, latent_dim=latent_dim, hidden=_hidden(hidden), seed=seed, device=device, split=split,
        sep=sep, decimal=decimal,
    )  # fmt: skip
    with _progress() as callbacks:
        if callbacks:
            options["callbacks"] = callbacks
        done = imputation_apps.impute_table(
            data, output, data_dir=data_dir, n_imputations=n_imputations, remove=remove, **options
        )
    typer.echo(f"wrote {done.output}: {done.missing} missing cells of {done.cells} filled ({done.epochs} epochs)")
    if done.numeric_mse is not None:
        typer.echo(
            f"{done.hidden_numeric} hidden numeric cells: mean squared error {done.numeric_mse:.4f} (in variances)"
        )
    if done.categorical_accuracy is not None:
        typer.echo(
            f"{done.hidden_categorical} hidden categorical cells: {done.categorical_accuracy:.1%} of levels right"
        )


@app.command()
def inpaint(
    run: Path = typer.Argument(..., help="run folder of an image model"),
    data: str = typer.Option(None, "--data", help=DATA_HELP + " [default: the run's data]"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    split: str = typer.Option(None, "--split", help="split of a registered data set" + _default(_inpaint, "split")),
    mask: str = typer.Option(
        None, "--mask", help="half (bottom half missing) | random (half the pixels)" + _default(_inpaint, "mask")
    ),
    n: int = typer.Option(None, "-n", help="number of images" + _default(_inpaint, "n")),
    k: int = typer.Option(None, "--k", help="importance samples per image" + _default(_inpaint, "k")),
    seed: int = typer.Option(None, "--seed", help=_default(_inpaint, "seed")),
    output: Path = typer.Option(..., "-o", "--output", help=".png (original, with holes, completed) or .npy"),
    no_verify: NoVerify = None,  # left out: None, as every option here (the library verifies by default)
) -> None:
    """Remove pixels from images and let the model fill them in: E[missing | observed]."""
    options = _given(data=data, data_dir=data_dir, split=split, mask=mask, n=n, k=k, seed=seed)
    done = imputation_apps.inpaint_run(Run.open(run, verify=not no_verify), output, **options)
    typer.echo(f"wrote {done.output}: squared error on the missing pixels {done.squared_error:.4f}")


@app.command()
def datasets() -> None:
    """List the registered data sets."""
    for name in dataset_names():
        typer.echo(name)
