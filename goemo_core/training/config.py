"""What a training run depends on: `TrainConfig`, built and validated once by `make_config` at the boundary (CLI, form,
study, benchmark); everything downstream trusts it.

TrainConfig's defaults are the recurrent models' recipe; an architecture's `recipe` in the registry lists only what it
trains with differently (the fine-tuned transformer, a lower rate for xLSTM and RWKV)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..data.tasks import DEFAULT_TASK, DEFAULT_THRESHOLD, TASK_NAMES, get_task
from ..errors import InvalidConfig
from ..models import get_architecture, resolve_params
from ..models.registry import coerce
from ..runs.schemas import MAX_EPOCHS as SCHEMA_MAX_EPOCHS
from ..serving import inference
from ..settings import Settings, effective_device, get_settings

OPTIMIZERS = ("adamw", "adam", "rmsprop")
SCHEDULERS = ("none", "multistep", "cosine", "plateau")
MONITORS = ("val_accuracy", "val_macro_f1")
PRECISIONS = ("auto", "fp32", "bf16")
PRETRAINED_VECTORS = ("input", "distilled")  # the encoder's input embeddings, or static vectors distilled from it
RECIPES = ("default", "gpu", "cpu-bf16")
USE_ENV = "env"  # pretrained="env": take GOEMO_PRETRAINED (unset → none)
NONE_WORDS = (None, "", "none", "None")
MAX_SEED = 2**32 - 1  # numpy's and CUDA's generators take 32-bit seeds
MAX_EPOCHS = SCHEMA_MAX_EPOCHS  # one bound: a history longer than this is read as damage
MAX_EXAMPLES = 10_000_000  # far above any split: a cap, not a guess
MAX_TRANSFER_VARIANTS = 16  # EDA has few distinct variants of a short comment; the cap also bounds the build's time


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, resolved: the device is a real one (auto and GOEMO_DEVICE settled) and
    the architecture's recipe for that device is applied. Built by `make_config` at the boundary (CLI, form, study
    trial, benchmark) and trusted downstream; every construction is checked against FIELDS. Architecture
    hyperparameters live in `params` (the registry's defaults fill what is not given); the rest is the training
    recipe and the data options.

    The recipe regularises because the task overfits after one or two epochs: label smoothing, dropout, weight
    decay, a warm-up and a cosine decay over 10 epochs, frozen pretrained embeddings (fine-tuning the table
    overfits), a moving average of the weights (steadier across seeds than early stopping on a lucky epoch) and soft
    labels (every annotated emotion counts in the target; the test target stays the primary label)."""

    arch: str = "lstm"
    params: dict[str, Any] = field(default_factory=dict)
    task: str = DEFAULT_TASK  # see goemo_core.data.tasks: the labels and how targets are built
    threshold: float = DEFAULT_THRESHOLD  # multi-label tasks: a label is predicted at this probability or above
    tune_thresholds: bool = False  # multi-label tasks: per-label thresholds chosen on the validation split
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    scheduler: str = "cosine"
    milestones: tuple[int, ...] = (10, 50)  # multistep, in epochs
    gamma: float = 0.1  # multistep's and plateau's cut
    warmup_epochs: float = 0.5
    grad_clip: float = 1.0
    label_smoothing: float = 0.1
    ema_decay: float = 0.999  # > 0: validate, keep and test an exponential moving average of the weights
    adversarial: float = 0.0  # > 0: also train on embeddings moved along the loss gradient by this × their norm
    soft_labels: float = 1.0  # weight of all of an example's Ekman groups in the target (0: primary label only)
    teachers: tuple[str, ...] = ()  # runs (or ensemble runs) whose probabilities are learnt
    distill_weight: float = 0.5  # with teachers: α, the teachers' share of the loss
    distill_temperature: float = 2.0  # with teachers: T, the softening of both distributions
    transfer_augment: int = 0  # with teachers: EDA variants per train sentence, learnt from the teachers alone
    transfer_seed: int | None = 211  # seeds the transfer variants: data shared by a student's seeds (None: its seed)
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
    device: str = "auto"  # make_config resolves it: cpu, cuda or cuda:N
    length_buckets: bool = False  # batches of texts of similar length: narrower padded batches
    batches_per_epoch: int | None = None  # per-trial budget for studies
    val_examples: int | None = None  # validate on the first N validation examples (studies); None: all
    eval_batch_size: int = 512
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU (a recipe may choose bf16 there)
    deterministic: bool = False  # deterministic kernels (cuDNN, torch.use_deterministic_algorithms)
    # derived, not a setting: "gpu" or "cpu-bf16" when the architecture's recipe for that hardware was applied
    recipe: str = "default"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in FIELDS:
                object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name)))
        object.__setattr__(self, "params", dict(self.params or {}))
        validate(self)

    def to_dict(self) -> dict:
        document = asdict(self)
        document["milestones"], document["teachers"] = list(self.milestones), list(self.teachers)
        return document


@dataclass(frozen=True)
class Field:
    """What a recipe field accepts: a kind (int, float, bool, str, a tuple of ints or of strings), an inclusive
    range for numbers, the allowed words for text, whether None ('none', '') is allowed, and why it is bounded."""

    kind: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    optional: bool = False
    why: str = ""
    low_open: bool = False  # the low end itself is not allowed (lr > 0)
    high_open: bool = False  # the high end itself is not allowed (a threshold < 1)


FIELDS: dict[str, Field] = {
    "task": Field(str, choices=TASK_NAMES),
    "threshold": Field(float, 0, 1, low_open=True, high_open=True,
                       why="a probability strictly between 0 and 1: at 1 no label is ever predicted"),
    "tune_thresholds": Field(bool),
    "epochs": Field(int, 1, MAX_EPOCHS),
    "batch_size": Field(int, 1, 65536),
    "lr": Field(float, 0, None, low_open=True),
    "optimizer": Field(str, choices=OPTIMIZERS),
    "weight_decay": Field(float, 0, 10),
    "scheduler": Field(str, choices=SCHEDULERS),
    "milestones": Field((int,), 1, MAX_EPOCHS, why="epochs"),
    "gamma": Field(float, 0, 1, low_open=True),
    "warmup_epochs": Field(float, 0, MAX_EPOCHS),
    "grad_clip": Field(float, 0, 1e6, why="0 turns clipping off"),
    "label_smoothing": Field(float, 0, 0.999),
    "ema_decay": Field(float, 0, 0.999999, why="0 turns the average off"),
    "adversarial": Field(float, 0, 1, why="a fraction of the embeddings' norm"),
    "soft_labels": Field(float, 0, 1),
    "teachers": Field((str,)),
    "distill_weight": Field(float, 0, 1, why="the teachers' share of the loss"),
    "distill_temperature": Field(float, 0, 20, low_open=True),
    "transfer_augment": Field(int, 0, MAX_TRANSFER_VARIANTS, why="EDA variants per train sentence; 0 turns it off"),
    "transfer_seed": Field(int, 0, MAX_SEED, optional=True, why="a 32-bit seed; none: the run's own seed"),
    "class_weights": Field(bool),
    "class_weight_power": Field(float, 0, 2),
    "balanced_sampler": Field(bool),
    "patience": Field(int, 1, MAX_EPOCHS),
    "monitor": Field(str, choices=MONITORS),
    "seed": Field(int, 0, MAX_SEED, why="a 32-bit seed"),
    "max_length": Field(int, 2, 512),
    "limit": Field(int, 1, MAX_EXAMPLES, optional=True, why="examples per split; leave it out for all"),
    "augment": Field(str, optional=True),
    "pretrained": Field(str, optional=True),
    "pretrained_vectors": Field(str, choices=PRETRAINED_VECTORS),
    "freeze_embedding_epochs": Field(int, -1, MAX_EPOCHS, why="-1: always frozen"),
    "device": Field(str),
    "length_buckets": Field(bool),
    "batches_per_epoch": Field(int, 1, MAX_EXAMPLES, optional=True),
    "val_examples": Field(int, 1, MAX_EXAMPLES, optional=True),
    "eval_batch_size": Field(int, 1, 65536),
    "precision": Field(str, choices=PRECISIONS),
    "deterministic": Field(bool),
    "recipe": Field(str, choices=RECIPES),
}
RECIPE_KEYS = {f.name for f in fields(TrainConfig)} - {"arch", "params"}
DERIVED_KEYS = {"recipe"}  # set by make_config from the device, never by the user

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
    "deterministic": False,
    "transfer_augment": 0,
    "transfer_seed": None,  # before it existed, each run drew its variants with its own seed
    "task": DEFAULT_TASK,
    "threshold": DEFAULT_THRESHOLD,
    "tune_thresholds": False,
}
# What a multi-label task trains with unless told otherwise: its targets already hold every annotated label (soft
# labels have nothing to add), and exact-match accuracy is a poor signal for choosing an epoch.
MULTI_LABEL_RECIPE: dict[str, Any] = {"soft_labels": 0.0, "monitor": "val_macro_f1"}


def make_config(arch: str, overrides: dict[str, Any] | None = None, **recipe: Any) -> TrainConfig:
    """The one way in: a validated, resolved config. TrainConfig defaults ← the architecture's recipe (← its GPU
    recipe when it trains on a GPU, its bf16 CPU recipe on a CPU with native bf16) ← `recipe` ← `overrides`; a value
    given here always wins, even when it equals a default. Keys may be recipe fields or architecture hyperparameters
    (as `--set key=value` gives them)."""
    spec = get_architecture(arch)
    given = {**recipe, **(overrides or {})}
    for key in DERIVED_KEYS & set(given):
        raise InvalidConfig(f"{key}: set by the device the run trains on, not a setting.")
    device = effective_device(given.get("device"))
    base: dict[str, Any] = {**spec.recipe}
    if get_task(given.get("task")).multi_label:
        base.update(MULTI_LABEL_RECIPE)
    if spec.gpu_recipe and device.startswith("cuda"):
        base.update(spec.gpu_recipe, recipe="gpu")
    elif spec.bf16_cpu_recipe and device == "cpu" and inference.cpu_has_bf16():
        base.update(spec.bf16_cpu_recipe, recipe="cpu-bf16")
    values: dict[str, Any] = {}
    model_overrides: dict[str, Any] = {}
    for key, value in {**base, **given, "device": device}.items():
        if key == "params":
            if not isinstance(value, dict):
                raise InvalidConfig("params: give each model hyperparameter as its own key=value (e.g. "
                                    "hidden_size=128), not 'params'.")
            model_overrides.update(value)
        elif key in RECIPE_KEYS:
            values[key] = value
        elif key in spec.defaults:
            model_overrides[key] = value
        else:
            raise InvalidConfig(f"{key}: unknown setting for {arch} (recipe: "
                                f"{', '.join(sorted(RECIPE_KEYS - DERIVED_KEYS))}; model: "
                                f"{', '.join(sorted(spec.defaults))}).")
    return TrainConfig(arch=arch, params=resolve_params(spec, model_overrides), **values)


def trains_on_gpu(device: Any) -> bool:
    """Whether a run asking for `device` trains on CUDA ('auto' follows GOEMO_DEVICE, then the hardware)."""
    return effective_device(device).startswith("cuda")


def check_value(key: str, value: Any) -> Any:
    """`value` (possibly text from --set or a widget) as FIELDS[key] wants it, or an InvalidConfig naming the key:
    fractional integers, non-finite numbers, unknown words and out-of-range values are refused, never rounded."""
    rule = FIELDS[key]
    if rule.optional and value in NONE_WORDS:
        return None
    if isinstance(rule.kind, tuple):
        items = value.replace(";", ",").split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise InvalidConfig(f"{key}: '{value}' is not a list.")
        if rule.kind[0] is str:
            return tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))
        return tuple(_bounded(key, coerce(key, v, int), rule) for v in items if str(v).strip())
    typed = coerce(key, value, rule.kind)
    if rule.choices is not None and typed not in rule.choices:
        raise InvalidConfig(f"{key}: '{typed}' is not one of {', '.join(rule.choices)}.")
    return _bounded(key, typed, rule) if rule.kind in (int, float) else typed


def _bounded(key: str, value: Any, rule: Field) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidConfig(f"{key}: {value} is not a finite number.")
    too_low = rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low)
    too_high = rule.high is not None and (value >= rule.high if rule.high_open else value > rule.high)
    if too_low or too_high:
        shown = str if rule.kind is int else (lambda bound: f"{bound:g}")
        low = "" if rule.low is None else (f"> {shown(rule.low)}" if rule.low_open else f"≥ {shown(rule.low)}")
        high = "" if rule.high is None else (f"< {shown(rule.high)}" if rule.high_open else f"≤ {shown(rule.high)}")
        why = f" ({rule.why})" if rule.why else ""
        raise InvalidConfig(f"{key}: {value} must be {' and '.join(p for p in (low, high) if p)}{why}.")
    return value


def validate(config: TrainConfig) -> None:
    """What no single field can say: settings that depend on each other or on the architecture."""
    spec = get_architecture(config.arch)
    if config.scheduler == "multistep" and not config.milestones:
        raise InvalidConfig("milestones: the multistep schedule needs at least one epoch to cut the rate at.")
    resolve_params(spec, config.params)
    if config.transfer_augment and not config.teachers:
        raise InvalidConfig("transfer_augment: the variants are labelled by a teacher only; give --teacher RUN too.")
    if config.transfer_augment and config.distill_weight <= 0:
        raise InvalidConfig("transfer_augment: the variants learn from the teachers alone; distill_weight 0 would "
                            "teach them nothing.")
    validate_task(config)
    if spec.needs_pretrained and not pretrained_source(config):
        raise InvalidConfig(f"pretrained: {config.arch} fine-tunes a pretrained encoder; set GOEMO_PRETRAINED "
                            "or pass --pretrained.")


def validate_task(config: TrainConfig) -> None:
    """Refuses a config its task rules out, naming every setting at once (see task_refusals)."""
    refusals = task_refusals(config)
    if refusals:
        raise InvalidConfig(" ".join(refusals))


def task_refusals(config: TrainConfig) -> list[str]:
    """Every setting the task rules out, one message each: the multi-label tasks train on every annotated label with
    a sigmoid per label, so the single-label tools (soft labels, class-balanced draws) do not apply; the augmented
    splits carry Ekman primary labels and distillation learns a softmax over the Ekman classes, so both serve the
    `ekman` task only."""
    task = get_task(config.task)
    refusals = {
        "augment": (config.augment and task.name != DEFAULT_TASK,
                    f"augmented train splits hold Ekman primary labels; task {task.name} cannot use them (train "
                    "without --augment)"),
        "teachers": (config.teachers and task.name != DEFAULT_TASK,
                     f"distillation learns a teacher's softmax over the ekman classes; task {task.name} cannot use "
                     "it (train without --teacher)"),
        "tune_thresholds": (config.tune_thresholds and not task.multi_label,
                            f"task {task.name} is single-label (the most probable class wins); thresholds apply to "
                            "multi-label tasks"),
    }
    multi_label = {
        "soft_labels": (config.soft_labels > 0, "the multi-label targets already hold every annotated label; "
                                                "set soft_labels=0"),
        "balanced_sampler": (config.balanced_sampler, "class-balanced draws need one class per example; use "
                                                      "class_weights (per-label positive weights) instead"),
        "monitor": (config.monitor != "val_macro_f1", "multi-label runs are selected on val_macro_f1"),
    }
    messages = [f"{key}: {why}." for key, (refused, why) in refusals.items() if refused]
    if task.multi_label:
        messages += [f"{key}: not for the multi-label task {task.name}: {why}."
                     for key, (refused, why) in multi_label.items() if refused]
    return messages


def stored_config(stored: dict[str, Any]) -> TrainConfig:
    """The config a run was trained with, from its config.json (every setting is stored resolved, so the defaults of
    today change nothing): what a stopped run resumes with."""
    given = {key: value for key, value in stored.items() if key in RECIPE_KEYS - DERIVED_KEYS or key == "params"}
    return make_config(str(stored.get("arch")), given)


def pretrained_source(config: TrainConfig, settings: Settings | None = None) -> str | None:
    """The encoder a config trains with: GOEMO_PRETRAINED for the default, else its own setting."""
    if config.pretrained == USE_ENV:
        return (settings or get_settings()).pretrained
    return config.pretrained
