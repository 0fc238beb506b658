"""Background jobs: a process-wide JobManager that runs each job's work in a spawned worker process, supervised by a
thread of the manager. The server's own Python never competes with a training loop, and a crash of the work
(segfault, out-of-memory kill) becomes a failed job, not a dead app. Knows nothing of streamlit.

Slots bound the jobs that run at once per device (GOEMO_GPU_SLOTS per GPU, one on the CPU); the others queue, first
in, first out (see slots.py), each saying how many jobs it waits for. A worker streams progress, epoch records, log
lines and its run id back over a queue; cancel sets an event the work checks between batches; a worker still running
CANCEL_GRACE_S after it (a step that never looks: tokenising, EDA variants, timing) gets SIGTERM, and SIGKILL
KILL_GRACE_S later. Either way the job ends cancelled."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import GoEmoError
from ..runs.store import RunStore
from ..settings import effective_device
from .slots import Slots, waiting_text
from .work import HANDLERS
from .process import Handler, exit_reason, plain_main, worker_main

DONE_STATES = ("completed", "failed", "cancelled")
CANCEL_GRACE_S = 60.0  # a worker still running this long after a cancel is terminated (SIGTERM)
KILL_GRACE_S = 15.0  # and one still alive this long after that is killed (SIGKILL)
DEFAULT_GPU_SLOTS = 3  # small recurrent models leave a GPU mostly idle: several jobs share one
_SPAWN = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child


@dataclass
class Job:
    id: str
    kind: str
    title: str
    config: Any
    device: str
    status: str = "queued"
    progress: float = 0.0  # 0..1
    progress_text: str = "waiting for a free slot"
    history: list[dict] = field(default_factory=list)
    logs: deque = field(default_factory=lambda: deque(maxlen=400))
    result: dict | None = None
    run_id: str | None = None
    error: str | None = None  # one line for the card
    traceback: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    version: int = 0  # grows with every change, so a page can tell whether to redraw
    worker_pid: int | None = None
    cancel_event: Any = field(default_factory=_SPAWN.Event, repr=False)
    cancel_requested: float | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES

    @property
    def cancelling(self) -> bool:
        """Cancel was pressed and the worker has not stopped yet."""
        return self.cancel_requested is not None and not self.done

    @property
    def ever_ran(self) -> bool:
        """Whether a worker process was started (a job cancelled while queued never ran)."""
        return self.worker_pid is not None

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def eta_seconds(self) -> float | None:
        if self.status != "running" or self.progress <= 0.01:
            return None
        return self.elapsed * (1 - self.progress) / self.progress


def default_slots() -> dict[str, int]:
    """GOEMO_GPU_SLOTS jobs at a time per GPU, one on the CPU."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"cpu": 1, **({"cuda": gpus * gpu_slots()} if gpus else {})}


def gpu_slots() -> int:
    try:
        return max(1, int(os.environ.get("GOEMO_GPU_SLOTS") or DEFAULT_GPU_SLOTS))
    except ValueError:
        return DEFAULT_GPU_SLOTS


# --- the manager ----------------------------------------------------------------------------------------------


class JobManager:
    """Runs jobs in worker processes, each supervised by a thread. `handlers` maps a job kind to a module-level
    function (it travels to the worker by name; see goemo_core.jobs.work); `slots` bounds the jobs per device."""

    def __init__(self, handlers: dict[str, Handler], slots: dict[str, int] | None = None,
                 store: RunStore | None = None):
        self.handlers = dict(handlers)
        self.slots = slots or default_slots()
        self.store = store
        self._slots = Slots(self.slots)
        self._threads: dict[str, threading.Thread] = {}
        self._processes: dict[str, Any] = {}
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    # -- submitting and controlling -------------------------------------------------------------------------
    def submit(self, kind: str, config: Any, title: str | None = None, device: str | None = None) -> str:
        """Queue `config` (a TrainConfig, TuneConfig or AugmentSpec, validated by the caller) for the handler of
        `kind`; returns the job id."""
        if kind not in self.handlers:
            raise GoEmoError(f"Unknown job kind '{kind}' (known: {', '.join(self.handlers)}).")
        device_key = self._device_key(device or _config_device(config))
        job = Job(id=uuid.uuid4().hex[:8], kind=kind, title=title or kind, config=config, device=device_key)
        # daemon: stopping the server never waits on a supervisor; shutdown() stops the workers first
        thread = threading.Thread(target=self._supervise, args=(job,), name=f"goemo-job-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            self._threads[job.id] = thread
        self._slots.enqueue(device_key, job.id)  # first in, first out: the order of submission
        self._say_waiting(device_key)
        thread.start()
        return job.id

    def cancel(self, job_id: str) -> None:
        """A queued job ends at once; a running one stops at its worker's next check (between batches)."""
        job = self.get(job_id)
        with self._lock:  # never interleaves with _supervise taking the job from queued to running
            job.cancel_event.set()
            job.cancel_requested = job.cancel_requested or time.monotonic()
            if job.status == "queued":
                self._finish(job, "cancelled")
            else:
                job.progress_text = "cancelling after the current batch…"
                job.version += 1

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise GoEmoError(f"No job '{job_id}'.")
            return self._jobs[job_id]

    def jobs(self, kind: str | None = None) -> list[Job]:
        """Running jobs first, then queued, then finished ones; newest first within each."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted((j for j in jobs if kind is None or j.kind == kind), key=_card_order)

    def active(self, kind: str | None = None) -> list[Job]:
        return [j for j in self.jobs(kind) if not j.done]

    def version(self, kind: str | None = None) -> tuple:
        """Changes whenever a job of `kind` is added, removed or reports something."""
        return tuple((j.id, j.version) for j in self.jobs(kind))

    def remove(self, job_id: str) -> None:
        """Forget a finished job (its run directory stays)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.done:
                del self._jobs[job_id]
                self._threads.pop(job_id, None)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        job, deadline = self.get(job_id), None if timeout is None else time.time() + timeout
        while not job.done:
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout}s")
            time.sleep(0.05)
        return job

    def shutdown(self, cancel: bool = True, timeout: float | None = None) -> None:
        """Cancel the jobs still queued or running (unless `cancel` is False) and wait for them to end: a cancelled
        training run keeps its best weights. Workers still running at the deadline are terminated."""
        if cancel:
            for job in self.active():
                self.cancel(job.id)
        with self._lock:
            threads = list(self._threads.values())
        deadline = None if timeout is None else time.time() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.time()))
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            if process.is_alive():
                process.kill()

    # -- running ----------------------------------------------------------------------------------------------
    def _device_key(self, device: str) -> str:
        """The slot a job waits for: the device it will really train on (settings.effective_device decides 'auto');
        a device this machine lacks queues on the CPU slot, where the job itself then reports the problem."""
        try:
            device = effective_device(device)
        except GoEmoError:
            return "cpu"
        return "cuda" if device.startswith("cuda") and "cuda" in self._slots else "cpu"

    def _supervise(self, job: Job) -> None:
        if not self._slots.acquire(job.device, job.id, job.cancel_event.is_set):
            self._finish(job, "cancelled")
            return self._say_waiting(job.device)
        self._say_waiting(job.device)
        try:
            with self._lock:  # see cancel()
                if job.done:  # cancelled while queued
                    return
                job.status, job.started, job.progress_text = "running", time.time(), "starting a worker process"
                job.version += 1
            self._run_worker(job)
        except BaseException as exc:  # the supervisor itself failed (e.g. no process could be started)
            self._fail(job, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            self._slots.release(job.device)
            self._say_waiting(job.device)

    def _say_waiting(self, device: str) -> None:
        """Each job queued on `device` says how many jobs it waits for."""
        for job in self.jobs():
            ahead = self._slots.ahead(device, job.id) if job.status == "queued" and job.device == device else None
            if ahead is not None and not job.cancel_event.is_set():
                job.progress_text = waiting_text(device, ahead)
                job.version += 1

    def _run_worker(self, job: Job) -> None:
        reader, writer = _SPAWN.Pipe(duplex=False)
        process = _SPAWN.Process(target=worker_main, name=f"goemo-{job.kind}-{job.id}", daemon=True,
                                 args=(self.handlers[job.kind], job.config, writer, job.cancel_event, os.getpid()))
        with plain_main():
            process.start()
        writer.close()  # the worker holds the only writing end: reading ends (EOF) when it exits
        with self._lock:
            self._processes[job.id] = process
        job.worker_pid = process.pid
        terminated: float | None = None
        try:
            while not job.done:
                try:
                    if not reader.poll(0.2):
                        terminated = self._stop_if_stuck(job, process, terminated)
                        continue
                    message = reader.recv()
                except (EOFError, OSError):  # the worker is gone without a final message
                    process.join(timeout=30)
                    if job.cancel_requested is None:  # a crash
                        self._fail(job, exit_reason(process.exitcode), None)
                    else:  # stopped after a cancel: its run keeps what it finished
                        self._finish(job, "cancelled")
                    break
                self._apply(job, message)
            process.join(timeout=30)
            if job.status in ("cancelled", "failed") and not process.is_alive():  # its writer is gone
                self._mark_run_stopped(job, job.status, job.error)
        finally:
            with self._lock:
                self._processes.pop(job.id, None)
            reader.close()

    @staticmethod
    def _stop_if_stuck(job: Job, process: Any, terminated: float | None) -> float | None:
        """A worker still running CANCEL_GRACE_S after a cancel gets SIGTERM (once); one still alive KILL_GRACE_S
        later gets SIGKILL. Returns when SIGTERM was sent."""
        now = time.monotonic()
        if job.cancel_requested is None or not process.is_alive():
            return terminated
        if terminated is None and now - job.cancel_requested > CANCEL_GRACE_S:
            job.logs.append(f"{time.strftime('%H:%M:%S')} still running after the cancel: SIGTERM")
            process.terminate()
            return now
        if terminated is not None and now - terminated > KILL_GRACE_S:
            job.logs.append(f"{time.strftime('%H:%M:%S')} still running after SIGTERM: SIGKILL")
            process.kill()
            return float("inf")  # once
        return terminated

    def _apply(self, job: Job, message: tuple) -> None:
        kind = message[0]
        if kind == "progress":
            job.progress = message[1]
            if message[2] is not None:
                job.progress_text = message[2]
        elif kind == "history":
            job.history = [*job.history, message[1]]  # replace, so readers never see a list mid-append
        elif kind == "log":
            job.logs.append(message[1])
        elif kind == "run":
            job.run_id = message[1]
        elif kind == "done":
            job.result = message[1]
            status = job.result.get("status", "completed") if isinstance(job.result, dict) else "completed"
            if status == "diverged":  # the run is kept (diverged, with its best weights); the job did not succeed
                job.error = "training diverged: the loss became non-finite (see the run's info); lower lr"
                status = "failed"
            self._finish(job, "cancelled" if job.cancel_event.is_set() and status != "completed" else status)
        elif kind == "cancelled":
            self._finish(job, "cancelled")
        elif kind == "error":
            job.logs.append(f"{time.strftime('%H:%M:%S')} error: {message[1]}")
            self._fail(job, message[1], message[2])
        job.version += 1

    def _fail(self, job: Job, error: str, trace: str | None) -> None:
        job.error, job.traceback = error, trace
        self._finish(job, "failed")

    def _mark_run_stopped(self, job: Job, status: str, reason: str | None) -> None:
        """The run a worker left 'running' (crashed: failed, with the reason; stopped: cancelled), epochs kept."""
        if job.run_id is None:
            return
        try:
            run = (self.store or RunStore()).get(job.run_id)
            if run.status == "running":
                if reason:
                    run.write_json("info.json", {**run.info, "error": reason})
                run.set_status(status)
        except (GoEmoError, OSError):
            pass

    @staticmethod
    def _finish(job: Job, status: str) -> None:
        if job.done:
            return
        status = status if status in DONE_STATES else "completed"
        job.finished = time.time()
        job.started = job.started or job.finished
        if status == "completed":
            job.progress = 1.0
        job.progress_text = status
        job.version += 1
        job.status = status  # last: whoever sees a finished status also sees `finished` and the progress


_MANAGER: JobManager | None = None
_MANAGER_LOCK = threading.Lock()
SHUTDOWN_WAIT_S = 20.0  # what a stopping server gives its workers to finish their batch and save


def get_manager() -> JobManager:
    """The process-wide manager (the app also holds it in st.cache_resource). When the process ends, running jobs
    are cancelled and their workers get a moment to keep what is finished."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = JobManager(HANDLERS)
            atexit.register(_MANAGER.shutdown, True, SHUTDOWN_WAIT_S)
        return _MANAGER


def _card_order(job: Job) -> tuple[int, float]:
    rank = {"running": 0, "queued": 1}.get(job.status, 2)
    return rank, -(job.finished if job.done and job.finished else job.created)


def live_runs_elsewhere(store: RunStore, jobs: list[Job]) -> list:
    """Runs being trained by a process that is not one of `jobs`' workers: started from the command line or by
    another server. Newest first."""
    own = {job.run_id for job in jobs if job.run_id}
    return [run for run in store.live() if run.run_id not in own]


def _config_device(config: Any) -> str:
    """The device a job's config asks for (dataclass field or dict key), "cpu" when it names none."""
    device = config.get("device") if isinstance(config, dict) else getattr(config, "device", None)
    return device or "cpu"
