"""Training a VAE end to end: data checks, objective, trainer, run folder, final figures and pictures.

:func:`train` runs a :class:`~vaekit.config.RunConfig` on a named data set or file (what ``vaekit train``
does); :func:`fit` trains a VAE you built on your own arrays. Both write the same run folder.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps.generation import (
    model_input,
    reconstruct,
    sample,
    sample_by_label,
    write_reconstruction_picture,
    write_samples_picture,
)
from vaekit.apps.images import plot_losses
from vaekit.apps.music import is_melody_model, write_melody_pictures
from vaekit.build import build_vae, read_run_record, run_record
from vaekit.config import DataConfig, RunConfig, merge, parse_run_config
from vaekit.data.melody import as_token_rows
from vaekit.data.registry import load_dataset, preset
from vaekit.errors import DataError, RunFolderError, VaekitError
from vaekit.model import VAE, LadderVAE
from vaekit.objectives import LinearWarmup, beta_tc, elbo, iwae
from vaekit.train import RunFolder, Trainer, distributed, resolve_device
from vaekit.train.schedules import LRSchedule

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What training leaves: the trained VAE (best weights), per-epoch history, final summary, run folder."""

    vae: VAE
    history: list[dict[str, Any]]
    summary: dict[str, Any]
    run_dir: Path | None = None


def split_validation(x: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random ``(train, val)`` split holding out ``fraction`` of the rows (at least one each)."""
    n = len(x)
    if n < 2:
        plural = "" if n == 1 else "s"
        raise DataError(f"need at least 2 examples to hold some out for validation, got {n} sample{plural}", "add data")
    n_val = min(n - 1, max(1, round(n * fraction)))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return x[perm[n_val:]], x[perm[:n_val]]


def check_data_fits(vae: VAE, x: torch.Tensor, what: str) -> None:
    """Shape must match the model; a Bernoulli likelihood needs values in [0, 1]."""
    if tuple(x.shape[1:]) != vae.x_shape:
        raise DataError(
            f"{what} has examples of shape {tuple(x.shape[1:])}, the model expects {vae.x_shape}",
            "use data of the shape the model was built for",
        )
    likelihood = (vae.config or {}).get("model", {}).get("likelihood")
    if likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"{what} has values in [{float(x.min()):.3g}, {float(x.max()):.3g}], a Bernoulli likelihood needs [0, 1]",
            "use --likelihood gaussian, or scale the data",
        )
    if likelihood == "categorical":
        as_token_rows(x.detach().cpu().numpy(), what)


_SPLIT_SEED_OFFSET = {"val": 2, "test": 3}


def held_out_binarization(x: torch.Tensor, seed: int, split: str) -> torch.Tensor:
    """One Bernoulli draw per pixel, seeded by the run's seed and the split's name.

    A run trained with dynamic binarization sees fixed draws of its held-out splits, so their losses compare
    across epochs, and ``vaekit evaluate`` scores exactly the same draws.
    """
    offset = _SPLIT_SEED_OFFSET.get(split, 4)
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed + offset))


def _prepare_folder(out: str | os.PathLike | None, resume: bool) -> RunFolder | None:
    if out is None:
        if resume:
            raise VaekitError("--resume needs the run folder", "give --out RUN")
        return None
    folder = RunFolder(out)
    if resume:
        if not folder.has_state():
            raise RunFolderError(
                f"nothing to resume in {folder.path} (no {RunFolder.STATE})", "start a new run instead"
            )
        return folder
    if folder.path.exists() and any(folder.path.iterdir()):
        raise VaekitError(f"run folder {folder.path} already exists", "use --resume to continue it, or another --out")
    return folder


def run(
    vae: VAE,
    config: RunConfig,
    splits: dict[str, torch.Tensor],
    *,
    labels: dict[str, torch.Tensor] | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train ``vae`` on ``splits`` (``train``, ``val``, optional ``test``) as ``config`` says; see :func:`train`.

    A conditional VAE (``vae.n_classes > 0``) also needs ``labels`` for every split; the trainer then batches
    ``(x, y)`` pairs.
    """
    folder = _prepare_folder(out, resume)
    for name, x in splits.items():
        check_data_fits(vae, x, f"the {name} data")
    n_classes = getattr(vae, "n_classes", 0)
    if n_classes:
        labels = {k: check_labels(labels, k, len(splits[k]), n_classes) for k in splits}
    tc, oc = config.train, config.objective
    device = distributed.setup(resolve_device(tc.device))
    main_rank = distributed.rank() == 0
    distributed.barrier()  # every rank has checked the folder before rank 0 creates it
    dynamic = config.data.binarize == "dynamic"
    held_out = {k: (held_out_binarization(v, tc.seed, k) if dynamic else v) for k, v in splits.items() if k != "train"}
    steps_per_epoch = math.ceil(len(splits["train"]) / tc.batch_size)
    kl_weight = LinearWarmup(oc.beta, round(oc.kl_warmup * steps_per_epoch))
    n_train = len(splits["train"])

    def objective(model, batch, beta, free_bits):
        x, y = batch if n_classes else (batch, None)
        if oc.name == "iwae":
            return iwae(model, x, n_samples=oc.k, y=y)
        if oc.name == "beta-tc":
            return beta_tc(model, x, dataset_size=n_train, alpha=oc.alpha, beta=oc.beta, gamma=oc.gamma, y=y)
        return elbo(model, x, beta=beta, free_bits=free_bits, y=y)

    def train_loss(model, batch, step):
        return objective(model, batch, kl_weight(step), oc.free_bits)

    def eval_loss(model, batch):
        return objective(model, batch, oc.beta, 0.0)

    def binarize(batch):
        return (torch.bernoulli(batch[0]), batch[1]) if n_classes else torch.bernoulli(batch)

    def with_labels(name, x):
        return (x, labels[name]) if n_classes else x

    schedule = LRSchedule(
        tc.lr,
        tc.lr_schedule,
        warmup_steps=round(tc.lr_warmup * steps_per_epoch),
        total_steps=tc.epochs * steps_per_epoch,
        lr_min=tc.lr_min,
        patience=tc.lr_patience,
    )

    if not resume:
        vae.init_from_data(splits["train"])
    if folder is not None and not resume and main_rank:
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.write_config(run_record(config, vae.x_shape))
    trainer = Trainer(
        vae,
        train_loss,
        val_loss_fn=eval_loss,
        epochs=tc.epochs,
        batch_size=tc.batch_size,
        lr=tc.lr,
        weight_decay=tc.weight_decay,
        grad_clip=tc.grad_clip,
        patience=tc.patience,
        max_bad_steps=tc.max_bad_steps,
        seed=tc.seed,
        device=device,
        batch_transform=binarize if dynamic else None,
        run_folder=folder,
        callbacks=callbacks,
        lr_schedule=schedule,
        skip_grad_norm=tc.skip_grad_norm,
        time_limit=None if tc.time_limit is None else 60 * tc.time_limit,
        autocast=torch.bfloat16 if tc.precision == "bf16" else None,
    )
    t0 = time.perf_counter()
    val = held_out.get("val")
    history = trainer.fit(
        with_labels("train", splits["train"]), None if val is None else with_labels("val", val), resume=resume
    )
    summary: dict[str, Any] = {
        "epochs_run": trainer.epoch,
        "best_epoch": trainer.best_epoch,
        "stop_reason": trainer.stop_reason,
        "skipped_steps": trainer.skipped_steps,
        "train_seconds_this_session": time.perf_counter() - t0,
        "device": str(device),
        "processes": distributed.world_size(),
    }
    if "test" in held_out:
        test = trainer.evaluate(with_labels("test", held_out["test"]), eval_loss)
        summary.update({f"test/{k}": v for k, v in test.items()})
        summary["test/neg_elbo"] = test["recon"] + test["kl"]
        summary["n_test"] = len(held_out["test"])
    if folder is not None and main_rank:
        folder.write_summary(summary)
        shown = "test" if "test" in held_out else "val"
        y_shown = labels.get(shown) if labels else None
        write_pictures(vae, folder, history, held_out.get(shown), seed=tc.seed, labels=y_shown)
        if tc.report:
            from vaekit.apps.report import write_report

            try:  # the run is complete and saved by now: a picture that fails must not lose it
                write_report(folder.path, folder / "report.html", vae=vae, x=held_out.get(shown), labels=y_shown)
            except Exception as err:  # noqa: BLE001
                log.warning("report.html not written (%s: %s); `vaekit report RUN` retries", type(err).__name__, err)
    return TrainResult(vae.eval(), history, summary, folder.path if folder else None)


def write_pictures(
    vae: VAE,
    folder: RunFolder,
    history: list[dict[str, Any]],
    held_out: torch.Tensor | None,
    *,
    seed: int,
    labels: torch.Tensor | None = None,
) -> None:
    """Write ``samples.png`` (prior draws; a row per class for a conditional VAE), ``reconstructions.png``
    (held-out inputs above outputs) and ``loss.png``."""
    vae.eval()
    if is_melody_model(vae):
        write_melody_pictures(vae, folder, held_out, seed=seed)
        plot_losses(history, folder / "loss.png")
        return
    n_classes = getattr(vae, "n_classes", 0)
    if n_classes and len(vae.x_shape) == 3:
        write_samples_picture(sample_by_label(vae, 10, seed=seed), folder / "samples.png")
    else:
        n = 64 if len(vae.x_shape) == 3 else 500
        y = torch.arange(n) % n_classes if n_classes else None
        write_samples_picture(sample(vae, n, seed=seed, y=y), folder / "samples.png", reference=held_out)
    if held_out is not None:
        # evenly spaced, not the first rows: some test sets are sorted by class (binarized MNIST starts with 0s)
        n_show = min(len(held_out), 32 if len(vae.x_shape) == 3 else 500)
        rows = torch.linspace(0, len(held_out) - 1, n_show).long()
        inputs, y = held_out[rows], (labels[rows] if n_classes else None)
        write_reconstruction_picture(inputs, reconstruct(vae, inputs, y=y), folder / "reconstructions.png")
    plot_losses(history, folder / "loss.png")


def check_labels(labels: dict[str, torch.Tensor] | None, split: str, n: int, n_classes: int) -> torch.Tensor:
    """The ``split``'s labels for a conditional VAE: one integer in ``[0, n_classes)`` per example."""
    y = (labels or {}).get(split)
    if y is None:
        raise DataError(f"the conditional VAE needs labels for the {split} data", "use labelled data")
    y = torch.as_tensor(y)
    if y.shape != (n,):
        raise DataError(f"the {split} data has {n} examples but labels of shape {tuple(y.shape)}", "one label each")
    if y.dtype.is_floating_point and not torch.equal(y, y.round()):
        raise DataError(f"the {split} labels are not whole numbers", "use class indices 0, 1, 2, ...")
    y = y.long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise DataError(
            f"the {split} labels lie in [{int(y.min())}, {int(y.max())}], the model takes 0..{n_classes - 1}",
            "use class indices 0, 1, 2, ...",
        )
    return y


def _splits_for(
    dataset_splits: dict[str, torch.Tensor], data: DataConfig, seed: int, labels: dict[str, torch.Tensor] | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Splits with a validation split carved out of train where there is none; labels follow the same rows."""
    splits, labels = dict(dataset_splits), dict(labels or {})
    if "val" not in splits:
        splits["train"], splits["val"] = split_validation(splits["train"], data.val_fraction, seed)
        if labels.get("train") is not None:  # the same seeded permutation, so labels stay with their rows
            labels["train"], labels["val"] = split_validation(labels["train"], data.val_fraction, seed)
    return splits, labels


def train(
    config: RunConfig | dict | None = None,
    *,
    out: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train the VAE a :class:`RunConfig` describes on its data set, writing the run folder ``out``.

    A dict config is laid over the data set's preset (see :data:`vaekit.data.registry.PRESETS`), which is
    laid over the defaults; a :class:`RunConfig` is used as it is.

    With ``resume``, the config is read from ``out`` (a dict ``config`` may change only ``train.epochs`` and
    ``train.device``) and training continues from the last checkpoint; on CPU the final weights
    equal those of an uninterrupted run.
    """
    if resume:
        if out is None:
            raise VaekitError("--resume needs the run folder", "give --out RUN")
        if isinstance(config, RunConfig):
            raise VaekitError("a resumed run keeps its stored config", "pass a dict of changes, e.g. {'train': {...}}")
        stored, _ = read_run_record(out)
        config = _resumed_config(stored, config)
    elif not isinstance(config, RunConfig):
        raw = config or {}
        name = raw.get("data", {}).get("name", DataConfig().name)
        config = parse_run_config(merge(preset(name), raw))
    dataset = load_dataset(config.data.name, data_dir, bars=config.data.bars)
    splits, labels = _splits_for(dataset.splits, config.data, config.train.seed, dataset.labels)
    if config.data.condition == "label" and not resume:
        config = parse_run_config(merge(config.model_dump(), {"model": {"classes": _n_classes(dataset)}}))
    torch.manual_seed(config.train.seed)  # the initial weights are part of a repeatable run
    vae = build_vae(dataset.x_shape, config.model)
    return run(vae, config, splits, labels=labels, out=out, resume=resume, callbacks=callbacks)


def _n_classes(dataset: Any) -> int:
    """How many labels a conditional VAE on ``dataset`` takes: the largest training label plus one."""
    y = dataset.labels.get("train")
    if y is None:
        raise DataError(
            f"--condition label needs labelled data, and {dataset.name} has no labels",
            "use digits, mnist, fashion-mnist, shapes, an .npz with y, or an image folder with class sub-folders",
        )
    if len(y) == 0 or int(y.min()) < 0:
        raise DataError(f"the labels of {dataset.name} must be class indices 0, 1, 2, ...", "relabel the data")
    return max(int(y.max()) + 1, 2)


RESUMABLE = {"train": {"epochs", "device"}}


def _resumed_config(stored: RunConfig, given: dict | None) -> RunConfig:
    """The stored config with the only changes a resume allows (``train.epochs``, ``train.device``)."""
    given = given or {}
    changed = [f"{sec}.{k}" for sec, vals in given.items() for k in vals if k not in RESUMABLE.get(sec, set())]
    if changed:
        raise VaekitError(f"cannot change {', '.join(changed)} when resuming", "only --epochs and --device may change")
    return parse_run_config(merge(stored.model_dump(), given))


def fit(
    vae: VAE | LadderVAE,
    x: np.ndarray | torch.Tensor,
    *,
    val: np.ndarray | torch.Tensor | None = None,
    test: np.ndarray | torch.Tensor | None = None,
    y: np.ndarray | torch.Tensor | None = None,
    val_y: np.ndarray | torch.Tensor | None = None,
    test_y: np.ndarray | torch.Tensor | None = None,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    objective: str = "elbo",
    k: int = 50,
    beta: float = 1.0,
    alpha: float = 1.0,
    gamma: float = 1.0,
    kl_warmup: float = 0.0,
    free_bits: float = 0.0,
    binarize: str = "none",
    patience: int | None = 10,
    val_fraction: float = 0.1,
    seed: int = 0,
    device: str = "auto",
    out: str | os.PathLike | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a VAE from :func:`vaekit.build_vae` on your own arrays (tables ``(N, D)`` or images).

    Without ``val``, a seeded ``val_fraction`` of ``x`` is held out for validation and early stopping.
    ``objective="iwae"`` trains on the importance-weighted bound with ``k`` draws per example.
    ``objective="beta-tc"`` trains the β-TC-VAE (``beta`` weighs the total correlation). A conditional VAE
    (``build_vae(..., classes=K)``) takes integer labels ``y`` (and ``val_y``, ``test_y`` with ``val``, ``test``).
    With ``out``, writes a run folder that :func:`vaekit.load` reads back.
    """
    if vae.config is None and out is not None:
        raise VaekitError("only a VAE made by vaekit.build_vae can be saved to a run folder", "build it with build_vae")
    config = parse_run_config(
        {
            "data": {"name": "<arrays>", "binarize": binarize, "val_fraction": val_fraction},
            "model": (vae.config or {}).get("model", {}),
            "objective": {
                "name": objective,
                "k": k,
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
                "patience": patience,
                "seed": seed,
                "device": device,
            },
        }
    )
    splits = {"train": model_input(vae, x, "x")}
    if val is not None:
        splits["val"] = model_input(vae, val, "val")
    if test is not None:
        splits["test"] = model_input(vae, test, "test")
    given = {"train": y, "val": val_y, "test": test_y}
    labels = {k: torch.as_tensor(np.asarray(v)) for k, v in given.items() if v is not None}
    splits, labels = _splits_for(splits, config.data, seed, labels)
    return run(vae, config, splits, labels=labels, out=out, callbacks=callbacks)
