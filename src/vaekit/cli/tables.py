"""Tables and missing data: ``anomaly fit``, ``anomaly score``, ``impute``, ``inpaint``; and ``datasets``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer

from vaekit.apps.generation import check_output, write_array
from vaekit.cli.common import DATA_HELP, app, parse_ints
from vaekit.data.registry import dataset_names, load_dataset
from vaekit.errors import VaekitError
from vaekit.run import Run
from vaekit.utils import atomic_write_text

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
    widths = parse_ints(hidden) or ((32, 64) if arch == "conv" else (16,))
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
        hidden=tuple(parse_ints(hidden) or (128, 128)),
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
    opened = Run.open(run)
    vae = opened.model()
    x = opened.data(split, data=data, data_dir=data_dir).spread(n).x
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
