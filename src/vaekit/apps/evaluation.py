"""Evaluate a trained run on held-out data: what ``vaekit evaluate`` runs."""

from __future__ import annotations

import logging
import os

from vaekit.apps.fit import check_data_fits, held_out_binarization
from vaekit.apps.generation import encode
from vaekit.build import load, read_run_record
from vaekit.data.registry import load_dataset
from vaekit.errors import VaekitError
from vaekit.evaluate import MIG, Evaluation, evaluate_model, mutual_information_gap
from vaekit.train.device import resolve_device

log = logging.getLogger(__name__)


def evaluate_run(
    run: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    k: int = 5000,
    seed: int | None = 0,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    max_draws: int = 8192,
) -> Evaluation:
    """Evaluate the run folder's model on ``split`` of ``data`` (default: the data it was trained on).

    A run trained with dynamic binarization is scored on the same fixed draws it validated on. ``limit``
    keeps the first N examples (for a quick look; published figures use the whole split).
    """
    if k < 1:
        raise VaekitError(f"--k must be at least 1, got {k}")
    if limit is not None and limit < 2:
        raise VaekitError(f"--limit must be at least 2, got {limit}")
    config, _ = read_run_record(run)
    vae = load(run, device=resolve_device(device))
    dataset = load_dataset(data or config.data.name, data_dir, bars=config.data.bars)
    x = dataset.split(split)
    y = dataset.labels.get(split) if getattr(vae, "n_classes", 0) else None
    if getattr(vae, "n_classes", 0) and y is None:
        raise VaekitError(f"the conditional model needs labels, and {dataset.name} has none for {split!r}")
    if limit is not None:
        x, y = x[:limit], (None if y is None else y[:limit])
    check_data_fits(vae, x, f"the {split} data")
    if config.data.binarize == "dynamic":
        x = held_out_binarization(x, config.train.seed, split)
    elif config.model.likelihood == "bernoulli" and bool(((x > 0) & (x < 1)).any()):
        log.warning(
            "the data has grey levels: under a Bernoulli likelihood the 'nll' is a cross-entropy, not the "
            "likelihood of binary data; binarize the data (or train with --binarize dynamic) to compare with papers"
        )
    log.info("evaluating %d examples with k = %d importance samples", len(x), k)
    return evaluate_model(vae, x, k=k, seed=seed, max_draws=max_draws, y=y)


def mig_run(
    run: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    n_bins: int = 20,
) -> MIG:
    """The Mutual Information Gap of a run's posterior means against the ground-truth factors of ``data``.

    Only data generated from known factors has them (``shapes``); see
    :func:`~vaekit.evaluate.disentanglement.mutual_information_gap`.
    """
    if limit is not None and limit < 2:
        raise VaekitError(f"--limit must be at least 2, got {limit}")
    config, _ = read_run_record(run)
    vae = load(run, device=resolve_device(device))
    dataset = load_dataset(data or config.data.name, data_dir)
    factors = dataset.factors.get(split)
    if factors is None:
        raise VaekitError(
            f"data set {dataset.name!r} has no ground-truth factors for its {split!r} split",
            "MIG needs data generated from known factors, e.g. --data shapes",
        )
    x = dataset.split(split)
    y = dataset.labels.get(split) if getattr(vae, "n_classes", 0) else None
    if limit is not None:
        x, factors, y = x[:limit], factors[:limit], (None if y is None else y[:limit])
    check_data_fits(vae, x, f"the {split} data")
    if vae.latent_dim < 2:
        raise VaekitError("MIG needs a model with at least 2 latent dimensions")
    log.info("MIG over %d examples, %d factors", len(x), factors.shape[1])
    codes = encode(vae, x, y=y)
    return mutual_information_gap(codes, factors.numpy(), factor_names=dataset.factor_names, n_bins=n_bins)
