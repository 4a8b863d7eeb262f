"""Evaluate a trained run on held-out data: what ``vaekit evaluate`` runs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaekit.apps.generation import encode
from vaekit.errors import VaekitError
from vaekit.evaluate import MIG, Evaluation, evaluate_model, mutual_information_gap
from vaekit.model import compile_trunks, should_compile
from vaekit.run import Run
from vaekit.train.device import resolve_device
from vaekit.utils import atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunEvaluation:
    """The likelihood figures of a run (:class:`~vaekit.evaluate.Evaluation`) and its modality's own figures."""

    evaluation: Evaluation
    extra: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str]] = field(default_factory=list)  # the extra figures as table rows

    def to_dict(self) -> dict[str, Any]:
        return {**self.evaluation.to_dict(), **self.extra}


def write_figures(figures: dict[str, Any], path: str | os.PathLike) -> None:
    """Write evaluation figures as JSON (atomically), as ``vaekit evaluate --json`` does."""
    atomic_write_text(path, json.dumps(figures, indent=2) + "\n")


def _open(run: Run | str | os.PathLike) -> Run:
    return run if isinstance(run, Run) else Run.open(run)


def evaluate_run(
    run: Run | str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    k: int = 5000,
    seed: int | None = 0,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    max_draws: int | None = None,
    compile: bool | None = None,
) -> Evaluation:
    """Importance-sampled likelihood, ELBO terms and active units of a run on ``split`` of ``data`` (default:
    the data it was trained on).

    A run trained with dynamic binarization is scored on the same fixed draws it validated on. ``limit``
    scores a seeded random subset of N examples (for a quick look; published figures use the whole split),
    whose row numbers :func:`evaluate_all` reports under ``subset``. ``compile`` compiles the model's trunks
    (:func:`~vaekit.model.compile_trunks`; unset: on CUDA only).
    """
    return evaluate_all(
        run,
        data=data,
        split=split,
        k=k,
        seed=seed,
        limit=limit,
        data_dir=data_dir,
        device=device,
        max_draws=max_draws,
        compile=compile,
        extra=False,
    ).evaluation


def evaluate_all(
    run: Run | str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "test",
    k: int = 5000,
    seed: int | None = 0,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    max_draws: int | None = None,
    compile: bool | None = None,
    extra: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RunEvaluation:
    """:func:`evaluate_run` and, with ``extra``, the figures the run's modality adds (melodies: accuracy and
    sample statistics), all computed on ``device``. ``progress(done, total)`` is called as examples are scored."""
    if k < 1:
        raise VaekitError(f"--k must be at least 1, got {k}")
    if limit is not None and limit < 2:
        raise VaekitError(f"--limit must be at least 2, got {limit}")
    run = _open(run)
    vae = run.model(resolve_device(device))
    if should_compile(compile, vae.device):
        compile_trunks(vae)
    held_out = run.data(split, data=data, data_dir=data_dir, limit=limit)
    x = held_out.x
    binary_model = run.config.data.binarize != "dynamic" and run.config.model.likelihood == "bernoulli"
    if binary_model and bool(((x > 0) & (x < 1)).any()):
        log.warning(
            "the data has grey levels: under a Bernoulli likelihood the 'nll' is a cross-entropy, not the "
            "likelihood of binary data; binarize the data (or train with --binarize dynamic) to compare with papers"
        )
    log.info("evaluating %d examples with k = %d importance samples", len(x), k)
    evaluation = evaluate_model(vae, x, k=k, seed=seed, max_draws=max_draws, y=held_out.y, progress=progress)
    subset = {} if held_out.index is None else {"subset": {"seed": 0, "index": held_out.index.tolist()}}
    if not extra:
        return RunEvaluation(evaluation, subset)
    figures = run.modality.metrics(vae, x.to(vae.device), seed=0 if seed is None else seed)
    return RunEvaluation(evaluation, {**figures, **subset}, run.modality.metric_rows(figures) if figures else [])


def mig_run(
    run: Run | str | os.PathLike,
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
    run = _open(run)
    dataset = run.dataset(data, data_dir)
    factors = dataset.factors.get(split)
    if factors is None:
        raise VaekitError(
            f"data set {dataset.name!r} has no ground-truth factors for its {split!r} split",
            "MIG needs data generated from known factors, e.g. --data shapes",
        )
    vae = run.model(resolve_device(device))
    if vae.latent_dim < 2:
        raise VaekitError("MIG needs a model with at least 2 latent dimensions")
    held_out = run.data(split, data=data, data_dir=data_dir, limit=limit)
    factors = factors if held_out.index is None else factors[held_out.index]
    log.info("MIG over %d examples, %d factors", len(held_out), factors.shape[1])
    codes = encode(vae, held_out.x, y=held_out.y)
    return mutual_information_gap(codes, factors.numpy(), factor_names=dataset.factor_names, n_bins=n_bins)
