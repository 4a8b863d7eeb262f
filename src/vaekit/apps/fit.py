"""Training a VAE end to end: data checks, objective, trainer, run folder, final figures and pictures.

:func:`train` runs a :class:`~vaekit.config.RunConfig` on a named data set or file (what ``vaekit train``
does); :func:`fit` trains a VAE you built on your own arrays. Both go through :func:`run` and write the same
run folder; what depends on the kind of data (checks, pictures) is asked of the run's modality.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.apps.claim import claim_folder, interrupted, release_folder
from vaekit.apps.generation import model_input
from vaekit.apps.images import plot_losses
from vaekit.build import build_vae
from vaekit.config import DataConfig, RunConfig, merge, parse_run_config, settings_lines
from vaekit.data.dataset import Dataset, held_out_binarization
from vaekit.data.registry import load_dataset, preset
from vaekit.errors import DataError, Interrupted, VaekitError
from vaekit.modalities import Modality, modality_of, modality_of_run
from vaekit.model import VAE, LadderVAE, compile_trunks, should_compile
from vaekit.objectives import LinearWarmup, beta_tc, elbo, iwae
from vaekit.run import ARRAYS, Examples, Run, run_record
from vaekit.train import RunFolder, Trainer, distributed, resolve_device
from vaekit.train.schedules import LRSchedule
from vaekit.utils import keeps_global_rng

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


Objective = Callable[..., Any]


def objectives(config: RunConfig, n_train: int, steps_per_epoch: int, conditional: bool) -> tuple[Objective, Objective]:
    """``(train_loss(model, batch, step), eval_loss(model, batch))`` as ``config.objective`` names them.

    Training weighs the KL by β with a linear warm-up and free bits; evaluation always uses β and no free bits,
    so validation and test losses are the plain negative ELBO at β (the bound itself for β = 1).
    """
    oc = config.objective
    kl_weight = LinearWarmup(oc.beta, round(oc.kl_warmup * steps_per_epoch))

    def objective(model, batch, beta, free_bits):
        x, y = batch if conditional else (batch, None)
        if oc.name == "iwae":
            return iwae(model, x, n_samples=oc.k, y=y)
        if oc.name == "beta-tc":
            return beta_tc(model, x, dataset_size=n_train, alpha=oc.alpha, beta=oc.beta, gamma=oc.gamma, y=y)
        return elbo(model, x, beta=beta, free_bits=free_bits, y=y)

    def train_loss(model, batch, step):
        return objective(model, batch, kl_weight(step), oc.free_bits)

    def eval_loss(model, batch):
        return objective(model, batch, oc.beta, 0.0)

    return train_loss, eval_loss


def make_trainer(
    vae: VAE,
    config: RunConfig,
    n_train: int,
    *,
    device: torch.device,
    folder: RunFolder | None,
    callbacks: Sequence[Any] = (),
) -> Trainer:
    """The :class:`Trainer` for ``config``: objective, learning-rate schedule, precision, dynamic binarization,
    and the model's trunks compiled where ``train.compile`` (or, unset, the device) says so."""
    tc = config.train
    threads = tc.threads
    if should_compile(tc.compile, device):
        compile_trunks(vae)
        if device.type == "cpu" and threads is None:
            threads = torch.get_num_threads()  # compiled code is specialised to a thread count: no tuner
    conditional = vae.n_classes > 0
    steps_per_epoch = math.ceil(n_train / tc.batch_size)
    train_loss, eval_loss = objectives(config, n_train, steps_per_epoch, conditional)

    def binarize(batch):
        return (torch.bernoulli(batch[0]), batch[1]) if conditional else torch.bernoulli(batch)

    schedule = LRSchedule(
        tc.lr,
        tc.lr_schedule,
        warmup_steps=round(tc.lr_warmup * steps_per_epoch),
        total_steps=tc.epochs * steps_per_epoch,
        lr_min=tc.lr_min,
        patience=tc.lr_patience,
    )
    return Trainer(
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
        batch_transform=binarize if config.data.binarize == "dynamic" else None,
        run_folder=folder,
        callbacks=callbacks,
        lr_schedule=schedule,
        skip_grad_norm=tc.skip_grad_norm,
        time_limit=None if tc.time_limit is None else 60 * tc.time_limit,
        autocast=torch.bfloat16 if tc.precision == "bf16" else None,
        threads=threads,
    )


@keeps_global_rng
def run(
    vae: VAE,
    config: RunConfig,
    splits: dict[str, torch.Tensor],
    *,
    labels: dict[str, torch.Tensor] | None = None,
    modality: Modality | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    restart: bool = False,
    initialised: bool = False,
    callbacks: Sequence[Any] = (),
    verify: bool = True,
) -> TrainResult:
    """Train ``vae`` on ``splits`` (``train``, ``val``, optional ``test``) as ``config`` says; see :func:`train`.

    A conditional VAE (``vae.n_classes > 0``) also needs ``labels`` for every split; the trainer then batches
    ``(x, y)`` pairs. Unless ``initialised`` (or resuming), the model's data-dependent initialisation runs first.
    ``restart`` trains a new run in the folder ``out`` of a run that never completed an epoch. The folder is
    locked for the run; a resumed run checks its weight files against their recorded sha256 unless ``verify``
    is off. Ctrl-C raises :class:`~vaekit.errors.Interrupted`, saying how far training got. The
    global RNG is left as it was found.
    """
    folder = claim_folder(out, resume, restart, verify)
    try:
        modality = modality or modality_of_run(None, config.model, vae.x_shape)
        for name, x in splits.items():
            modality.check_input(vae, x, f"the {name} data")
        if vae.n_classes:
            labels = {k: check_labels(labels, k, len(splits[k]), vae.n_classes) for k in splits}
        device = distributed.setup(resolve_device(config.train.device))
        distributed.barrier()  # every rank has checked the folder before rank 0 creates it
        dynamic = config.data.binarize == "dynamic"
        held_out = {
            k: Examples(held_out_binarization(x, config.train.seed, k) if dynamic else x, (labels or {}).get(k), False)
            for k, x in splits.items()
            if k != "train"
        }
        if not (resume or initialised):
            vae.init_from_data(splits["train"])
        if folder is not None and not resume and distributed.rank() == 0:
            folder.path.mkdir(parents=True, exist_ok=True)
            folder.write_config(run_record(config, vae.x_shape, modality.name))
        trainer = make_trainer(vae, config, len(splits["train"]), device=device, folder=folder, callbacks=callbacks)

        def batches(name: str, x: torch.Tensor) -> Any:
            return (x, labels[name]) if vae.n_classes else x

        t0 = time.perf_counter()
        val = held_out.get("val")
        try:
            history = trainer.fit(
                batches("train", splits["train"]), None if val is None else batches("val", val.x), resume=resume
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
                test = trainer.evaluate(batches("test", held_out["test"].x), trainer.val_loss_fn)
                summary.update({f"test/{k}": v for k, v in test.items()})
                summary["test/neg_elbo"] = test["recon"] + test["kl"]
                summary["n_test"] = len(held_out["test"])
            vae.eval()
            if folder is not None and distributed.rank() == 0:
                folder.write_summary(summary)
                shown = held_out.get("test", held_out.get("val"))
                write_run_pictures(
                    Run.open(folder.path), vae, history, shown, seed=config.train.seed, report=config.train.report
                )
        except KeyboardInterrupt:
            raise interrupted(folder, trainer.epoch, config.train.epochs) from None
        return TrainResult(vae, history, summary, folder.path if folder else None)
    except Interrupted:
        raise
    except KeyboardInterrupt:  # before the first step: nothing new was trained
        raise interrupted(folder, None, config.train.epochs, resume) from None
    finally:
        release_folder(folder)


def write_run_pictures(
    run_: Run, vae: VAE, history: list[dict[str, Any]], shown: Examples | None, *, seed: int, report: bool
) -> None:
    """``samples.png``, ``reconstructions.png`` (the modality's), ``loss.png`` and, with ``report``,
    ``report.html`` in a finished run folder."""
    held = None if shown is None else shown.x
    labels = None if shown is None else shown.labels
    run_.modality.write_pictures(vae, run_.path, held, labels=labels, seed=seed)
    plot_losses(history, run_.path / "loss.png")
    if report:
        from vaekit.apps.report import write_report

        examples = None if shown is None else Examples(shown.x, shown.labels, vae.n_classes > 0)
        try:  # the run is complete and saved by now: a picture that fails must not lose it
            write_report(run_, run_.path / "report.html", model=vae, examples=examples)
        except Exception as err:  # noqa: BLE001
            log.warning("report.html not written (%s: %s); `vaekit report RUN` retries", type(err).__name__, err)


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
    verify: bool = True,
) -> TrainResult:
    """Train the VAE a :class:`RunConfig` describes on its data set, writing the run folder ``out``.

    A dict config is laid over the data set's preset and its modality's (see :data:`vaekit.data.registry.PRESETS`
    and :meth:`~vaekit.modalities.Modality.preset`), which are laid over the defaults; a :class:`RunConfig` is
    used as it is.

    With ``resume``, the config is read from ``out`` (a dict ``config`` may repeat stored values but change only
    ``train.epochs`` and ``train.device``) and training continues from the last checkpoint; on CPU with a fixed
    ``train.threads`` the final weights equal those of an uninterrupted run; its weight files are checked against
    their recorded sha256 unless ``verify`` is off. A run folder that never completed an epoch (killed,
    interrupted or diverged in its first epoch) is started again from the beginning, with any config changes
    given. The global RNG is left as it was found.
    """
    restart = False
    if resume:
        if out is None:
            raise VaekitError("--resume needs the run folder", "give --out RUN")
        if isinstance(config, RunConfig):
            raise VaekitError("a resumed run keeps its stored config", "pass a dict of changes, e.g. {'train': {...}}")
        stored = Run.open(out)
        if RunFolder(out).has_state():
            config, modality = _resumed_config(stored.config, config), stored.modality
            dataset = load_dataset(config.data.name, data_dir, **config.data.loader_options)
        else:  # it never completed an epoch: nothing to continue, and nothing to lose by starting over
            log.warning("%s has no completed epoch: starting it again from the beginning", out)
            config, dataset = _config_and_data(merge(stored.config.model_dump(), config or {}), data_dir)
            modality, resume, restart = modality_of(dataset), False, True
    else:
        config, dataset = _config_and_data(config, data_dir)
        modality = modality_of(dataset)
    if "train" not in dataset.splits:
        raise DataError(
            f"data set {dataset.name!r} has no train split (it is held out for testing)",
            "train on another data set, then evaluate on this one with --data",
        )
    splits, labels = _splits_for(dataset.splits, config.data, config.train.seed, dataset.labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)  # the initial weights are part of a repeatable run
        vae = build_vae(dataset.x_shape, config.model)
        if not resume:
            vae.init_from_data(splits["train"])
    return run(
        vae,
        config,
        splits,
        labels=labels,
        modality=modality,
        out=out,
        resume=resume,
        restart=restart,
        initialised=True,
        callbacks=callbacks,
        verify=verify,
    )


def _config_and_data(config: RunConfig | dict | None, data_dir: str | os.PathLike | None) -> tuple[RunConfig, Dataset]:
    """The validated config of a new run (presets under a dict's values; label count for ``condition = label``)
    and its data set."""
    if isinstance(config, RunConfig):
        return config, load_dataset(config.data.name, data_dir, **config.data.loader_options)
    raw = config or {}
    data = parse_run_config({"data": raw.get("data", {})}).data
    dataset = load_dataset(data.name, data_dir, **data.loader_options)
    presets = merge(modality_of(dataset).preset(), preset(data.name))
    config = parse_run_config(merge(presets, raw))
    if config.data.condition == "label":
        config = parse_run_config(merge(config.model_dump(), {"model": {"classes": _n_classes(dataset)}}))
    if presets:
        log.info("settings (* from the preset of %s; your values win):", data.name)
    else:
        log.info("settings:")
    for line in settings_lines(config, presets):
        log.info("  %s", line)
    return config, dataset


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


RESUMABLE = {"train": {"epochs", "device", "threads", "compile", "time_limit"}}


def _resumed_config(stored: RunConfig, given: dict | None) -> RunConfig:
    """The stored config with the only changes a resume allows (``train.epochs``, ``train.time_limit`` (it
    counts from the resume), ``train.device``, and how the same arithmetic runs: ``train.threads``,
    ``train.compile``).

    Repeating the original command with ``--resume`` repeats its values: a value equal to the stored one is
    not a change. Only values that differ are refused.
    """
    given = given or {}
    merged = parse_run_config(merge(stored.model_dump(), given))
    changed = [
        f"{sec}.{k}"
        for sec, values in given.items()
        for k in values
        if k not in RESUMABLE.get(sec, set()) and getattr(getattr(merged, sec), k) != getattr(getattr(stored, sec), k)
    ]
    if changed:
        raise VaekitError(
            f"cannot change {', '.join(changed)} when resuming",
            "only --epochs, --time-limit, --device, --threads and --compile may change",
        )
    return merged


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
    report: bool = True,
) -> TrainResult:
    """Train a VAE from :func:`vaekit.build_vae` on your own arrays (tables ``(N, D)`` or images).

    Without ``val``, a seeded ``val_fraction`` of ``x`` is held out for validation and early stopping.
    ``objective="iwae"`` trains on the importance-weighted bound with ``k`` draws per example.
    ``objective="beta-tc"`` trains the β-TC-VAE (``beta`` weighs the total correlation). A conditional VAE
    (``build_vae(..., classes=K)``) takes integer labels ``y`` (and ``val_y``, ``test_y`` with ``val``, ``test``).
    With ``out``, writes a run folder that :func:`vaekit.load` reads back (with ``report.html`` unless ``report``
    is off).
    """
    if vae.config is None and out is not None:
        raise VaekitError("only a VAE made by vaekit.build_vae can be saved to a run folder", "build it with build_vae")
    config = parse_run_config(
        {
            "data": {"name": ARRAYS, "binarize": binarize, "val_fraction": val_fraction},
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
                "report": report,
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
