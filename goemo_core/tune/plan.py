"""Settling a study: a worker's settings (TuneConfig) against the ones the study was created with (StudyPlan), the
TrainConfig of each trial, the sampler and pruner, and creating or joining the study in its storage."""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..data.tasks import DEFAULT_TASK, get_task
from ..errors import InvalidConfig
from ..models import get_architecture
from ..training.config import TrainConfig, make_config
from .space import DataChoices, SpaceEntry, as_entry, base_space, data_choices, decode, narrow_space
from .storage import open_storage

if TYPE_CHECKING:
    import optuna

DEFAULT_BATCHES_PER_EPOCH = 100  # the notebook's per-trial budget
DEFAULT_VAL_EXAMPLES = None  # the whole validation split (the notebook's 300 batches of 64 exceeded it anyway)
DEFAULT_EPOCHS = 10
SMALL_LIMIT_EPOCHS = 3  # a --limit below SMALL_LIMIT is a quick check: fewer epochs per trial
SMALL_LIMIT = 5000
DEFAULT_SEED = 211
PRUNERS = ("median", "hyperband", "none")
BUDGET_KEYS = ("epochs", "batches_per_epoch", "val_examples", "limit")
STUDY_ATTR = "goemo"  # study user attribute holding the settings the study was created with
GRID_ATTR = "goemo_grid"  # marks a benchmark grid's study (goemo_core.bench.grid): its trials are cells, not samples
METRIC_NAME = "validation accuracy (%)"  # what a trial's value is, for optuna-dashboard and Optuna's plots
MULTI_LABEL_METRIC_NAME = "validation macro-F1"  # a multi-label task's trials maximise this instead


@dataclass
class TuneConfig:
    """One tuning run (one worker). None means 'unspecified': a new study takes the default, a study that already
    exists takes what it was created with (so every worker of a study trains with the same budget and space)."""

    arch: str = "gru"
    n_trials: int | None = 20  # trials this worker runs
    timeout: float | None = None  # seconds
    study: str | None = None  # None: a new human-readable name
    storage: str | None = None  # None: GOEMO_OPTUNA_STORAGE
    limit: int | None = None
    epochs: int | None = None  # None: DEFAULT_EPOCHS (SMALL_LIMIT_EPOCHS under a small limit)
    batches_per_epoch: int | None = None  # None: 100; 0: the whole train split
    val_examples: int | None = None  # validation examples per epoch; None or 0: the whole validation split
    pruner: str | None = None  # median (default) | hyperband | none
    seed: int | None = None
    space: dict[str, Any] = field(default_factory=dict)  # narrow_space overrides
    fixed: dict[str, Any] = field(default_factory=dict)  # recipe fields / model params for every trial
    device: str = "auto"

    @classmethod
    def from_dict(cls, values: dict) -> "TuneConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InvalidConfig(f"tune: unknown setting(s) {', '.join(sorted(unknown))}.")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StudyPlan:
    """The settled settings of a study: what every trial of this worker trains with."""

    arch: str
    limit: int | None
    epochs: int
    batches_per_epoch: int | None
    val_examples: int | None
    pruner: str
    seed: int
    search_space: dict[str, SpaceEntry]
    fixed: dict[str, Any]

    def to_attr(self) -> dict:
        data = asdict(self)
        data["search_space"] = {k: list(v) for k, v in self.search_space.items()}
        return data


def default_epochs(limit: int | None) -> int:
    return SMALL_LIMIT_EPOCHS if limit is not None and limit < SMALL_LIMIT else DEFAULT_EPOCHS


def _budget(value: int | None, stored: dict, key: str, default: int | None) -> int | None:
    """A per-trial cap: the worker's value (0: no cap), else the study's (None there: no cap), else the default."""
    if value is not None:
        return None if int(value) <= 0 else int(value)
    return stored[key] if key in stored else default


def plan_study(config: TuneConfig, stored: dict | None = None, choices: DataChoices | None = None) -> StudyPlan:
    """Settle a worker's settings: its own values where given, else the study's stored ones, else the defaults."""
    get_architecture(config.arch)
    stored = dict(stored or {})
    if "val_batches" in stored:  # studies created before the budget counted examples
        batches = stored.pop("val_batches")
        stored.setdefault("val_examples", batches * 64 if batches else None)
    if stored.get("arch") not in (None, config.arch):
        raise InvalidConfig(f"study: '{config.study}' tunes {stored['arch']}, not {config.arch}; "
                            "choose another study name or --arch " + stored["arch"] + ".")

    def pick(name: str, default: Any) -> Any:
        value = getattr(config, name)
        return value if value is not None else stored.get(name, default)

    limit = pick("limit", None)
    limit = None if limit in (None, 0) else int(limit)
    pruner = pick("pruner", "median")
    if pruner not in PRUNERS:
        raise InvalidConfig(f"pruner: '{pruner}' is not one of {', '.join(PRUNERS)}.")
    if config.space or config.fixed or "search_space" not in stored:
        space, fixed = narrow_space(base_space(config.arch, choices), config.space)
        fixed = {**fixed, **config.fixed}
        for key in config.fixed:
            space.pop(key, None)
    else:
        space = {k: as_entry(k, v) for k, v in stored["search_space"].items()}
        fixed = dict(stored.get("fixed") or {})
    if get_task(fixed.get("task")).name != DEFAULT_TASK:  # augmented splits hold Ekman labels only
        space.pop("augment", None)
    epochs = int(pick("epochs", default_epochs(limit)))
    if epochs < 1:
        raise InvalidConfig(f"epochs: {epochs} must be at least 1.")
    return StudyPlan(arch=config.arch, limit=limit, epochs=epochs,
                     batches_per_epoch=_budget(config.batches_per_epoch, stored, "batches_per_epoch",
                                               DEFAULT_BATCHES_PER_EPOCH),
                     val_examples=_budget(config.val_examples, stored, "val_examples", DEFAULT_VAL_EXAMPLES),
                     pruner=pruner, seed=int(pick("seed", DEFAULT_SEED)), search_space=space, fixed=fixed)


def trial_config(plan: StudyPlan, values: dict[str, Any], choices: DataChoices, device: str = "auto") -> "TrainConfig":
    """The TrainConfig of one trial: the per-trial budget, the fixed settings, the sampled values."""
    budget = {"epochs": plan.epochs, "batches_per_epoch": plan.batches_per_epoch, "val_examples": plan.val_examples,
              "limit": plan.limit, "device": device, "monitor": objective(plan)[0]}
    return make_config(plan.arch, {**budget, **decode({**plan.fixed, **values}, choices)})


def make_pruner(name: str, epochs: int) -> "optuna.pruners.BasePruner":
    import optuna

    if name == "median":  # no pruning before 5 trials finished; steps are epochs from 1, and a step below
        # n_warmup_steps is never pruned, so a trial may be pruned from its second epoch's report on
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min(2, max(0, epochs - 1)))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise InvalidConfig(f"pruner: '{name}' is not one of {', '.join(PRUNERS)}.")


def make_sampler(seed: int) -> "optuna.samplers.BaseSampler":
    import optuna

    class TrialSeededTPESampler(optuna.samplers.TPESampler):
        """TPE whose random state is reseeded from (seed, trial number) before each trial: one worker is
        reproducible, and workers that share a study (and a seed) do not draw the same configurations.
        Reaches into TPESampler's random states (optuna pinned in requirements.txt); falls back to plain TPE."""

        def before_trial(self, study, trial) -> None:
            trial_seed = (seed + 7919 * trial.number) % 2**32
            for owner in (self, getattr(self, "_random_sampler", None)):
                state = getattr(owner, "_rng", None)
                if state is not None and hasattr(state, "rng"):
                    state.rng.seed(trial_seed)
            super().before_trial(study, trial)

    return TrialSeededTPESampler(seed=seed)


_HANDED_OUT: set[str] = set()


def new_study_name(arch: str, storage: str | None = None) -> str:
    """`gru-20261126-1412`, with -2, -3… when taken (in the storage or handed out by this process)."""
    import optuna

    base = f"{arch}-{time.strftime('%Y%m%d-%H%M')}"
    taken = set(optuna.get_all_study_names(open_storage(storage))) | _HANDED_OUT
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    _HANDED_OUT.add(name)
    return name


def open_study(config: TuneConfig, choices: DataChoices | None = None) -> tuple["optuna.Study", StudyPlan]:
    """Create the study, or join it when the name exists (load_if_exists): several workers, one study."""
    import optuna

    storage = open_storage(config.storage)
    name = config.study or new_study_name(config.arch, config.storage)
    if _is_grid(storage, name):
        raise InvalidConfig(f"study: '{name}' is a benchmark grid (bench accuracy --study), not a tuning study; "
                            "`goemo worker` trains its cells. Choose another study name.")
    stored = _stored_settings(storage, name)
    plan = plan_study(config, stored, choices)
    trial_config(plan, {}, choices or data_choices(), config.device)  # bad fixed settings fail before any study exists
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                    sampler=make_sampler(plan.seed), pruner=make_pruner(plan.pruner, plan.epochs))
    except ValueError as exc:  # e.g. an existing study with other directions
        raise InvalidConfig(f"study: '{name}' cannot be used ({exc}).") from None
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise InvalidConfig(f"study: '{name}' minimises; GoEmotions studies maximise validation accuracy.")
    if STUDY_ATTR not in study.user_attrs:  # first worker: record the settings for the others and "Train best"
        study.set_user_attr(STUDY_ATTR, plan.to_attr())
    name_metric(study, objective(plan)[1])
    return study, plan


def objective(plan: StudyPlan) -> tuple[str, str]:
    """What the study's trials maximise, as the history key and the name shown in optuna-dashboard: validation
    accuracy for a single-label task, validation macro-F1 for a multi-label task (the study's fixed `task`)."""
    if get_task(plan.fixed.get("task")).multi_label:
        return "val_macro_f1", MULTI_LABEL_METRIC_NAME
    return "val_accuracy", METRIC_NAME


def name_metric(study: "optuna.Study", metric_name: str = METRIC_NAME) -> None:
    """Name the objective (the dashboard says "Objective 0" otherwise), unless the study already names it."""
    import optuna

    if study.metric_names is None:
        with warnings.catch_warnings():  # experimental in Optuna since 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metric_name])


def _is_grid(storage, name: str) -> bool:
    import optuna

    try:
        return GRID_ATTR in storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    except (KeyError, optuna.exceptions.OptunaError):
        return False


def _stored_settings(storage, name: str) -> dict:
    import optuna

    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return {}
    except optuna.exceptions.OptunaError:
        return {}
    return stored_settings(storage.get_study_user_attrs(study_id), name)


Positive = Annotated[int, Field(strict=True, ge=1, lt=1 << 63)]


class StoredSettings(BaseModel):
    """A study's `goemo` attribute: the settings it was created with (StudyPlan.to_attr), as read back from any
    storage. Keys of older versions pass through; the ones a plan reads are checked."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)
    arch: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    limit: Annotated[int, Field(strict=True, ge=0, lt=1 << 63)] | None = None
    epochs: Positive | None = None
    batches_per_epoch: Positive | None = None
    val_examples: Positive | None = None
    val_batches: Annotated[int, Field(strict=True, ge=0, lt=1 << 63)] | None = None
    pruner: Literal[PRUNERS] | None = None
    seed: Annotated[int, Field(strict=True, ge=0, lt=1 << 63)] | None = None
    search_space: dict[str, list] | None = None
    fixed: dict[str, Any] | None = None


def stored_settings(user_attrs: Any, name: str) -> dict:
    """The study's stored settings through their schema ({} when it has none); InvalidConfig says what is wrong."""
    attrs = user_attrs if isinstance(user_attrs, dict) else {}
    value = attrs.get(STUDY_ATTR)
    if value is None:
        return {}
    try:
        StoredSettings.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or STUDY_ATTR
        message = "should be an object" if first["type"] == "model_type" else first["msg"].replace(
            "Input should be", "should be")
        raise InvalidConfig(f"study: '{name}' has damaged stored settings ('{STUDY_ATTR}' attribute, {where}: "
                            f"{message}); it was not created by this version. Choose another study name.") from None
    return dict(value)
