"""Validated configuration records: names and numbers only, never classes.

Configs live at the edges (CLI, :mod:`vaekit.build`, run folders); components take plain arguments.
A :class:`RunConfig` is everything needed to rebuild a trained model and repeat its training.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vaekit.errors import VaekitError

FORMAT_VERSION = 1
DEFAULT_HIDDEN = {"mlp": (400,), "conv": (32, 64), "melody": (256, 256)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(_Strict):
    """Which data to train on and how to present it to the model."""

    name: str = Field("digits", description="registered data set name or a file/folder path")
    binarize: Literal["none", "dynamic"] = Field(
        "none", description="dynamic: a fresh Bernoulli draw of every pixel per batch"
    )
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="held out from train when no val split exists")
    bars: int | None = Field(None, ge=1, le=64, description="bars (16 steps each) per melody window; default 2")
    condition: Literal["none", "label"] = Field("none", description="label: a conditional VAE on the data's labels")

    @property
    def loader_options(self) -> dict[str, Any]:
        """What the data set's loader is given (``bars`` for melodies), where set."""
        return {} if self.bars is None else {"bars": self.bars}


class ModelConfig(_Strict):
    """Architecture of the encoder, decoder and prior."""

    arch: Literal["mlp", "conv", "melody"] = Field("mlp", description="encoder and decoder trunks")
    latent_dim: int = Field(16, ge=1, le=4096, description="latent dimensions")
    hidden: tuple[int, ...] = Field(
        (400,), description="MLP widths, or conv channels per stride-2 layer; default by arch"
    )
    activation: Literal["silu", "relu", "elu", "tanh", "gated"] = Field(
        "silu", description="nonlinearity of the trunks; gated: every layer (W1 h + b1) * sigmoid(W2 h + b2)"
    )
    likelihood: Literal["bernoulli", "gaussian", "mixed", "categorical"] = Field(
        "bernoulli", description="p(x|z) per data dimension"
    )
    sigma: float | None = Field(None, gt=0.0, description="fixed Gaussian scale; None learns it")
    prior: Literal["normal", "mog", "vamp"] = Field("normal", description="p(z): normal, mixture, VampPrior")
    components: int | None = Field(
        None, ge=1, le=100_000, description="mixture components of a mog or vamp prior; default 10 and 500"
    )
    pseudo_inputs: Literal["free", "hardtanh"] = Field(
        "free", description="vamp prior: hardtanh keeps the pseudo-inputs in [0, 1], the range of binary images"
    )
    ladder: tuple[int, ...] = Field(
        (), description="sizes of the stochastic layers below the top one (bottom first): a hierarchical VAE"
    )
    inference: Literal["ladder", "conditional"] = Field(
        "ladder",
        description="hierarchical q(z_l | x, z_l+1): ladder precision-weights a bottom-up Gaussian with the prior; "
        "conditional is a network of x's features and z_l+1 (the VampPrior paper's HVAE)",
    )
    classes: int = Field(0, ge=0, le=100_000, description="labels a conditional VAE sees; 0: unconditional")
    categories: tuple[int, ...] = Field(
        (), description="mixed likelihood: per column, 0 if numeric, else its number of levels (>= 2)"
    )
    missing: bool = Field(False, description="NaN entries are missing: the encoder sees 0, the likelihood skips them")
    decoder: Literal["flat", "hierarchical", "unconditional"] = Field(
        "flat", description="melody: one RNN over all steps, a conductor then one RNN per bar, or z ignored (an LM)"
    )
    cell: Literal["lstm", "gru"] = Field("lstm", description="melody: the recurrent cell of encoder and decoder")
    word_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="melody: share of the decoder's previous-token inputs hidden while training, so it leans on z",
    )
    decoder_layers: int = Field(
        1, ge=1, le=4, description="melody: stacked layers of the decoder's RNNs (the conductor's and each bar's)"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_hidden(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("hidden") is None:
            raw = {**raw, "hidden": DEFAULT_HIDDEN.get(raw.get("arch", "mlp"), (400,))}
        if isinstance(raw, dict) and isinstance(raw.get("hidden"), int):
            raw = {**raw, "hidden": (raw["hidden"],)}
        if isinstance(raw, dict) and raw.get("arch") == "melody" and raw.get("likelihood") is None:
            raw = {**raw, "likelihood": "categorical"}  # a melody is a sequence of tokens
        return raw

    @field_validator("ladder", mode="before")
    @classmethod
    def _ladder_tuple(cls, v: Any) -> Any:
        return (v,) if isinstance(v, int) else v

    @field_validator("ladder")
    @classmethod
    def _positive_layers(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 for d in v):
            raise ValueError("layer sizes must be positive, e.g. 64 or 64,32")
        return v

    @model_validator(mode="after")
    def _ladder_is_mlp(self) -> ModelConfig:
        if self.ladder and self.arch not in ("mlp", "conv"):
            raise ValueError("ladder: the hierarchical model is built from MLPs or convolutions; use arch mlp or conv")
        if self.ladder and self.arch == "conv" and len(self.hidden) < 2:
            raise ValueError("hidden: a conv hierarchy takes the conv channels then the dense width, e.g. 32,64,300")
        if self.inference != "ladder" and not self.ladder:
            raise ValueError("inference: applies to a hierarchical model; give its lower layers with ladder")
        if self.pseudo_inputs != "free" and self.prior != "vamp":
            raise ValueError("pseudo_inputs: only the vamp prior has pseudo-inputs")
        return self

    @model_validator(mode="after")
    def _condition_fits(self) -> ModelConfig:
        if self.classes == 1:
            raise ValueError("classes: a conditional VAE needs at least 2 labels")
        if self.classes and (self.ladder or self.prior == "vamp"):
            raise ValueError("classes: the conditional VAE is single-layer with a normal or mog prior")
        return self

    @model_validator(mode="after")
    def _mixed_needs_categories(self) -> ModelConfig:
        if (self.likelihood == "mixed") != bool(self.categories):
            raise ValueError("categories: a mixed likelihood needs the levels per column, and only it takes them")
        if any(k == 1 or k < 0 for k in self.categories):
            raise ValueError("categories: 0 for a numeric column, else 2 or more levels")
        if (self.likelihood == "mixed" or self.missing) and (self.arch != "mlp" or self.ladder or self.prior == "vamp"):
            raise ValueError("mixed and missing data need arch mlp, no ladder and a normal or mog prior")
        return self

    @model_validator(mode="after")
    def _tokens_are_categorical(self) -> ModelConfig:
        if (self.arch == "melody") != (self.likelihood == "categorical"):
            raise ValueError("likelihood: the melody model and the categorical likelihood go together")
        if self.word_dropout and self.arch != "melody":
            raise ValueError("word_dropout: applies to the melody model's autoregressive decoder")
        if self.decoder_layers != 1 and self.arch != "melody":
            raise ValueError("decoder_layers: applies to the melody model's recurrent decoder")
        if self.arch == "melody" and (self.ladder or self.prior == "vamp" or len(self.hidden) > 2):
            raise ValueError("arch: the melody model takes hidden as ENCODER,DECODER widths, no ladder or vamp prior")
        return self

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(h < 1 for h in v):
            raise ValueError("needs one or more positive widths, e.g. 400 or 512,256")
        return v


class ObjectiveConfig(_Strict):
    """The training objective: negative ELBO with β, KL warm-up and free bits; the IWAE bound with k draws; or
    the β-TC-VAE's decomposed ELBO (α on index-code MI, β on total correlation, γ on dimension-wise KL)."""

    name: Literal["elbo", "iwae", "beta-tc"] = Field("elbo", description="the training objective")
    k: int = Field(50, ge=1, le=100_000, description="importance samples per example for iwae")
    beta: float = Field(1.0, ge=0.0, description="weight of the KL term")
    kl_warmup: float = Field(0.0, ge=0.0, description="epochs of linear KL warm-up from 0 to beta")
    free_bits: float = Field(0.0, ge=0.0, description="nats per latent dimension below which KL is free")
    alpha: float = Field(1.0, ge=0.0, description="beta-tc: weight of the index-code mutual information")
    gamma: float = Field(1.0, ge=0.0, description="beta-tc: weight of the dimension-wise KL")

    @model_validator(mode="after")
    def _iwae_has_no_kl_weight(self) -> ObjectiveConfig:
        if self.name == "iwae" and (self.beta != 1.0 or self.kl_warmup > 0 or self.free_bits > 0):
            raise ValueError("the iwae bound has no KL term to weigh: beta, kl_warmup and free_bits apply to elbo")
        if self.name == "beta-tc" and (self.kl_warmup > 0 or self.free_bits > 0):
            raise ValueError("beta-tc weighs its three KL terms with alpha, beta, gamma: no kl_warmup or free_bits")
        if self.name != "beta-tc" and (self.alpha != 1.0 or self.gamma != 1.0):
            raise ValueError("alpha and gamma weigh the terms of the beta-tc objective: use --objective beta-tc")
        return self


class TrainConfig(_Strict):
    """Optimisation and bookkeeping."""

    epochs: int = Field(100, ge=1, description="maximum epochs")
    batch_size: int = Field(128, ge=1, description="examples per step")
    lr: float = Field(1e-3, gt=0.0, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    grad_clip: float | None = Field(100.0, gt=0.0, description="gradient-norm clip")
    patience: int | None = Field(10, ge=1, description="early stopping after this many epochs without improvement")
    seed: int = Field(0, description="seed of the initial weights, batches and noise")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="where to train")
    max_bad_steps: int = Field(20, ge=1, description="stop after this many consecutive skipped steps")
    lr_schedule: Literal["constant", "cosine", "plateau"] = Field("constant", description="learning-rate schedule")
    lr_warmup: float = Field(0.0, ge=0.0, description="epochs of linear learning-rate warm-up")
    lr_min: float = Field(0.0, ge=0.0, description="floor of the cosine and plateau schedules")
    lr_patience: int = Field(5, ge=1, description="plateau: halve the rate after this many epochs without gain")
    skip_grad_norm: float | None = Field(None, gt=0.0, description="skip updates whose gradient norm exceeds this")
    time_limit: float | None = Field(None, gt=0.0, description="stop after the epoch that passes this many minutes")
    report: bool = Field(True, description="write report.html into the run folder when training ends")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: matrix products under bfloat16 autocast; likelihoods stay in float32"
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads; unset: measured while training (the fastest of 1 up to all cores, measured "
        "again when the machine's load changes); set it for bit-identical reruns",
    )
    compile: bool | None = Field(
        None,
        description="torch.compile the model's trunks; unset: on for CUDA, off on CPU (measured slower there)",
    )


class RunConfig(_Strict):
    """Everything that defines a training run."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    train: TrainConfig = TrainConfig()


def validation_message(err: ValidationError) -> str:
    """One line naming each bad field, e.g. ``train.epochs: Input should be greater than or equal to 1``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg} (got {e['input']!r})" if "input" in e and loc else f"{loc}: {msg}")
    return "; ".join(parts)


def parse_run_config(raw: dict) -> RunConfig:
    """Validate a nested dict into a :class:`RunConfig`, raising :class:`VaekitError` on bad values."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise VaekitError(f"invalid configuration: {validation_message(err)}") from None


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into ``base`` (both nested dicts); returns a new dict."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def settings_lines(config: RunConfig, preset: dict | None = None) -> list[str]:
    """The resolved settings, one line per section (``train: epochs=300* batch_size=64* ...``); ``*`` marks a
    value that ``preset`` (a nested dict like the config's) set."""
    preset = preset or {}
    lines = []
    for section in ("data", "model", "objective", "train"):
        values = getattr(config, section).model_dump()
        marked = preset.get(section, {})
        shown = [f"{k}={_shown(v)}" + ("*" if k in marked and marked[k] == v else "") for k, v in values.items()]
        lines.append(f"{section}: " + " ".join(shown))
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)
