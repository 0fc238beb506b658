"""What a training run depends on: `TrainConfig`, built and validated once by `make_config` at the boundary (CLI, form,
study, benchmark); everything downstream trusts it.

TrainConfig's defaults are the recurrent models' recipe; an architecture's `recipe` in the registry lists only what it
trains with differently (the fine-tuned transformer, a lower rate for xLSTM and RWKV)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import InvalidConfig
from .models import get_architecture, resolve_params
from .models.registry import coerce
from .settings import Settings, get_settings

OPTIMIZERS = ("adamw", "adam", "rmsprop")
SCHEDULERS = ("none", "multistep", "cosine", "plateau")
MONITORS = ("val_accuracy", "val_macro_f1")
PRECISIONS = ("auto", "fp32", "bf16")
PRETRAINED_VECTORS = ("input", "distilled")  # the encoder's input embeddings, or static vectors distilled from it
USE_ENV = "env"  # pretrained="env": take GOEMO_PRETRAINED (unset → none)
NONE_WORDS = (None, "", "none", "None")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Architecture hyperparameters live in `params` (the registry's defaults
    fill what is not given); the rest is the training recipe and the data options.

    The recipe regularises because the task overfits after one or two epochs: label smoothing, dropout, weight
    decay, a warm-up and a cosine decay over 10 epochs, frozen pretrained embeddings (fine-tuning the table
    overfits), a moving average of the weights (steadier across seeds than early stopping on a lucky epoch) and soft
    labels (every annotated emotion counts in the target; the test target stays the primary label)."""

    arch: str = "lstm"
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    scheduler: str = "cosine"
    milestones: list[int] = field(default_factory=lambda: [10, 50])  # multistep, in epochs
    gamma: float = 0.1
    warmup_epochs: float = 0.5
    grad_clip: float = 1.0
    label_smoothing: float = 0.1
    ema_decay: float = 0.999  # > 0: validate, keep and test an exponential moving average of the weights
    adversarial: float = 0.0  # > 0: also train on embeddings moved along the loss gradient by this × their norm
    soft_labels: float = 1.0  # weight of all of an example's Ekman groups in the target (0: primary label only)
    teachers: list[str] = field(default_factory=list)  # runs (or ensemble runs) whose probabilities are learnt
    distill_weight: float = 0.5  # with teachers: α, the teachers' share of the loss
    distill_temperature: float = 2.0  # with teachers: T, the softening of both distributions
    class_weights: bool = False
    class_weight_power: float = 1.0  # with class_weights: (N / (C · n_c)) ** power; 0.5 is a milder correction
    balanced_sampler: bool = False
    patience: int = 4
    monitor: str = "val_accuracy"
    seed: int = 211
    max_length: int = 30
    limit: int | None = None  # cap every split at its first N examples
    augment: str | None = None  # name of a cached augmented train split
    pretrained: str | None = USE_ENV  # encoder folder / hub id; None: learnt vocabulary, random embeddings
    pretrained_vectors: str = "input"  # input | distilled (see models.common.distilled_embeddings)
    freeze_embedding_epochs: int = -1  # pretrained embeddings frozen for the first N epochs; -1: always
    device: str = "auto"
    length_buckets: bool = False  # batches of texts of similar length: narrower padded batches
    batches_per_epoch: int | None = None  # per-trial budget for studies
    val_examples: int | None = None  # validate on the first N validation examples (studies); None: all
    eval_batch_size: int = 512
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    recipe: str = "default"  # "gpu" when the architecture's GPU recipe was applied (training on CUDA)

    def to_dict(self) -> dict:
        return asdict(self)


RECIPE_KEYS = {f.name for f in fields(TrainConfig)} - {"arch", "params"}

# Settings added after the first release, with the value that means "not used": what a run trained before the
# setting existed did. Every new recipe field gets an entry here.
ABSENT_MEANS: dict[str, Any] = {
    "ema_decay": 0.0,
    "adversarial": 0.0,
    "soft_labels": 0.0,
    "class_weight_power": 1.0,
    "pretrained_vectors": "input",
    "val_examples": None,
    "length_buckets": False,
    "recipe": "default",
    "teachers": [],
}

def make_config(arch: str, overrides: dict[str, Any] | None = None, **recipe: Any) -> TrainConfig:
    """A validated config: TrainConfig defaults ← the architecture's recipe (← its GPU recipe when it trains on a
    GPU) ← `recipe` ← `overrides`. Keys in `overrides` may be recipe fields or architecture hyperparameters (as
    `--set key=value` gives them)."""
    spec = get_architecture(arch)
    config = TrainConfig(arch=arch)
    model_overrides: dict[str, Any] = {}
    given = {**recipe, **(overrides or {})}
    base = dict(spec.recipe)
    if spec.gpu_recipe and trains_on_gpu(given.get("device", config.device)):
        base.update(spec.gpu_recipe, recipe="gpu")
    for key, value in {**base, **given}.items():
        if key == "params":
            model_overrides.update(value or {})
        elif key in RECIPE_KEYS:
            setattr(config, key, _coerce_recipe(key, value))
        elif key in spec.defaults:
            model_overrides[key] = value
        else:
            raise InvalidConfig(f"{key}: unknown setting for {arch} (recipe: {', '.join(sorted(RECIPE_KEYS))}; "
                                f"model: {', '.join(sorted(spec.defaults))}).")
    config.params = resolve_params(spec, model_overrides)
    validate(config)
    return config


def trains_on_gpu(device: Any) -> bool:
    """Whether a run asking for `device` will train on CUDA ('auto' follows GOEMO_DEVICE, then the hardware)."""
    import torch

    name = str(device or "auto").lower()
    if name == "auto":
        name = get_settings().device
    return name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())


def _coerce_recipe(key: str, value: Any) -> Any:
    default = getattr(TrainConfig(), key)
    if key in ("limit", "batches_per_epoch", "val_examples"):
        return None if value in NONE_WORDS else coerce(key, value, int)
    if key in ("augment", "pretrained"):
        return None if value in NONE_WORDS else str(value)
    if key == "teachers":
        if isinstance(value, str):
            value = [v for v in value.replace(";", ",").split(",")]
        return list(dict.fromkeys(str(v).strip() for v in value or () if str(v).strip()))
    if key == "milestones":
        if isinstance(value, str):
            value = [v for v in value.replace(";", ",").split(",") if v.strip()]
        return [coerce(key, v, int) for v in value]
    return coerce(key, value, type(default))


def validate(config: TrainConfig) -> None:
    """Refuse impossible values before any work starts; each message names the parameter."""
    spec = get_architecture(config.arch)
    checks = [
        ("epochs", config.epochs >= 1, "must be at least 1"),
        ("batch_size", config.batch_size >= 1, "must be at least 1"),
        ("lr", config.lr > 0 and math.isfinite(config.lr), "must be a positive number"),
        ("weight_decay", config.weight_decay >= 0, "must not be negative"),
        ("grad_clip", config.grad_clip >= 0, "must not be negative (0 turns clipping off)"),
        ("label_smoothing", 0 <= config.label_smoothing < 1, "must be in [0, 1)"),
        ("ema_decay", 0 <= config.ema_decay < 1, "must be in [0, 1) (0 turns the average off)"),
        ("class_weight_power", 0 <= config.class_weight_power <= 2, "must be between 0 and 2"),
        ("adversarial", 0 <= config.adversarial <= 1, "must be in [0, 1] (a fraction of the embeddings' norm)"),
        ("soft_labels", 0 <= config.soft_labels <= 1, "must be in [0, 1]"),
        ("distill_weight", 0 <= config.distill_weight <= 1, "must be in [0, 1] (the teachers' share of the loss)"),
        ("distill_temperature", 0 < config.distill_temperature <= 20, "must be in (0, 20]"),
        ("patience", config.patience >= 1, "must be at least 1"),
        ("max_length", 2 <= config.max_length <= 512, "must be between 2 and 512"),
        ("warmup_epochs", config.warmup_epochs >= 0, "must not be negative"),
        ("gamma", 0 < config.gamma <= 1, "must be in (0, 1]"),
        ("eval_batch_size", config.eval_batch_size >= 1, "must be at least 1"),
        ("limit", config.limit is None or config.limit >= 1, "must be at least 1"),
        ("batches_per_epoch", config.batches_per_epoch is None or config.batches_per_epoch >= 1, "must be ≥ 1"),
        ("val_examples", config.val_examples is None or config.val_examples >= 1, "must be at least 1"),
        ("freeze_embedding_epochs", config.freeze_embedding_epochs >= -1, "must be -1 (always) or ≥ 0"),
        ("optimizer", config.optimizer in OPTIMIZERS, f"must be one of {', '.join(OPTIMIZERS)}"),
        ("scheduler", config.scheduler in SCHEDULERS, f"must be one of {', '.join(SCHEDULERS)}"),
        ("monitor", config.monitor in MONITORS, f"must be one of {', '.join(MONITORS)}"),
        ("pretrained_vectors", config.pretrained_vectors in PRETRAINED_VECTORS,
         f"must be one of {', '.join(PRETRAINED_VECTORS)}"),
        ("precision", config.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}"),
    ]
    for name, ok, why in checks:
        if not ok:
            raise InvalidConfig(f"{name}: {getattr(config, name)!r} {why}.")
    if any(m < 1 for m in config.milestones):
        raise InvalidConfig(f"milestones: {config.milestones} must be epochs ≥ 1.")
    resolve_params(spec, config.params)
    if spec.needs_pretrained and not pretrained_source(config):
        raise InvalidConfig(f"pretrained: {config.arch} fine-tunes a pretrained encoder; set GOEMO_PRETRAINED "
                            "or pass --pretrained.")


def pretrained_source(config: TrainConfig, settings: Settings | None = None) -> str | None:
    """The encoder a config trains with: GOEMO_PRETRAINED for the default, else its own setting."""
    if config.pretrained == USE_ENV:
        return (settings or get_settings()).pretrained
    return config.pretrained
