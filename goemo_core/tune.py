"""Optuna studies: one objective per architecture from the registry's search space, trained through the same Trainer
with a per-trial budget; studies live in GOEMO_OPTUNA_STORAGE so the app, the dashboard and any number of
`python -m goemo_core tune` workers share them. Knows nothing of streamlit.

Storage choice for parallel workers: SQLite (the default) is safe for a few workers on one machine: Optuna numbers a
new trial inside the INSERT transaction and SQLite's database-wide write lock serialises those, so no trial is lost
or numbered twice; the storage factory raises SQLite's busy timeout to 60 s so a worker waits for the lock instead
of failing with "database is locked". SQLite is not safe on network file systems (broken fcntl locks), so for
workers on several machines use PostgreSQL/MySQL, or `journal:///path/file.log` (Optuna's JournalFileBackend,
append-only log with NFS-safe lock files)."""

from __future__ import annotations

import gc
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable

from .errors import Cancelled, GoEmoError, InvalidConfig, MissingResource
from .settings import Settings, get_settings, mask_url

if TYPE_CHECKING:
    import optuna
    import pandas as pd

    from .train import PreparedData, TrainConfig

DEFAULT_BATCHES_PER_EPOCH = 100  # the notebook's per-trial budget
DEFAULT_VAL_BATCHES = 300
DEFAULT_EPOCHS = 10
SMALL_LIMIT_EPOCHS = 3  # a --limit below SMALL_LIMIT is a quick check: fewer epochs per trial
SMALL_LIMIT = 5000
DEFAULT_SEED = 211
PRUNERS = ("median", "hyperband", "none")
DATA_CHOICES = ("pretrained", "augment")  # categorical on/off choices beside the registry's space
BUDGET_KEYS = ("epochs", "batches_per_epoch", "val_batches", "limit")
STUDY_ATTR = "goemo"  # study user attribute holding the settings the study was created with
SQLITE_BUSY_TIMEOUT_S = 60
HEARTBEAT_S, GRACE_S = 60, 300  # an RDB trial whose worker died is failed once it misses heartbeats this long
MIN_IMPORTANCE_TRIALS = 3
JOURNAL_SCHEME = "journal:"

# -------------------------------------------------------------------------------------------------------------
# Storage


def storage_url(url: str | None = None) -> str:
    return url or get_settings().optuna_storage


_STORAGES: dict[str, Any] = {}
_STORAGES_LOCK = threading.Lock()


def open_storage(url: str | None = None) -> "optuna.storages.BaseStorage":
    """The storage behind a URL, one object per URL and process (engines and journal readers are reused).
    Any SQLAlchemy URL, or `journal:///path/to/file.log` for a JournalFileBackend."""
    url = storage_url(url)
    with _STORAGES_LOCK:
        if url not in _STORAGES:
            _STORAGES[url] = _create_storage(url)
        return _STORAGES[url]


def _create_storage(url: str) -> "optuna.storages.BaseStorage":

    try:
        if url.startswith(JOURNAL_SCHEME):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = journal_path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        engine_kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            _ensure_sqlite_folder(url)
            engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        return _rdb_storage(url, engine_kwargs)
    except Exception as exc:
        detail = _scrub(f"{type(exc).__name__}: {exc}", url)[:300]
        raise MissingResource(f"Cannot open the Optuna storage {mask_url(url)} ({detail}). Set GOEMO_OPTUNA_STORAGE "
                              "(or --storage) to a reachable SQLAlchemy URL (sqlite:///…, postgresql://…) or "
                              "journal:///path/to/file.log.") from None


def _rdb_storage(url: str, engine_kwargs: dict, attempts: int = 5) -> "optuna.storages.RDBStorage":
    """RDBStorage, retried when workers starting together race to create the tables of a new database ('table …
    already exists', a duplicate schema-version row: the winner's tables are complete on the next try)."""
    import optuna

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeat is flagged experimental
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S,
                                                  grace_period=GRACE_S)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            racing = any(sign in text for sign in ("already exists", "database is locked", "IntegrityError"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def journal_path(url: str):
    """journal:///abs/file.log → /abs/file.log; journal://rel.log → rel.log (like sqlite:///)."""
    from pathlib import Path

    rest = url[len(JOURNAL_SCHEME):]
    rest = rest[2:] if rest.startswith("//") else rest
    if not rest:
        raise InvalidConfig(f"storage: '{url}' names no journal file (journal:///path/to/file.log).")
    return Path(rest).expanduser()


def _ensure_sqlite_folder(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)


def _scrub(text: str, url: str) -> str:
    """Error texts from drivers may quote the URL: never show its password."""
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:
        password = None
    text = text.replace(url, mask_url(url))
    return text.replace(str(password), "***") if password else text


def close_storages() -> None:
    """Forget the cached storages (tests; a changed database file)."""
    with _STORAGES_LOCK:
        for storage in _STORAGES.values():
            engine = getattr(storage, "engine", None)
            if engine is not None:
                engine.dispose()
        _STORAGES.clear()


# -------------------------------------------------------------------------------------------------------------
# Search space

SpaceEntry = tuple  # ("int", lo, hi) | ("float", lo, hi) | ("logfloat", lo, hi) | ("categorical", [choices])


@dataclass(frozen=True)
class DataChoices:
    """What the on/off data choices mean on this machine: the encoder GOEMO_PRETRAINED names, the augmented split."""

    pretrained: str | None
    augment: str | None


def augmented_split_name() -> str | None:
    """The default augmented train split (or the newest one), None when none is built. The augment module may be
    missing or mid-change: any failure means 'not available'."""
    try:
        from . import augment

        try:
            return augment.resolve_augmented_name("default")
        except Exception:
            splits = augment.list_augmented()
            return splits[0]["name"] if splits else None
    except Exception:
        return None


def data_choices(settings: Settings | None = None) -> DataChoices:
    settings = settings or get_settings()
    return DataChoices(pretrained=settings.pretrained, augment=augmented_split_name())


def has_own_embedding(arch: str) -> bool:
    """Pretrained on/off only means something for models with a token embedding of their own; the transformer
    always is the pretrained encoder."""
    from .models import get_architecture

    return "embedding_dim" in get_architecture(arch).defaults


def base_space(arch: str, choices: DataChoices | None = None) -> dict[str, SpaceEntry]:
    """The registry's space (the notebook's ranges) plus pretrained/augment on/off where available."""
    from .models import get_architecture

    choices = choices or data_choices()
    space = {key: _as_entry(key, spec) for key, spec in get_architecture(arch).search_space.items()}
    if choices.pretrained and has_own_embedding(arch):
        space["pretrained"] = ("categorical", [False, True])
    if choices.augment:
        space["augment"] = ("categorical", [False, True])
    return space


def _as_entry(key: str, spec: Any) -> SpaceEntry:
    """Validate one entry (JSON turns tuples into lists)."""
    if not isinstance(spec, (list, tuple)) or not spec:
        raise InvalidConfig(f"space: {key}: {spec!r} is not a search-space entry.")
    kind = spec[0]
    if kind == "categorical":
        choices = list(spec[1]) if len(spec) == 2 and isinstance(spec[1], (list, tuple)) else []
        if not choices:
            raise InvalidConfig(f"space: {key}: a categorical entry needs at least one choice.")
        return ("categorical", choices)
    if kind not in ("int", "float", "logfloat") or len(spec) != 3:
        raise InvalidConfig(f"space: {key}: {spec!r} is not (int|float|logfloat, low, high) or (categorical, [...]).")
    number = int if kind == "int" else float
    try:
        low, high = number(spec[1]), number(spec[2])
    except (TypeError, ValueError):
        raise InvalidConfig(f"space: {key}: bounds {spec[1]!r}, {spec[2]!r} are not {number.__name__}s.") from None
    if low > high:
        raise InvalidConfig(f"space: {key}: low {low} is above high {high}.")
    if kind == "logfloat" and low <= 0:
        raise InvalidConfig(f"space: {key}: a log range needs a positive low bound (got {low}).")
    return (kind, low, high)


def narrow_space(space: dict[str, SpaceEntry], overrides: dict[str, Any] | None) -> tuple[dict, dict]:
    """Apply the user's tweaks: (low, high) or a full entry narrows a numeric range, a list keeps those choices,
    a scalar fixes the value. A range of one value or a single choice is fixed, not searched.
    Returns (space, fixed values)."""
    space, fixed = dict(space), {}
    for key, value in (overrides or {}).items():
        if key not in space:
            raise InvalidConfig(f"space: '{key}' is not searched here (searched: {', '.join(space)}); "
                                "fix other settings with --set.")
        kind = space[key][0]
        if not isinstance(value, (list, tuple)):
            space.pop(key)
            fixed[key] = value
            continue
        if kind == "categorical":
            entry = _as_entry(key, ("categorical", list(value[1] if value and value[0] == "categorical" else value)))
        else:
            entry = _as_entry(key, tuple(value) if len(value) == 3 else (kind, *value))
        single = len(entry[1]) == 1 if entry[0] == "categorical" else entry[1] == entry[2]
        if single:
            space.pop(key)
            fixed[key] = entry[1][0] if entry[0] == "categorical" else entry[1]
        else:
            space[key] = entry
    return space, fixed


def parse_range(space: dict[str, SpaceEntry], key: str, text: str) -> Any:
    """`--range KEY=LO:HI` (numeric) or `--range KEY=A,B` (choices) into a narrow_space override."""
    if key not in space:
        raise InvalidConfig(f"--range: '{key}' is not searched (searched: {', '.join(space)}).")
    entry = space[key]
    if entry[0] == "categorical":
        by_text = {str(c).lower(): c for c in entry[1]}
        picked = []
        for token in text.split(","):
            if token.strip().lower() not in by_text:
                raise InvalidConfig(f"--range: {key}: '{token}' is not a choice ({', '.join(map(str, entry[1]))}).")
            picked.append(by_text[token.strip().lower()])
        return picked
    low, sep, high = text.partition(":")
    if not sep:
        raise InvalidConfig(f"--range: {key}: '{text}' is not LOW:HIGH.")
    return [low, high]


def suggest(trial: "optuna.Trial", space: dict[str, SpaceEntry]) -> dict[str, Any]:
    values = {}
    for key, entry in space.items():
        kind = entry[0]
        if kind == "int":
            values[key] = trial.suggest_int(key, int(entry[1]), int(entry[2]))
        elif kind in ("float", "logfloat"):
            values[key] = trial.suggest_float(key, float(entry[1]), float(entry[2]), log=kind == "logfloat")
        else:
            values[key] = trial.suggest_categorical(key, list(entry[1]))
    return values


def decode(values: dict[str, Any], choices: DataChoices) -> dict[str, Any]:
    """Trial values → make_config overrides: the on/off data choices become this machine's encoder / split."""
    from .models.registry import coerce

    overrides = dict(values)
    for key, fix in (("pretrained", "set GOEMO_PRETRAINED to the encoder"),
                     ("augment", "build it on the Augment page or with `python -m goemo_core augment build`")):
        if key in overrides and isinstance(overrides[key], (bool, str)) and str(overrides[key]).lower() in (
                "true", "false", "1", "0", "yes", "no", "on", "off"):
            wanted = coerce(key, overrides[key], bool)
            source = getattr(choices, key)
            if wanted and source is None:
                raise MissingResource(f"{key}: this study tries {key} on, but none is available here; {fix}.")
            overrides[key] = source if wanted else None
    return overrides


# -------------------------------------------------------------------------------------------------------------
# Study settings


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
    val_batches: int | None = None  # None: 300; 0: the whole validation split
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
    val_batches: int | None
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


def _budget(value: int | None, stored: dict, key: str, default: int) -> int | None:
    """A per-trial cap: the worker's value (0: no cap), else the study's (None there: no cap), else the default."""
    if value is not None:
        return None if int(value) <= 0 else int(value)
    return stored[key] if key in stored else default


def plan_study(config: TuneConfig, stored: dict | None = None, choices: DataChoices | None = None) -> StudyPlan:
    """Settle a worker's settings: its own values where given, else the study's stored ones, else the defaults."""
    from .models import get_architecture

    get_architecture(config.arch)
    stored = stored or {}
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
        space = {k: _as_entry(k, v) for k, v in stored["search_space"].items()}
        fixed = dict(stored.get("fixed") or {})
    epochs = int(pick("epochs", default_epochs(limit)))
    if epochs < 1:
        raise InvalidConfig(f"epochs: {epochs} must be at least 1.")
    return StudyPlan(arch=config.arch, limit=limit, epochs=epochs,
                     batches_per_epoch=_budget(config.batches_per_epoch, stored, "batches_per_epoch",
                                               DEFAULT_BATCHES_PER_EPOCH),
                     val_batches=_budget(config.val_batches, stored, "val_batches", DEFAULT_VAL_BATCHES),
                     pruner=pruner, seed=int(pick("seed", DEFAULT_SEED)), search_space=space, fixed=fixed)


def trial_config(plan: StudyPlan, values: dict[str, Any], choices: DataChoices, device: str = "auto") -> "TrainConfig":
    """The TrainConfig of one trial: the per-trial budget, the fixed settings, the sampled values."""
    from .train import make_config

    budget = {"epochs": plan.epochs, "batches_per_epoch": plan.batches_per_epoch, "val_batches": plan.val_batches,
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
    return study, plan


def _stored_settings(storage, name: str) -> dict:
    import optuna

    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return {}
    except optuna.exceptions.OptunaError:
        return {}
    return dict(storage.get_study_user_attrs(study_id).get(STUDY_ATTR) or {})


# -------------------------------------------------------------------------------------------------------------
# Running a study

TrialCallback = Callable[[dict], None]
Progress = Callable[[float, str], None]


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class StudyRunner:
    """One worker's optimisation loop: the objective, the data cache, cancel and fatal-error handling."""

    def __init__(self, config: TuneConfig, cancel: threading.Event | None = None,
                 on_trial: TrialCallback | None = None, progress: Progress | None = None,
                 log: Callable[[str], None] = lambda message: None, settings: Settings | None = None):
        from .settings import resolve_device

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
        from .train import prepare_data, pretrained_source

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
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise
        except Exception as exc:
            if not isinstance(exc, _pruned_type()):
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            raise

    def _train_trial(self, trial: "optuna.Trial") -> float:
        import optuna
        import torch

        from .text import pad_id
        from .train import Trainer, build_model, count_parameters

        trial.set_user_attr("worker", _worker_id())
        cfg = trial_config(self.plan, suggest(trial, self.plan.search_space), self.choices, self.device)
        data = self._data(cfg)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, data.tokenizer.get_vocab_size(), pad_id(data.tokenizer), data.embedding_init,
                            device=self.device)
        trainer = Trainer(model, cfg, self.device)
        started, best = time.perf_counter(), {"val_accuracy": -math.inf}

        def record_metrics() -> None:
            trial.set_user_attr("val_accuracy", best.get("val_accuracy"))
            trial.set_user_attr("val_macro_f1", best.get("val_macro_f1"))
            trial.set_user_attr("best_epoch", best.get("epoch"))
            trial.set_user_attr("epochs_run", len(trainer.history))
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
            trial.set_user_attr("parameters", count_parameters(model))

        def on_epoch(record: dict) -> None:
            if record["val_accuracy"] > best["val_accuracy"]:
                best.update(record)
            trial.report(record["val_accuracy"], record["epoch"])
            if trial.should_prune():
                record_metrics()
                raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

        def on_progress(epochs_done: float) -> None:
            self._report_progress(epochs_done / cfg.epochs)

        try:
            trainer.fit(data.train, data.validation, on_epoch=on_epoch, cancel=self.cancel, on_progress=on_progress)
            record_metrics()
            return float(best["val_accuracy"])
        finally:
            del trainer, model
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

        self.study, self.plan = open_study(self.config, self.choices)
        self.started = time.time()
        self.log(f"study {self.study.study_name} on {mask_url(storage_url(self.config.storage))}: {self.plan.arch}, "
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
        return study_summary(self.study, self.config.storage)


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


# -------------------------------------------------------------------------------------------------------------
# The background job


def run_tune_job(config: dict, context) -> dict:
    """JobManager's 'tune' handler: one history record per finished trial; cancel stops the study (the current
    trial ends at its next batch and is recorded as failed, marked cancelled)."""
    tune = TuneConfig.from_dict(config)
    summary = run_study(tune, cancel=context.cancel, on_trial=context.add_history, progress=context.progress,
                        log=context.log)
    status = "cancelled" if context.cancelled() else "completed"
    return {"status": status, "study": summary["study"], "best_value": summary["best_value"],
            "best_params": summary["best_params"], "states": summary["states"], "n_trials": summary["n_trials"]}


# -------------------------------------------------------------------------------------------------------------
# Reading studies (the Tune page)


def load_study(name: str, storage: str | None = None) -> "optuna.Study":
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage))
    except KeyError:
        raise InvalidConfig(f"study: no study '{name}' in {mask_url(storage_url(storage))}.") from None


def list_studies(storage: str | None = None) -> list[dict]:
    """Every study in the storage, newest first: name, arch, direction, n_trials, best value, created, study_id."""
    import optuna

    rows = []
    for summary in optuna.get_all_study_summaries(open_storage(storage), include_best_trial=True):
        best = summary.best_trial
        rows.append({
            "study": summary.study_name,
            "arch": (summary.user_attrs.get(STUDY_ATTR) or {}).get("arch") or summary.study_name.split("-")[0],
            "direction": ", ".join(d.name.lower() for d in summary.directions),
            "n_trials": summary.n_trials,
            "best_value": best.value if best is not None else None,
            "created": summary.datetime_start,
            "study_id": getattr(summary, "_study_id", None),
        })
    return sorted(rows, key=lambda r: (r["created"] is not None, r["created"] or 0), reverse=True)


def trials_frame(name: str, storage: str | None = None) -> "pd.DataFrame":
    """One row per trial: number, state, value, macro-F1, best epoch, duration (s), worker, then the parameters."""
    import pandas as pd

    rows = []
    for trial in load_study(name, storage).get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append({"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
                     "val_macro_f1": trial.user_attrs.get("val_macro_f1"),
                     "best_epoch": trial.user_attrs.get("best_epoch"), "duration_s": duration,
                     "worker": trial.user_attrs.get("worker"), "error": trial.user_attrs.get("error"),
                     **trial.params})
    columns = ["number", "state", "value", "val_macro_f1", "best_epoch", "duration_s", "worker", "error"]
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*columns, *[c for c in frame.columns if c not in columns]])


def history_frame(trials: "pd.DataFrame") -> "pd.DataFrame":
    """Finished trials with a value, plus the best value so far (completed trials only), for the history chart."""
    import pandas as pd

    if trials.empty:
        return pd.DataFrame(columns=["number", "state", "value", "best_so_far"])
    done = trials[trials["value"].notna()][["number", "state", "value"]].sort_values("number").copy()
    complete = done["value"].where(done["state"] == "complete")
    done["best_so_far"] = complete.cummax().ffill()
    return done.reset_index(drop=True)


def param_importances(name: str, storage: str | None = None) -> dict[str, float]:
    """fANOVA-style importances (Optuna's default evaluator) of the completed trials; {} while there are too few
    completed trials or too little variation to say anything."""
    import optuna

    study = load_study(name, storage)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < MIN_IMPORTANCE_TRIALS or not any(t.params for t in complete):
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}
    if any("too small" in str(w.message) or "will be equal" in str(w.message) for w in caught):
        return {}
    return {k: float(v) for k, v in importances.items()}


def study_settings(name: str, storage: str | None = None) -> dict:
    """The settings the study was created with (arch, budget, search space, fixed values)."""
    study = load_study(name, storage)
    settings = dict(study.user_attrs.get(STUDY_ATTR) or {})
    settings.setdefault("arch", name.split("-")[0])
    return settings


def resume_config(name: str, n_trials: int = 10, storage: str | None = None) -> dict:
    """A tune job config that continues a study with the settings it was created with."""
    settings = study_settings(name, storage)
    return TuneConfig(arch=settings["arch"], n_trials=n_trials, study=name, storage=storage).to_dict()


def best_train_config(name: str, storage: str | None = None, keep_limit: bool = False) -> dict:
    """The best trial as a full training run ('Train best'): its values and the study's fixed settings, with the
    registry recipe's epochs and no per-trial caps (batches per epoch, validation batches). The study's data limit
    is kept only when asked."""
    from .train import make_config

    study = load_study(name, storage)
    settings = study_settings(name, storage)
    best_value, params = best_of(study)
    if best_value is None:
        raise InvalidConfig(f"study: '{name}' has no completed trial yet.")
    fixed = {k: v for k, v in (settings.get("fixed") or {}).items() if k not in BUDGET_KEYS}
    overrides = decode({**fixed, **params}, data_choices())
    if keep_limit and settings.get("limit"):
        overrides["limit"] = settings["limit"]
    return make_config(settings["arch"], overrides).to_dict()


__all__ = ["TuneConfig", "StudyPlan", "DataChoices", "run_study", "run_tune_job", "open_storage", "storage_url",
           "base_space", "narrow_space", "parse_range", "plan_study", "trial_config", "new_study_name",
           "list_studies", "trials_frame", "history_frame", "param_importances", "best_train_config",
           "resume_config", "study_settings", "study_summary", "load_study", "PRUNERS"]
