"""Missing data: fill in what is missing with a VAE, for tables (MIWAE) and images (inpainting).

A model built with ``missing=True`` (or a ``mixed`` likelihood) trains directly on incomplete rows: the
encoder sees missing entries as 0 and the likelihood counts observed entries only, so the IWAE objective is
the MIWAE bound (Mattei & Frellsen 2019, arXiv:1812.02633). Given a row with observed part x_o, draws
z_1..z_k ~ q(z | x) carry self-normalised weights w_i ∝ p(x_o | z_i) p(z_i) / q(z_i | x), and

    E[x_m | x_o] ~= sum_i w_i E[x_m | z_i]          (:func:`impute`)

while resampling z_i by w_i and drawing x_m ~ p(x_m | z_i) gives multiple imputations
(:func:`sample_imputations`). A categorical column takes the level of highest weighted probability.
Any trained VAE can inpaint images this way (:func:`inpaint`), with a few rounds of re-encoding its own
completion to sharpen the proposal q.

For tables, :func:`fit_imputer` trains such a model on a standardised incomplete array (its signature holds the
defaults; ``VAEImputer`` repeats them and a test keeps the two in step) and returns an :class:`Imputer`;
:func:`impute_table` is ``vaekit impute`` (a CSV or data set in, a CSV out) and :func:`inpaint_run` is
``vaekit inpaint`` (a run's images in, a picture or array out).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributions import Distribution

from vaekit.apps.fit import TrainResult, fit
from vaekit.apps.generation import check_output, write_array
from vaekit.apps.images import save_row_groups, show_missing
from vaekit.build import build_vae
from vaekit.data.registry import dataset_names, load_dataset
from vaekit.data.table import Table, format_table, read_table, table_from_array
from vaekit.distributions import MixedColumns
from vaekit.errors import DataError, OptionError
from vaekit.evaluate.conditional import common_noise, row_chunks, weighted_draws
from vaekit.model import VAE
from vaekit.run import Run
from vaekit.utils import atomic_write_text, inference, standardisation, standardise

log = logging.getLogger(__name__)
MASKS = ("half", "random")
# as vaekit.apps.anomaly.FAR: the encoder sees a value farther than this (in standard deviations) as this far
FAR = 1e6


def check_rows_observed(x: torch.Tensor | np.ndarray, what: str = "the data") -> None:
    """Every row needs at least one observed (non-NaN) entry, and nothing may be infinite."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.array(x))  # a writable copy: torch warns about read-only arrays (memmaps)
    if torch.isinf(x).any():
        raise DataError(f"{what} contains inf", "leave a missing value empty (NaN), never infinite")
    empty = torch.isnan(x).flatten(1).all(1)
    if empty.any():
        row = int(empty.nonzero()[0])
        raise DataError(f"row {row} of {what} has no observed value", "drop rows where everything is missing")


def conditional_mean(px: Distribution, w: torch.Tensor) -> torch.Tensor:
    """sum_i w_i E[x | z_i] for ``px`` with batch shape ``(k, B)`` and weights ``w`` ``(k, B)`` summing to 1.

    For a :class:`~vaekit.distributions.MixedColumns`, a categorical column gets the level that maximises
    sum_i w_i P(level | z_i), the conditional mode.
    """
    if isinstance(px, MixedColumns):
        wn = w.unsqueeze(-1)
        numeric = (wn * px.loc).sum(0) if px.numeric else None
        levels = [(wn * p).sum(0).argmax(-1) for p in px.probs_per_column()]
        out = torch.empty(w.shape[1:] + px.event_shape, dtype=w.dtype, device=w.device)
        if numeric is not None:
            out[..., px.numeric] = numeric
        for j, level in zip(px.categorical, levels, strict=True):
            out[..., j] = level.to(out.dtype)
        return out
    mean = px.mean
    return (w.view(*w.shape, *[1] * (mean.dim() - w.dim())) * mean).sum(0)


@inference
def impute(
    vae: VAE,
    x: torch.Tensor,
    *,
    k: int = 1000,
    seed: int = 0,
    fill: torch.Tensor | None = None,
    max_draws: int = 8192,
) -> torch.Tensor:
    """``x`` with every NaN replaced by its conditional mean E[x_m | x_o] (see the module docstring).

    ``x`` is ``(N, *x_shape)``; ``fill`` (same shape) is what the encoder sees at missing entries (default 0).
    A row's result depends on the row and ``seed`` only. ``vae`` runs in eval mode and is left in its mode.
    """
    check_rows_observed(x)
    out = x.clone()
    eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
    for rows in row_chunks(len(x), k, max_draws):
        xb = x[rows]
        missing = torch.isnan(xb)
        if not missing.any():
            continue
        d = weighted_draws(vae, xb, eps, None if fill is None else fill[rows])
        out[rows] = torch.where(missing, conditional_mean(d.px, torch.softmax(d.log_w, 0)), xb)
    return out


@inference
def sample_imputations(
    vae: VAE,
    x: torch.Tensor,
    n: int,
    *,
    k: int = 1000,
    seed: int = 0,
    fill: torch.Tensor | None = None,
    max_draws: int = 8192,
) -> torch.Tensor:
    """``n`` completions of each row, ``(n, N, *x_shape)``, by sampling importance resampling.

    For each row: draw z_1..z_k ~ q(z|x), pick n of them with probability w_i, and draw x_m ~ p(x_m | z) at each
    pick; observed entries are kept. As k grows these are draws from p(x_m | x_o). ``fill`` is as in
    :func:`impute`.
    """
    if n < 1:
        raise OptionError(f"cannot draw {n} imputations", "ask for at least 1")
    check_rows_observed(x)
    out = x.unsqueeze(0).repeat(n, *[1] * x.dim())
    eps = common_noise(k, vae.latent_dim, seed, dtype=x.dtype, device=x.device)
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed + 1)
        for rows in row_chunks(len(x), k, max_draws):
            xb = x[rows]
            d = weighted_draws(vae, xb, eps, None if fill is None else fill[rows])
            picks = torch.multinomial(torch.softmax(d.log_w, 0).T, n, replacement=True)  # (B, n)
            draws = d.px.sample().to(x.dtype)  # (k, B, *x_shape)
            batch = torch.arange(len(xb), device=x.device)
            chosen = draws[picks.T, batch]  # (n, B, *x_shape)
            out[:, rows] = torch.where(torch.isnan(xb), chosen, xb)
    return out


def mask_images(x: torch.Tensor, mask: str, *, seed: int = 0) -> torch.Tensor:
    """Images ``(N, C, H, W)`` with pixels removed (NaN): ``"half"`` the bottom half, ``"random"`` half the pixels
    chosen at random per image."""
    if mask not in MASKS:
        raise OptionError(f"unknown mask {mask!r}", f"choose one of {', '.join(MASKS)}")
    if x.dim() != 4:
        raise DataError(f"inpainting needs images (N, C, H, W), got shape {tuple(x.shape)}", "use an image data set")
    out = x.clone()
    if mask == "half":
        out[..., x.shape[-2] // 2 :, :] = float("nan")
    else:
        g = torch.Generator().manual_seed(seed)
        hidden = torch.rand(x.shape[0], 1, *x.shape[2:], generator=g) < 0.5
        out[hidden.expand_as(x)] = float("nan")
    return out


@inference
def inpaint(vae: VAE, x: torch.Tensor, *, k: int = 1000, seed: int = 0, rounds: int = 3) -> torch.Tensor:
    """Complete images whose missing pixels are NaN with E[x_m | x_o] under any trained ``vae``.

    The encoder never saw holes, so its proposal improves if it sees a completion instead: start from the
    decoded prior mean, re-encode the current completion ``rounds`` times (each time keeping the observed
    pixels), then importance-sample the conditional mean with that completion as the encoder's input.
    ``vae`` runs in eval mode and is left in the mode it was in.
    """
    check_rows_observed(x)
    missing = torch.isnan(x)
    fill = vae.decode(torch.zeros(1, vae.latent_dim, dtype=x.dtype, device=x.device)).mean.expand_as(x)
    for _ in range(rounds):
        fill = vae.reconstruct(torch.where(missing, fill, x))
    return impute(vae, x, k=k, seed=seed, fill=fill)


def remove_at_random(x: np.ndarray, fraction: float, *, seed: int = 0) -> np.ndarray:
    """A copy of table ``x`` ``(N, D)`` with ``fraction`` of its observed entries set to NaN, completely at random
    (seeded); a row that would lose every value keeps one. For measuring imputation on your own data."""
    if not 0.0 < fraction < 1.0:
        raise OptionError(f"the share of cells to remove must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    observed = ~np.isnan(x)
    remove = observed & (rng.random(x.shape) < fraction)
    for i in np.flatnonzero((observed & ~remove).sum(1) == 0):
        remove[i, rng.choice(np.flatnonzero(observed[i]))] = False
    out = x.copy()
    out[remove] = np.nan
    return out


# tables -----------------------------------------------------------------------------------------------------
def estimator_seed(random_state: Any) -> int:
    """The torch seed that scikit-learn's ``random_state`` (an int, a ``RandomState`` or None) stands for: the
    one ``VAEImputer`` and ``VAEAnomalyDetector`` train with, so ``vaekit impute --seed s`` fits the same model
    as ``VAEImputer(random_state=s)``."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def level_counts(x: np.ndarray, categorical_features: Sequence[int] | None) -> tuple[int, ...]:
    """Per column of ``x`` ``(N, D)``: 0 if numeric, else its number of levels K (its cells hold codes 0..K-1)."""
    categorical = sorted({int(j) for j in (categorical_features or [])})
    if any(j < 0 or j >= x.shape[1] for j in categorical):
        raise OptionError(f"categorical_features {categorical} out of range for {x.shape[1]} features")
    categories = [0] * x.shape[1]
    for j in categorical:
        codes = x[:, j][~np.isnan(x[:, j])]
        if (codes < 0).any() or (codes != np.round(codes)).any():
            raise DataError(f"categorical feature {j} must hold level codes 0, 1, 2, ...")
        categories[j] = max(2, int(codes.max()) + 1)
    return tuple(categories)


@dataclass
class Imputer:
    """A MIWAE model (float64) with the standardisation of the table it was trained on.

    ``categories``: per column 0 (numeric, standardised with ``center`` and ``scale``) or its number of levels
    (codes 0..K-1, never rescaled). :meth:`transform` fills each NaN of rows ``(N, D)`` with E[x_m | x_o] and
    :meth:`sample` draws completions from p(x_m | x_o), with ``k`` importance samples and ``seed``; observed
    cells come back bit for bit. ``names`` name the columns in errors. A filled cell that overflows float64
    (a column near 1e308) is an error naming its column, never an infinite value.
    """

    vae: VAE
    categories: tuple[int, ...]
    center: np.ndarray
    scale: np.ndarray
    k: int = 1000
    seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    names: tuple[str, ...] | None = None

    def prepare(self, x: np.ndarray) -> torch.Tensor:
        """Rows ``(N, D)`` standardised as the training table (clipped at :data:`FAR`), on the model's device."""
        z = np.clip(standardise(x, self.center, self.scale), -FAR, FAR)
        return torch.from_numpy(z).to(self.vae.device)

    def restore(self, x: np.ndarray, filled: torch.Tensor) -> np.ndarray:
        """``x`` with its NaN cells taken from ``filled`` (model units) in the table's units."""
        with np.errstate(over="ignore", invalid="ignore"):
            values = filled.cpu().numpy() * self.scale + self.center
        # observed entries come back bit for bit, not through the round trip of standardisation
        out = np.where(np.isnan(x), values, x)
        bad = ~np.isfinite(out)  # x itself holds no inf (check_rows_observed)
        if bad.any():
            j = int(np.argwhere(bad)[0][-1])
            name = repr(self.names[j]) if self.names is not None else f"feature {j}"
            raise DataError(
                f"the values filled into column {name} do not fit in float64",
                "its values come near the limit (+-1.8e308); rescale that column",
            )
        return out

    def transform(self, x: np.ndarray, *, k: int | None = None) -> np.ndarray:
        """``x`` ``(N, D)`` with each missing entry replaced by its conditional mean."""
        return self.restore(x, impute(self.vae, self.prepare(x), k=self.k if k is None else k, seed=self.seed))

    def sample(self, x: np.ndarray, n: int, *, k: int | None = None) -> np.ndarray:
        """``n`` completions of ``x`` drawn from p(x_m | x_o): ``(n, N, D)``."""
        draws = sample_imputations(self.vae, self.prepare(x), n, k=self.k if k is None else k, seed=self.seed)
        return self.restore(x, draws)


def fit_imputer(
    x: np.ndarray,
    *,
    categorical_features: Sequence[int] | None = None,
    latent_dim: int | None = None,
    hidden: Sequence[int] = (128, 128),
    n_train_samples: int = 20,
    k: int = 1000,
    epochs: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    patience: int | None = 30,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: str = "cpu",
    what: str = "the data",
    names: Sequence[str] | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Imputer, TrainResult]:
    """Train a MIWAE model on the incomplete table ``x`` ``(N, D)`` (NaN = missing) and return its imputer.

    Columns in ``categorical_features`` hold level codes and get a categorical likelihood; the others are
    standardised on their observed values and get a Gaussian one (tanh MLP trunks of ``hidden`` widths, a
    latent of ``min(16, D - 1)`` by default). Trained on the importance-weighted bound with
    ``n_train_samples`` draws (Mattei & Frellsen 2019, arXiv:1812.02633); the imputer uses ``k`` draws.
    Repeatable for a ``seed``; the caller's RNG is left as it was. ``names`` name the columns in errors;
    ``callbacks`` (e.g. a progress bar) go to the trainer.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{what} has shape {x.shape}", "give a table (rows, columns)")
    check_rows_observed(x, what)
    empty = np.isnan(x).all(0)
    if empty.any():
        raise DataError(f"feature {int(np.flatnonzero(empty)[0])} has no observed value", "drop it")
    categories = level_counts(x, categorical_features)
    center, scale = standardisation(x, numeric=np.array([c == 0 for c in categories]), names=names)
    mixed = any(categories)
    # every device's RNG is forked: the trainer reseeds the global RNG, on the GPU too when it trains there
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        vae = build_vae(
            (x.shape[1],),
            likelihood="mixed" if mixed else "gaussian",
            categories=categories if mixed else (),
            missing=True,
            latent_dim=latent_dim or max(1, min(x.shape[1] - 1, 16)),
            hidden=hidden,
            activation="tanh",
        )
        result = fit(
            vae,
            standardise(x, center, scale).astype(np.float32),
            objective="iwae",
            k=n_train_samples,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            patience=patience,
            val_fraction=val_fraction,
            seed=seed,
            device=device,
            callbacks=callbacks,
        )
    # float64 so that a row's imputation does not depend on how many rows share its batch
    imputer = Imputer(
        result.vae.double(), categories, center, scale, k=k, seed=seed, history=result.history,
        names=None if names is None else tuple(names),
    )  # fmt: skip
    return imputer, result


@dataclass(frozen=True)
class TableImputation:
    """What :func:`impute_table` wrote and how well it did on the cells it hid (``remove``).

    ``numeric_mse`` is the mean squared error on hidden numeric cells in units of each column's variance;
    ``categorical_accuracy`` the share of hidden categorical cells whose level came back (None: no such cells).
    """

    output: Path
    missing: int
    cells: int
    epochs: int
    hidden_numeric: int = 0
    numeric_mse: float | None = None
    hidden_categorical: int = 0
    categorical_accuracy: float | None = None


def read_table_or_dataset(
    data: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    *,
    split: str = "train",
    sep: str | None = None,
    decimal: str | None = None,
) -> Table:
    """A :class:`vaekit.data.table.Table` from a CSV with a header row (``sep`` and ``decimal`` detected unless
    given), or the examples of a registered data set's ``split``, flattened into columns ``x0, x1, ...``."""
    if str(data) in dataset_names():
        x = load_dataset(str(data), data_dir).split(split).numpy()
        log.info("%s: using its %s split (%d rows; --split chooses another)", data, split, len(x))
        return table_from_array(x)
    return read_table(data, sep=sep, decimal=decimal)


def impute_table(
    data: str | os.PathLike,
    output: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    n_imputations: int | None = None,
    remove: float | None = None,
    seed: int = 0,
    split: str = "train",
    sep: str | None = None,
    decimal: str | None = None,
    **options: Any,
) -> TableImputation:
    """Fill the missing cells of a table (see :func:`read_table_or_dataset`) and write ``output`` (.csv).

    ``options`` are :func:`fit_imputer`'s keywords; the model is seeded as ``VAEImputer(random_state=seed)``.
    Without ``n_imputations`` each missing cell gets its conditional mean (the most probable level for text
    columns), under the input's column names, order and types; with it, ``n_imputations`` draws per row in
    long format (leading columns ``imputation``, ``row``). ``remove`` first hides that share of the observed
    cells at random (seeded) and reports the error on them. ``split`` is the split of a registered data set;
    ``sep`` and ``decimal`` say how a CSV is written (detected unless given). The output is a plain CSV
    (``,`` between cells, ``.`` in numbers) with finite numbers only. Nothing is written when anything fails.
    """
    output = check_output(output, {".csv"})
    if n_imputations is not None and n_imputations < 1:
        raise OptionError(f"the number of imputations must be at least 1, got {n_imputations}")
    table = read_table_or_dataset(data, data_dir, split=split, sep=sep, decimal=decimal)
    values = table.values if remove is None else remove_at_random(table.values, remove, seed=seed)
    check_rows_observed(values, str(data))
    imputer, result = fit_imputer(
        values,
        categorical_features=table.categorical_indices,
        seed=estimator_seed(seed),
        what=str(data),
        names=table.names,
        **options,
    )
    if n_imputations is None:
        filled = imputer.transform(values)
        text = format_table(table.columns, filled)
    else:
        draws = imputer.sample(values, n_imputations)
        filled = (draws / n_imputations).sum(0)  # a mean that cannot overflow near 1e308
        n = len(values)
        lead = [
            ("imputation", [m + 1 for m in range(n_imputations) for _ in range(n)]),
            ("row", list(range(n)) * n_imputations),
        ]
        text = format_table(table.columns, draws.reshape(-1, draws.shape[-1]), lead)
    atomic_write_text(output, text)
    report = TableImputation(output, int(np.isnan(values).sum()), values.size, len(result.history))
    return report if remove is None else replace(report, **_errors_on_hidden(table, values, filled, imputer.scale))


def _errors_on_hidden(table: Table, values: np.ndarray, filled: np.ndarray, scale: np.ndarray) -> dict[str, Any]:
    """:class:`TableImputation`'s figures on the cells observed in ``table`` but hidden in ``values``."""
    hidden = np.isnan(values) & ~np.isnan(table.values)
    numeric = hidden & np.array([c.kind == "numeric" for c in table.columns])
    categorical = hidden & ~numeric
    figures: dict[str, Any] = {"hidden_numeric": int(numeric.sum()), "hidden_categorical": int(categorical.sum())}
    if numeric.any():
        figures["numeric_mse"] = float((((filled - table.values) / scale)[numeric] ** 2).mean())
    if categorical.any():
        figures["categorical_accuracy"] = float((np.round(filled) == table.values)[categorical].mean())
    return figures


# images -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inpainting:
    """What :func:`inpaint_run` wrote: the completed images ``(N, C, H, W)`` and the mean squared error on the
    pixels that were removed."""

    output: Path
    filled: torch.Tensor
    squared_error: float


def inpaint_run(
    run: Run,
    output: str | os.PathLike,
    *,
    data: str | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    mask: str = "half",
    n: int = 16,
    k: int = 1000,
    seed: int = 0,
) -> Inpainting:
    """Remove pixels (``mask``, see :func:`mask_images`) from ``n`` images of the run's data (or ``data``) and
    let the run's model fill them in (:func:`inpaint`). ``output``: a ``.png`` with rows of originals, images
    with holes (painted red) and completions, or the completions as ``.npy``; written atomically."""
    output = check_output(output, {".png", ".npy"})
    if n < 1:
        raise OptionError(f"the number of images must be at least 1, got {n}")
    if mask not in MASKS:
        raise OptionError(f"unknown mask {mask!r}", f"choose one of {', '.join(MASKS)}")
    vae = run.model()
    x = run.data(split, data=data, data_dir=data_dir).spread(n).x
    holes = mask_images(x, mask, seed=seed)
    filled = inpaint(vae, holes, k=k, seed=seed)
    if output.suffix.lower() == ".png":
        save_row_groups([show_missing(x), show_missing(holes), show_missing(filled)], output)
    else:
        write_array(filled.numpy(), output)
    error = float((filled - x)[torch.isnan(holes)].pow(2).mean())
    return Inpainting(output, filled, error)
