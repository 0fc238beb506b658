"""Planning and running studies: a worker's settings settled against the study's stored ones, the objective (one
Trainer per trial with a per-trial budget, pruned on per-epoch validation accuracy), cancel and fatal errors, the
summary, and the 'tune' background job."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..config import TrainConfig, make_config, pretrained_source
from ..context import JobContext
from ..errors import Cancelled, GoEmoError, InvalidConfig, MissingResource
from ..models import get_architecture
from ..prepare import PreparedData, build_model, count_parameters, prepare_data
from ..settings import Settings, get_settings, mask_text, mask_url, resolve_device
from ..text import pad_id
from ..trainer import EpochProgress, Trainer
from .space import (
    DataChoices,
    SpaceEntry,
    as_entry,
    base_space,
    data_choices,
    decode,
    narrow_space,
    suggest,
)
from .storage import fail_stale_trials, open_storage, storage_url

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
METRIC_NAME = "validation accuracy (%)"  # what a trial's value is, for optuna-dashboard and Optuna's plots


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
              "limit": plan.limit, "device": device, "monitor": "val_accuracy"}
    return make_config(plan.arch, {**budget, **decode({**plan.fixed, **values}, choices)})


def make_pruner(name: str, epochs: int) -> "optuna.pruners.BasePruner":
    import optuna

    if name == "median":  # no pruning before 5 trials finished, nor in a trial's first 2 epochs
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
    name_metric(study)
    return study, plan


def name_metric(study: "optuna.Study") -> None:
    """Name the objective (the dashboard says "Objective 0" otherwise), unless the study already names it."""
    import optuna

    if study.metric_names is None:
        with warnings.catch_warnings():  # experimental in Optuna since 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([METRIC_NAME])


def _stored_settings(storage, name: str) -> dict:
    import optuna

    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return {}
    except optuna.exceptions.OptunaError:
        return {}
    return dict(storage.get_study_user_attrs(study_id).get(STUDY_ATTR) or {})


TrialCallback = Callable[[dict], None]
Progress = Callable[[float, str], None]


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class StudyRunner:
    """One worker's optimisation loop: the objective, the data cache, cancel and fatal-error handling."""

    def __init__(self, config: TuneConfig, cancel: threading.Event | None = None,
                 on_trial: TrialCallback | None = None, progress: Progress | None = None,
                 log: Callable[[str], None] = lambda message: None, settings: Settings | None = None):
        self.config, self.settings = config, settings or get_settings()
        self.cancel = cancel or threading.Event()
        self.on_trial, self.progress, self.log = on_trial, progress, log
        self.choices = data_choices(self.settings)
        self.device = resolve_device(config.device if config.device != "auto" else self.settings.device)
        self.data: dict[tuple, PreparedData] = {}  # one prepare_data per distinct data option combination
        self.fatal: BaseException | None = None
        self.finished = 0

    # -- the objective ----------------------------------------------------------------------------------------
    def _data(self, cfg: "TrainConfig") -> "PreparedData":
        key = (cfg.limit, cfg.augment, pretrained_source(cfg, self.settings), cfg.max_length)
        if key not in self.data:
            self.log(f"loading and tokenising data (limit={cfg.limit}, augment={cfg.augment or 'no'}, "
                     f"pretrained={key[2] or 'no'}, max_length={cfg.max_length})")
            self.data[key] = prepare_data(cfg, self.settings)
        return self.data[key]

    def objective(self, trial: "optuna.Trial") -> float:
        try:
            return self._train_trial(trial)
        except Cancelled:
            trial.set_user_attr("cancelled", True)
            raise
        except GoEmoError as exc:  # missing data or a setting no trial can fix: stop after recording it
            self.fatal = exc
            trial.set_user_attr("error", self.error_text(exc))
            raise
        except Exception as exc:
            if not isinstance(exc, _pruned_type()):
                trial.set_user_attr("error", self.error_text(exc))
            raise

    def error_text(self, exc: BaseException) -> str:
        """An error as stored on the trial and shown in logs and tables: a driver's text may quote the password."""
        return mask_text(f"{type(exc).__name__}: {exc}", storage_url(self.config.storage))[:500]

    def _train_trial(self, trial: "optuna.Trial") -> float:
        import optuna
        import torch

        trial.set_user_attr("worker", _worker_id())
        cfg = trial_config(self.plan, suggest(trial, self.plan.search_space), self.choices, self.device)
        data = self._data(cfg)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, data.tokenizer.get_vocab_size(), pad_id(data.tokenizer), data.embedding_init,
                            device=self.device)
        trainer = Trainer(model, cfg, self.device)
        parameters = count_parameters(model)
        started, best = time.perf_counter(), {"val_accuracy": -math.inf}

        def record_metrics() -> None:
            trial.set_user_attr("val_accuracy", best.get("val_accuracy"))
            trial.set_user_attr("val_macro_f1", best.get("val_macro_f1"))
            trial.set_user_attr("best_epoch", best.get("epoch"))
            trial.set_user_attr("epochs_run", len(best.get("history", ())))
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
            trial.set_user_attr("parameters", parameters)

        def on_epoch(record: dict) -> None:
            best.setdefault("history", []).append(record)
            if record["val_accuracy"] > best["val_accuracy"]:
                best.update(record)
            trial.report(record["val_accuracy"], record["epoch"])
            if trial.should_prune():
                record_metrics()
                raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

        def on_progress(where: EpochProgress) -> None:
            self._report_progress(where.fraction)

        try:
            trainer.fit(data.train, data.validation, on_epoch=on_epoch, cancel=self.cancel, on_progress=on_progress)
            record_metrics()
            return float(best["val_accuracy"])
        finally:
            del trainer, model  # free the GPU memory before the next trial builds its model
            if self.device.startswith("cuda"):
                torch.cuda.empty_cache()

    # -- between trials ---------------------------------------------------------------------------------------
    def _report_progress(self, within: float = 0.0) -> None:
        if self.progress is None:
            return
        n = self.config.n_trials
        k = self.finished + 1
        if n:
            self.progress((self.finished + min(1.0, within)) / n, f"trial {min(k, n)} of {n}")
        elif self.config.timeout:
            self.progress((time.time() - self.started) / self.config.timeout, f"trial {k}")

    def after_trial(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        self.finished += 1
        record = trial_record(trial)
        self.log(f"trial {trial.number} {record['state']}"
                 + (f": val acc {record['value']:.2f}%" if record["value"] is not None else "")
                 + (f" ({record['seconds']:.1f} s)" if record.get("seconds") else "")
                 + (f" · {trial.user_attrs['error']}" if trial.user_attrs.get("error") else ""))
        if self.on_trial is not None:
            self.on_trial(record)
        self._report_progress()
        if self.cancel.is_set() or self.fatal is not None:
            study.stop()  # the only way out of optimize() between trials

    def run(self) -> dict:
        import sqlalchemy.exc

        url = storage_url(self.config.storage)
        try:
            with _masked_optuna_logs(url):
                return self._run(url)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:  # the server went away
            detail = " ".join(mask_text(f"{type(exc.orig or exc).__name__}: {exc.orig or exc}", url).split())[:300]
            raise MissingResource(f"Lost the Optuna storage {mask_url(url)} ({detail}); finished trials are kept, "
                                  "run the worker again once the database is back.") from None

    def _run(self, url: str) -> dict:
        self.study, self.plan = open_study(self.config, self.choices)
        self.started = time.time()
        self.log(f"study {self.study.study_name} on {mask_url(url)}: {self.plan.arch}, "
                 f"{self.config.n_trials or 'unlimited'} trials, {self.plan.epochs} epochs × "
                 f"{self.plan.batches_per_epoch or 'all'} batches per trial, pruner {self.plan.pruner}, "
                 f"searching {', '.join(self.plan.search_space) or 'nothing'}")
        self._report_progress()
        if not self.cancel.is_set():
            # catch=(Exception,): a failing trial (out of memory, NaN, a bad combination) is recorded as FAIL and
            # the study goes on; gc_after_trial frees the last model before the next one is built
            self.study.optimize(self.objective, n_trials=self.config.n_trials, timeout=self.config.timeout,
                                catch=(Exception,), callbacks=[self.after_trial], gc_after_trial=True)
        gc.collect()
        if self.fatal is not None:
            raise self.fatal
        fail_stale_trials(self.study)  # a dead worker's expired trial is not left 'running' in the summary
        return study_summary(self.study, self.config.storage)


class _MaskSecrets(logging.Filter):
    """Masks the storage's secrets in a log record, its traceback included (Optuna logs a failed trial's error)."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_text(record.getMessage(), self.url), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self.url)
        return True


@contextlib.contextmanager
def _masked_optuna_logs(url: str) -> Iterator[None]:
    """While a worker runs, Optuna's log handlers (its own stderr handler, or the root logger's when Optuna's
    propagate) pass no secret of the storage URL."""
    import optuna

    optuna.logging.get_logger("optuna")  # creates Optuna's default handler if it does not exist yet
    handlers = [*logging.getLogger("optuna").handlers, *logging.getLogger().handlers]
    mask = _MaskSecrets(url)
    for handler in handlers:
        handler.addFilter(mask)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(mask)


def _pruned_type() -> type:
    import optuna

    return optuna.TrialPruned


def run_study(config: TuneConfig, cancel: threading.Event | None = None, on_trial: TrialCallback | None = None,
              progress: Progress | None = None, log: Callable[[str], None] = lambda message: None) -> dict:
    """Run `config.n_trials` trials (or until `timeout` / cancel) on the study; returns study_summary()."""
    return StudyRunner(config, cancel, on_trial, progress, log).run()


def trial_record(trial: "optuna.trial.FrozenTrial") -> dict:
    attrs = trial.user_attrs
    return {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
            "val_macro_f1": attrs.get("val_macro_f1"), "best_epoch": attrs.get("best_epoch"),
            "seconds": attrs.get("seconds")}


def state_counts(study: "optuna.Study") -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return counts


def best_of(study: "optuna.Study") -> tuple[float | None, dict]:
    try:
        best = study.best_trial
    except ValueError:  # no completed trial yet
        return None, {}
    return best.value, dict(best.params)


def study_summary(study: "optuna.Study", storage: str | None = None) -> dict:
    """The CLI's document: n_trials is the study's total (all workers); the state counts add up to it."""
    states = state_counts(study)
    best_value, best_params = best_of(study)
    return {"study": study.study_name, "storage": mask_url(storage_url(storage)), "n_trials": sum(states.values()),
            "states": states, "best_value": best_value, "best_params": best_params}


def tune_job(tune: TuneConfig, context: JobContext) -> dict:
    """The 'tune' background job: one history record per finished trial; cancel stops the study (the current
    trial ends at its next batch and is recorded as failed, marked cancelled)."""
    summary = run_study(tune, cancel=context.cancel, on_trial=context.add_history, progress=context.progress,
                        log=context.log)
    status = "cancelled" if context.cancelled() else "completed"
    return {"status": status, "study": summary["study"], "best_value": summary["best_value"],
            "best_params": summary["best_params"], "states": summary["states"], "n_trials": summary["n_trials"]}
