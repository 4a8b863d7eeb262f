"""``vaekit train``: its flags are derived from the config's fields, so every default lives in one place."""

from __future__ import annotations

import inspect
import os
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any

import typer

import vaekit
from vaekit.cli.common import DATA_HELP, NoVerify, ProgressBar, app, parse_ints, setup_logging
from vaekit.config import DataConfig, ModelConfig, ObjectiveConfig, TrainConfig, merge
from vaekit.data.registry import dataset_names, preset
from vaekit.errors import VaekitError
from vaekit.modalities import get_modality, modality_names

SECTIONS = {"data": DataConfig, "model": ModelConfig, "objective": ObjectiveConfig, "train": TrainConfig}

# flag -> (config section, field); the parameter name is the flag without dashes
FLAGS: dict[str, tuple[str, str]] = {
    "--data": ("data", "name"),
    "--binarize": ("data", "binarize"),
    "--val-fraction": ("data", "val_fraction"),
    "--bars": ("data", "bars"),
    "--condition": ("data", "condition"),
    "--model": ("model", "arch"),
    "--latent-dim": ("model", "latent_dim"),
    "--hidden": ("model", "hidden"),
    "--likelihood": ("model", "likelihood"),
    "--sigma": ("model", "sigma"),
    "--prior": ("model", "prior"),
    "--components": ("model", "components"),
    "--activation": ("model", "activation"),
    "--pseudo-inputs": ("model", "pseudo_inputs"),
    "--ladder": ("model", "ladder"),
    "--inference": ("model", "inference"),
    "--decoder": ("model", "decoder"),
    "--cell": ("model", "cell"),
    "--word-dropout": ("model", "word_dropout"),
    "--decoder-layers": ("model", "decoder_layers"),
    "--objective": ("objective", "name"),
    "--k": ("objective", "k"),
    "--beta": ("objective", "beta"),
    "--alpha": ("objective", "alpha"),
    "--gamma": ("objective", "gamma"),
    "--kl-warmup": ("objective", "kl_warmup"),
    "--free-bits": ("objective", "free_bits"),
    **{"--" + f.replace("_", "-"): ("train", f) for f in TrainConfig.model_fields if f != "max_bad_steps"},
}
FLAG_OF = {where: flag for flag, where in FLAGS.items()}
# fields set only in a TOML config (or by vaekit itself), with the reason
CONFIG_ONLY = {
    ("model", "classes"): "set from the data's labels by --condition label",
    ("model", "categories"): "set from a table's text columns",
    ("model", "missing"): "set by the imputer",
    ("train", "max_bad_steps"): "a TOML [train] max_bad_steps",
}


def _shown(default: Any) -> str:
    if default is None:
        return "none"
    if isinstance(default, tuple):
        return ",".join(str(v) for v in default) or "none"
    return str(default)


def _presets() -> dict[str, dict[str, Any]]:
    """Each preset that can apply, by what it applies to: a registered data set, or a kind of data."""
    found = {name: preset(name) for name in dataset_names() if preset(name)}
    found.update(
        {f"{name} data": get_modality(name).preset() for name in modality_names() if get_modality(name).preset()}
    )
    return found


PRESETS = _presets()


def _preset_values(section: str, field: str) -> str:
    """``; digits: 300; melodies data: 50`` for the presets that set ``section.field``."""
    return "".join(f"; {who}: {_shown(p[section][field])}" for who, p in PRESETS.items() if field in p.get(section, {}))


def _parameter(flag: str, section: str, field: str) -> inspect.Parameter:
    """The typer parameter of ``flag``: its help is the field's description, choices and default."""
    info = SECTIONS[section].model_fields[field]
    kind = info.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    choices = " | ".join(typing.get_args(kind)) + ": " if typing.get_origin(kind) is typing.Literal else ""
    default = info.get_default(call_default_factory=True)
    description = DATA_HELP if flag == "--data" else info.description or ""
    help = f"{choices}{description} [default: {_shown(default)}{_preset_values(section, field)}]"
    name = flag.lstrip("-").replace("-", "_")
    if kind is bool:
        option = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help)
        annotation: Any = bool | None
    else:
        option = typer.Option(None, flag, help=help)
        annotation = {int: int, float: float}.get(kind, str) | None
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def flags_to_config(values: dict[str, Any]) -> dict[str, Any]:
    """The nested config dict of the flags that were given (``None``: not given)."""
    raw: dict[str, dict[str, Any]] = {}
    for flag, (section, field) in FLAGS.items():
        value = values.get(flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        if field in ("hidden", "ladder"):
            value = parse_ints(value, flag)
        raw.setdefault(section, {})[field] = value
    return raw


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


def train(
    *,
    data_dir: Path | None,
    out: Path | None,
    resume: bool,
    quiet: bool,
    config: Path | None,
    no_verify: bool = False,
    **flags: Any,
) -> None:
    """Train a VAE and write a run folder (config, weights, metrics, pictures).

    Under ``torchrun --nproc-per-node N`` it trains data-parallel; only rank 0 prints and writes.
    """
    worker = int(os.environ.get("RANK", "0")) != 0  # a torchrun rank other than 0 stays silent
    quiet = quiet or worker
    callbacks = [ProgressBar()] if sys.stderr.isatty() and not quiet else []
    setup_logging(quiet, callbacks[0].console if callbacks else None)
    given = flags_to_config(flags)
    raw = merge(_read_toml(config), given) if config else given
    if resume and out is None:
        raise VaekitError("--resume needs the run folder", "give --out RUN")
    if out is None:
        stem = Path(raw.get("data", {}).get("name", DataConfig().name)).stem
        arch = raw.get("model", {}).get("arch", ModelConfig().arch)
        out = Path("runs") / f"{stem}-{arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = vaekit.train(raw, out=out, data_dir=data_dir, resume=resume, callbacks=callbacks, verify=not no_verify)
    finally:
        for bar in callbacks:  # an error or Ctrl-C must not leave the bar drawn over the message
            bar.progress.stop()
    if not worker:
        print_summary(result, quiet)


train.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [_parameter(flag, *where) for flag, where in FLAGS.items()]
    + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
        for name, annotation, option in (
            (
                "data_dir",
                Path | None,
                typer.Option(None, "--data-dir", help="data folder [default: $VAEKIT_DATA_DIR, else the user cache]"),
            ),
            ("out", Path | None, typer.Option(None, "--out", help="run folder [default: runs/<data>-<model>-<time>]")),
            ("resume", bool, typer.Option(False, "--resume", help="continue the run in --out from its checkpoint")),
            ("no_verify", NoVerify, False),
            ("quiet", bool, typer.Option(False, "--quiet", "-q", help="print only errors and the final figures")),
            (
                "config",
                Path | None,
                typer.Option(None, "--config", help="TOML file with [data] [model] [objective] [train] tables"),
            ),
        )
    ]
)
train.__doc__ = (train.__doc__ or "") + (
    "\n\nWhere the data has a preset, its values are laid under your flags and config file (each flag's help "
    "names them; the run prints its resolved settings, * marking a preset's values): "
    + "; ".join(
        f"{who}: " + ", ".join(f"{FLAG_OF[sec, k]} {_shown(v)}" for sec, values in p.items() for k, v in values.items())
        for who, p in PRESETS.items()
    )
    + ". With no --data, the digits data set is used."
)
app.command()(train)


def print_summary(result: Any, quiet: bool) -> None:
    """The final figures of a training run: one line with ``--quiet``, else a table."""
    s = result.summary
    if quiet:
        key = "test/loss" if "test/loss" in s else "val/loss"
        value = s.get(key, result.history[-1].get(key) if result.history else None)
        typer.echo(f"{result.run_dir}\t{key}={value:.4f}" if value is not None else str(result.run_dir))
        return
    from vaekit.cli.common import print_table

    last = result.history[-1] if result.history else {}
    rows = [("epochs run", s["epochs_run"]), ("best epoch", s["best_epoch"]), ("stopped", s["stop_reason"])]
    rows += [(k, f"{last[k]:.4f}") for k in ("train/loss", "val/loss", "val/recon", "val/kl") if k in last]
    rows += [(k, f"{s[k]:.4f}") for k in ("test/loss", "test/recon", "test/kl") if k in s]
    if last:
        rows.append(("seconds per epoch (last)", f"{last['epoch_seconds']:.2f}"))
    print_table(f"run folder {result.run_dir}", [(k, str(v)) for k, v in rows])
