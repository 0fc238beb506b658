"""`goemo worker`: trains the waiting trials of studies on a shared Optuna storage, on any machine that reaches it.

What a worker serves: with no study named, every benchmark grid in the storage (its waiting cells, oldest grid
first) and every tuning study's waiting trials (those queued for workers with `tune --enqueue N`, sampled by the
study's TPE when the worker starts them); with `--study NAME` (repeatable) only those studies, grid or tuning. A grid
cell trains as an ordinary run (train_run: its folder here, its MLflow mirror when GOEMO_MLFLOW_TRACKING_URI is
set) and its trial records the run id and metrics; a tuning trial trains as `tune` trains it.

A cell is taken by moving its trial from WAITING to RUNNING in one row-locked update, so two workers never take the
same one. While it trains, the worker records a heartbeat every GOEMO_OPTUNA_HEARTBEAT_S; a worker that dies stops
beating, the next worker that looks fails its trial after GOEMO_OPTUNA_GRACE_S and a grid queues the cell again once
(tune.storage.RETRY_ATTR). Stopping: Ctrl-C finishes the cell in hand and then stops; a second Ctrl-C, or SIGTERM
(systemd, SLURM), stops within one batch and releases the cell (its run is kept, cancelled; the trial is failed,
marked released, and the cell queued again without using its retry)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..bench.grid import CELL_ATTR, Cell, enqueue_cell
from ..errors import Cancelled, GoEmoError, InvalidConfig, MissingResource
from ..runs.folder import RunLabel
from ..runs.schemas import MAX_NAME, MAX_TAG
from ..settings import describe_device, mask_text, mask_url
from ..training.run import train_run
from ..tune.plan import GRID_ATTR, STUDY_ATTR, TuneConfig, stored_settings
from ..tune.storage import fail_stale_trials, open_storage, storage_url, uses_heartbeats
from ..tune.study import StudyRunner

if TYPE_CHECKING:
    import optuna

DEFAULT_POLL_S = 10.0  # how often an idle worker looks for waiting trials
STATES = ("done", "pruned", "failed", "released")  # how a worker's trials ended (pruned: tuning trials only)


@dataclass(frozen=True)
class WorkerOptions:
    storage: str | None = None
    studies: tuple[str, ...] = ()  # empty: every grid, and every tuning study's waiting trials
    device: str = "cpu"
    exit_when_idle: bool = False  # stop once nothing waits or runs in the served studies (else keep polling)
    poll_s: float = DEFAULT_POLL_S


class StopFlags:
    """What signals ask of a worker: `finish` (stop taking cells), `cancel` (stop the cell in hand, release it)."""

    def __init__(self, log: Callable[[str], None] = lambda message: None):
        self.finish, self.cancel, self.wake = threading.Event(), threading.Event(), threading.Event()
        self.log = log

    def interrupt(self, *_) -> None:
        """Ctrl-C: the first finishes the cell in hand, the second releases it."""
        if self.finish.is_set():
            self.cancel.set()
            self.log("stopping now: the cell in hand is released for another worker")
        else:
            self.finish.set()
            self.log("finishing the cell in hand, then stopping (Ctrl-C again: stop now and release it)")
        self.wake.set()

    def terminate(self, *_) -> None:
        """SIGTERM: stop within one batch and release the cell in hand."""
        self.finish.set()
        self.cancel.set()
        self.wake.set()


class Heartbeat:
    """Records the trial's heartbeat now and every interval until the block ends (what optimize() does for its own
    trials); a failed write is logged once and retried at the next beat."""

    def __init__(self, storage, trial_id: int, log: Callable[[str], None]):
        self.storage, self.trial_id, self.log = storage, trial_id, log
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"goemo-heartbeat-{trial_id}", daemon=True)
        self.warned = False

    def __enter__(self) -> "Heartbeat":
        self._record()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        while not self.stop.wait(self.storage.get_heartbeat_interval() or 60):
            self._record()

    def _record(self) -> None:
        try:
            self.storage.record_heartbeat(self.trial_id)
        except Exception as exc:  # a database hiccup: the next beat tries again
            if not self.warned:
                self.warned = True
                self.log(f"warning: heartbeat not recorded ({type(exc).__name__}); retrying every interval")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """One lane: takes waiting trials one at a time and trains them on `options.device`."""

    def __init__(self, options: WorkerOptions, stop: StopFlags | None = None,
                 log: Callable[[str], None] = lambda message: None):
        self.options, self.log = options, log
        self.stop = stop or StopFlags(log)
        self.url = storage_url(options.storage)
        if not uses_heartbeats(self.url):
            raise InvalidConfig(f"storage: {mask_url(self.url)} keeps no heartbeat, so a dead worker's trials would "
                                "never be retried; workers need PostgreSQL (or SQLite on one machine).")
        self.storage = open_storage(self.url)
        self.worker = worker_id()
        self.device_name = describe_device(options.device)
        self.done: list[dict] = []
        self.runners: dict[str, StudyRunner] = {}
        self.stopped = "signal"

    # -- finding work -------------------------------------------------------------------------------------------
    def served(self) -> list["optuna.Study"]:
        """The studies this worker takes trials from, looked up afresh (new grids join a running worker)."""
        import optuna

        if self.options.studies:
            names = list(self.options.studies)
        else:
            summaries = optuna.get_all_study_summaries(self.storage, include_best_trial=False)
            ordered = sorted(summaries, key=lambda s: getattr(s, "_study_id", 0))
            names = [s.study_name for s in ordered if GRID_ATTR in s.user_attrs] + [
                s.study_name for s in ordered if GRID_ATTR not in s.user_attrs and STUDY_ATTR in s.user_attrs]
        studies = []
        for name in names:
            try:
                studies.append(optuna.load_study(study_name=name, storage=self.storage))
            except KeyError:
                if self.options.studies:
                    raise InvalidConfig(f"--study: no study '{name}' in {mask_url(self.url)}.") from None
        return studies

    def claim(self) -> tuple["optuna.Study", "optuna.trial.FrozenTrial"] | None:
        """The next waiting trial of the served studies, now RUNNING and ours (its first heartbeat recorded), or
        None. Stale trials are failed first, so a dead worker's cell comes back as a waiting one."""
        import optuna
        import sqlalchemy.exc

        for study in self.served():
            fail_stale_trials(study)
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
                try:  # False, or an error, when another worker took it first
                    taken = self.storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.RUNNING)
                except (optuna.exceptions.UpdateFinishedTrialError, sqlalchemy.exc.OperationalError):
                    taken = False
                if taken:
                    self.storage.record_heartbeat(trial._trial_id)
                    return study, trial
        return None

    def pending(self) -> bool:
        """Whether a served study still has a trial waiting or running (a running one may come back if its worker
        dies)."""
        import optuna

        states = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
        return any(study.get_trials(deepcopy=False, states=states) for study in self.served())

    # -- the loop -----------------------------------------------------------------------------------------------
    def serve(self) -> dict:
        self.log(f"worker {self.worker} on {self.device_name} ({self.options.device}), storage "
                 f"{mask_url(self.url)}, serving {', '.join(self.options.studies) or 'every grid and tuning queue'}")
        lost = _storage_errors()
        while not self.stop.finish.is_set():
            try:
                claimed = self.claim()
                if claimed is None and self.options.exit_when_idle and not self.pending():
                    self.stopped = "idle"
                    break
            except lost as exc:  # the database restarts or the network drops: an idle worker waits it out
                self.log(f"storage unreachable ({self._error(exc)[:200]}); looking again in {self.options.poll_s:g} s")
                claimed = None
            if claimed is None:
                self.stop.wake.wait(self.options.poll_s)
                continue
            study, trial = claimed
            try:
                with Heartbeat(self.storage, trial._trial_id, self.log):
                    if GRID_ATTR in study.user_attrs:
                        self.train_cell(study, trial)
                    else:
                        self.train_tune_trial(study, trial)
            except MissingResource as exc:  # this machine lacks something (data, an encoder): stop, never fail it
                self.stopped = "error"
                raise MissingResource(f"{exc} (worker {self.worker} released trial {trial.number} of "
                                      f"{study.study_name} and stopped)") from None
            except lost as exc:  # its run is kept here; the trial, silent, is failed by heartbeat and retried
                self.log(f"[{study.study_name} #{trial.number}] storage lost while recording the trial "
                         f"({self._error(exc)[:200]}); the cell comes back to the queue after the grace period")
                self.done.append({"study": study.study_name, "trial": trial.number, "state": "failed"})
        return self.summary()

    def summary(self) -> dict:
        counts = {state: sum(row["state"] == state for row in self.done) for state in STATES}
        return {"worker": self.worker, "storage": mask_url(self.url), "device": self.options.device,
                "device_name": self.device_name, "stopped": self.stopped, **counts, "trials": self.done}

    # -- a grid cell --------------------------------------------------------------------------------------------
    def train_cell(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        number = trial.number
        row = {"study": study.study_name, "trial": number, "kind": "cell"}
        try:
            cell = Cell.from_attr(trial.user_attrs.get(CELL_ATTR))
            config = cell.train_config(self.options.device)
        except InvalidConfig as exc:  # a cell this version cannot read or resolve: failed, with the reason
            return self._finish(study, trial, row, "failed", error=str(exc))
        row.update(arch=cell.arch, seed=cell.seed, task=cell.task)
        self._attrs(trial, worker=self.worker, host=socket.gethostname(), device=self.device_name,
                    run_id=None, status=None, error=None, released=None)
        prefix = f"[{study.study_name} #{number} {cell.arch} seed {cell.seed}]"
        self.log(f"{prefix} training {cell.title()} on {self.options.device}")

        def on_epoch(record: dict) -> None:  # progress for the dashboard; a database hiccup must not stop training
            value = record.get(config.monitor)
            if isinstance(value, (int, float)):
                with contextlib.suppress(*_storage_errors()):
                    self.storage.set_trial_intermediate_value(trial._trial_id, int(record["epoch"]), float(value))

        def on_run_created(run) -> None:
            with contextlib.suppress(*_storage_errors()):
                self._attrs(trial, run_id=run.run_id)

        label = RunLabel.clean(f"{study.study_name} · {cell.arch} · seed {cell.seed}"[:MAX_NAME],
                               [f"grid {study.study_name}"[:MAX_TAG]])
        tags = {"goemo.grid": study.study_name, "goemo.cell": cell.key()[:500], "goemo.trial": str(number),
                "goemo.worker": self.worker}
        if self.stop.cancel.is_set():  # stopped while the cell was being taken: straight back to the queue
            return self._release(study, trial, cell, row, "the worker was stopped")
        try:
            result = train_run(config, on_epoch=on_epoch, cancel=self.stop.cancel, label=label, mirror_tags=tags,
                               log=lambda message: self.log(f"{prefix} {message}"),
                               on_run_created=on_run_created)
        except MissingResource:
            self._release(study, trial, cell, row, "this worker lacks a resource")
            raise
        except Exception as exc:  # the run failed (its folder says why): the cell is failed, the worker goes on
            return self._finish(study, trial, row, "failed", error=self._error(exc))
        run, metrics = result.run, result.metrics or {}
        row["run_id"] = run.run_id
        validation = metrics.get("validation") or {}
        self._attrs(trial, run_id=run.run_id, status=result.status, val_accuracy=validation.get("accuracy"),
                    val_macro_f1=validation.get("macro_f1"), test_accuracy=metrics.get("accuracy"),
                    test_macro_f1=metrics.get("macro_f1"), seconds=run.info.get("seconds"))
        if result.status == "cancelled" and self.stop.cancel.is_set():
            return self._release(study, trial, cell, row, "the worker was stopped")
        value = validation.get("accuracy" if config.monitor == "val_accuracy" else "macro_f1")
        if result.status != "completed" or not isinstance(value, (int, float)):
            return self._finish(study, trial, row, "failed", error=f"run {run.run_id} ended {result.status}")
        self._finish(study, trial, row, "done", value=float(value))

    # -- a tuning study's trial ---------------------------------------------------------------------------------
    def train_tune_trial(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
        import optuna

        row = {"study": study.study_name, "trial": trial.number, "kind": "tune"}
        self.log(f"[{study.study_name} #{trial.number}] tuning trial on {self.options.device}")
        try:
            frozen = self._runner(study).run_waiting_trial(trial._trial_id)
        except Cancelled:
            self._fail(study, trial, released="the worker was stopped")
            study.enqueue_trial({})  # the queued trial comes back, sampled afresh by whoever takes it
            row["state"] = "released"
            self.done.append(row)
            return
        except MissingResource:
            self._fail(study, trial, released="this worker lacks a resource")
            study.enqueue_trial({})
            raise
        except GoEmoError as exc:  # a setting no trial can fix: recorded on the trial by the runner
            return self._finish(study, trial, row, "failed", error=str(exc))
        state = {optuna.trial.TrialState.COMPLETE: "done", optuna.trial.TrialState.PRUNED: "pruned"}.get(
            frozen.state, "failed")
        row.update(state=state, value=frozen.value)
        self.done.append(row)

    def _runner(self, study: "optuna.Study") -> StudyRunner:
        """The study's runner (its plan and prepared data kept between its trials)."""
        if study.study_name not in self.runners:
            settings = stored_settings(study.user_attrs, study.study_name)
            config = TuneConfig(arch=settings.get("arch") or study.study_name.split("-")[0], n_trials=None,
                                study=study.study_name, storage=self.url, device=self.options.device)
            self.runners[study.study_name] = StudyRunner(config, cancel=self.stop.cancel, log=self.log)
        return self.runners[study.study_name]

    # -- recording ----------------------------------------------------------------------------------------------
    def _attrs(self, trial: "optuna.trial.FrozenTrial", **values) -> None:
        for key, value in values.items():
            self.storage.set_trial_user_attr(trial._trial_id, key, value)

    def _finish(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial", row: dict, state: str,
                value: float | None = None, error: str | None = None) -> None:
        """Tell the trial done (with its value) or failed (with the error), unless it was failed meanwhile."""
        import optuna

        number = trial.number
        if error is not None:
            self._attrs(trial, error=error)
            self.log(f"[{study.study_name} #{number}] failed: {error}")
        try:
            if state == "done":
                study.tell(number, value)
            else:
                study.tell(number, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # its heartbeat was missed for a whole grace period
            self.log(f"[{study.study_name} #{number}] was failed meanwhile (heartbeats missed); its run is kept here "
                     "and the cell may be trained again")
            state = "failed"
        row.update(state=state, value=value)
        self.done.append(row)

    def _fail(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial", **attrs) -> None:
        import optuna

        self._attrs(trial, **attrs)
        try:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass

    def _release(self, study: "optuna.Study", trial: "optuna.trial.FrozenTrial", cell: Cell, row: dict,
                 reason: str) -> None:
        """Give the cell back: the trial failed and marked released, the cell queued again (keeping its retry
        history, so a release never uses up the retry a dead worker's cell gets)."""
        self._fail(study, trial, released=reason)
        kept = {key: trial.system_attrs[key] for key in ("failed_trial", "retry_history") if key in trial.system_attrs}
        enqueue_cell(study, cell, kept)
        self.log(f"[{study.study_name} #{trial.number}] released ({reason}): queued again for another worker")
        row["state"] = "released"
        self.done.append(row)

    def _error(self, exc: BaseException) -> str:
        return mask_text(" ".join(f"{type(exc).__name__}: {exc}".split()), self.url)[:500]


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What a database that restarts or a network that drops raises through SQLAlchemy."""
    import sqlalchemy.exc

    return sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError


