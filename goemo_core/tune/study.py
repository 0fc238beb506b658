"""Running a study: one worker's optimisation loop (one Trainer per trial with the plan's budget, pruned on
per-epoch validation accuracy), cancel and fatal errors, masked logs, the summary, and the 'tune' background job."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Iterator

from ..data.text import pad_id
from ..errors import Cancelled, GoEmoError, MissingResource
from ..settings import Settings, effective_device, get_settings, mask_text, mask_url
from ..training.config import TrainConfig, pretrained_source
from ..training.prepare import PreparedData, build_model, count_parameters, prepare_data
from ..training.trainer import EpochProgress, Trainer
from .plan import TuneConfig, open_study, trial_config
from .space import data_choices, suggest
from .storage import fail_stale_trials, storage_url

if TYPE_CHECKING:
    import optuna


TrialCallback = Callable[[dict], None]
DATA_CACHE_SIZE = 2  # prepared data sets a worker keeps: the current trial's and one more
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
        self.device = effective_device(config.device)
        self.data: OrderedDict[tuple, PreparedData] = OrderedDict()  # the latest DATA_CACHE_SIZE data options
        self.fatal: BaseException | None = None
        self.finished = 0

    # -- the objective ----------------------------------------------------------------------------------------
    def _data(self, cfg: "TrainConfig") -> "PreparedData":
        """The prepared data of a trial's data options, from a small LRU cache: a study searching the max length
        would otherwise keep one copy of the splits and of the encoder's embeddings per length. Entries that differ
        only in max length share one embedding tensor."""
        source = pretrained_source(cfg, self.settings)
        key = (cfg.task, cfg.limit, cfg.augment, source, cfg.pretrained_vectors, cfg.max_length)
        if key in self.data:
            self.data.move_to_end(key)
            return self.data[key]
        self.log(f"loading and tokenising data (limit={cfg.limit}, augment={cfg.augment or 'no'}, "
                 f"pretrained={source or 'no'}, max_length={cfg.max_length})")
        data = prepare_data(cfg, self.settings)
        shared = next((entry.embedding_init for other, entry in self.data.items() if other[:5] == key[:5]), None)
        if shared is not None:  # the same tokenizer and encoder: the same vectors, kept once
            data = replace(data, embedding_init=shared)
        self.data[key] = data
        while len(self.data) > DATA_CACHE_SIZE:
            self.data.popitem(last=False)
        self.log(trial_budget(cfg, len(data.train)))
        return data

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
        target = cfg.monitor  # validation accuracy, or macro-F1 for a multi-label task (see plan.objective)
        started, best = time.perf_counter(), {target: -math.inf}

        def record_metrics() -> None:
            trial.set_user_attr("val_accuracy", best.get("val_accuracy"))
            trial.set_user_attr("val_macro_f1", best.get("val_macro_f1"))
            trial.set_user_attr("best_epoch", best.get("epoch"))
            trial.set_user_attr("epochs_run", len(best.get("history", ())))
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
            trial.set_user_attr("parameters", parameters)

        def on_epoch(record: dict) -> None:
            best.setdefault("history", []).append(record)
            if record[target] > best[target]:
                best.update(record)
            trial.report(record[target], record["epoch"])
            if trial.should_prune():
                record_metrics()
                raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")

        def on_progress(where: EpochProgress) -> None:
            self._report_progress(where.fraction)

        try:
            trainer.fit(data.train, data.validation, on_epoch=on_epoch, cancel=self.cancel, on_progress=on_progress)
            record_metrics()
            return float(best[target])
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
                 + (f": {(study.metric_names or ['value'])[0]} {record['value']:.4g}" if record["value"] is not None
                    else "")
                 + (f" ({record['seconds']:.1f} s)" if record.get("seconds") else "")
                 + (f" · {trial.user_attrs['error']}" if trial.user_attrs.get("error") else ""))
        if self.on_trial is not None:
            self.on_trial(record)
        self._report_progress()
        if self.cancel.is_set() or self.fatal is not None:
            study.stop()  # the only way out of optimize() between trials

    def run_waiting_trial(self, trial_id: int) -> "optuna.trial.FrozenTrial":
        """One trial a worker took from the study's queue (see goemo_core.jobs.worker), trained and told as
        optimize() would: complete, pruned, or failed with its error. Cancelled (the worker releases it) and the
        errors no trial can fix (GoEmoError) are raised after the trial is marked."""
        import optuna

        if getattr(self, "plan", None) is None:
            self.study, self.plan = open_study(self.config, self.choices)
        trial = optuna.Trial(self.study, trial_id)
        state, value = optuna.trial.TrialState.COMPLETE, None
        try:
            value = self.objective(trial)
        except optuna.TrialPruned:
            state = optuna.trial.TrialState.PRUNED
        except (Cancelled, GoEmoError):
            raise
        except Exception:  # recorded on the trial by objective(), as optimize(catch=(Exception,)) would
            state = optuna.trial.TrialState.FAIL
        return self.study.tell(trial, value, state=state)

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
                 f"{f'up to {self.plan.batches_per_epoch}' if self.plan.batches_per_epoch else 'all'} batches per "
                 f"trial, pruner {self.plan.pruner}, "
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


def trial_budget(cfg: "TrainConfig", train_examples: int) -> str:
    """What a trial really trains: the per-epoch budget capped by the batches the train split has."""
    available = math.ceil(train_examples / cfg.batch_size)
    batches = min(cfg.batches_per_epoch, available) if cfg.batches_per_epoch else available
    capped = f" (the split has {available:,})" if cfg.batches_per_epoch and cfg.batches_per_epoch > available else ""
    return (f"each trial trains {cfg.epochs} epoch(s) × {batches:,} batches of {cfg.batch_size}{capped} on "
            f"{train_examples:,} train examples")


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


def enqueue_trials(config: TuneConfig, count: int) -> dict:
    """Queue `count` trials of the study (created or joined as `run_study` would) for `goemo worker`s: waiting trials
    with no fixed value, sampled by the study's sampler when a worker starts each. Returns study_summary()."""
    study, _ = open_study(config)
    for _ in range(count):
        study.enqueue_trial({})
    return {**study_summary(study, config.storage), "enqueued": count}


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
            "states": states, "best_value": best_value, "best_params": best_params,
            "objective": (study.metric_names or ["validation accuracy (%)"])[0]}
