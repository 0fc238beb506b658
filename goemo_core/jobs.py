"""Background jobs in threads: a process-wide JobManager with a bounded number of jobs per device, progress,
live history, log lines, cancel, and the traceback of a failure. Knows nothing of streamlit."""

from __future__ import annotations

import importlib
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import Cancelled, GoEmoError

JOB_STATES = ("queued", "running", "completed", "failed", "cancelled")
DONE_STATES = ("completed", "failed", "cancelled")

# kind → "module:function"; a handler is handler(config: dict, context: JobContext) -> dict (the job's result)
HANDLERS: dict[str, str] = {
    "train": "goemo_core.train_jobs:run_train_job",
    "augment": "goemo_core.augment:run_augment_job",
    "tune": "goemo_core.tune:run_tune_job",
}


@dataclass
class Job:
    id: str
    kind: str
    title: str
    config: dict
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
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES

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


class JobContext:
    """What a running job may touch: progress, history, logs, its run id, and the cancel flag."""

    def __init__(self, job: Job):
        self.job = job

    @property
    def cancel(self) -> threading.Event:
        return self.job.cancel_event

    def cancelled(self) -> bool:
        return self.job.cancel_event.is_set()

    def check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled("cancelled by the user")

    def progress(self, fraction: float, text: str | None = None) -> None:
        self.job.progress = float(min(1.0, max(0.0, fraction)))
        if text is not None:
            self.job.progress_text = text

    def add_history(self, record: dict) -> None:
        self.job.history = [*self.job.history, dict(record)]  # replace, so readers never see a list mid-append

    def log(self, message: str) -> None:
        self.job.logs.append(f"{time.strftime('%H:%M:%S')} {message}")

    def set_run(self, run_id: str) -> None:
        self.job.run_id = run_id


def _load_handler(kind: str, handlers: dict[str, str | Callable]) -> Callable[[dict, JobContext], dict]:
    target = handlers[kind]
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def default_slots() -> dict[str, int]:
    """One job at a time per GPU, and one on the CPU."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"cpu": 1, **({"cuda": gpus} if gpus else {})}


class JobManager:
    """Runs jobs in background threads. Each job waits for a slot on its device ("cpu" or "cuda"), so at most
    `slots[device]` jobs run at once there. On creation, runs left 'running' by a dead process are marked
    'interrupted'."""

    def __init__(self, slots: dict[str, int] | None = None, handlers: dict[str, str | Callable] | None = None,
                 store=None):
        from .runs import RunStore

        self.handlers = {**HANDLERS, **(handlers or {})}
        self.slots = slots or default_slots()
        self._semaphores = {device: threading.Semaphore(max(1, n)) for device, n in self.slots.items()}
        self._threads: dict[str, threading.Thread] = {}
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.store = store or RunStore()
        try:
            self.interrupted = self.store.mark_interrupted()
        except OSError:
            self.interrupted = []

    # -- submitting and controlling -------------------------------------------------------------------------
    def submit(self, kind: str, config: dict, title: str | None = None, device: str | None = None) -> str:
        if kind not in self.handlers:
            raise GoEmoError(f"Unknown job kind '{kind}' (known: {', '.join(self.handlers)}).")
        device_key = self._device_key(device or config.get("device", "cpu"))
        job = Job(id=uuid.uuid4().hex[:8], kind=kind, title=title or kind, config=dict(config), device=device_key)
        # A daemon thread per job (the semaphores bound how many run): stopping the server must not wait for a
        # long training run; its run directory is marked 'interrupted' at the next start-up.
        thread = threading.Thread(target=self._run, args=(job,), name=f"goemo-job-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            self._threads[job.id] = thread
        thread.start()
        return job.id

    def cancel(self, job_id: str) -> None:
        """A queued job ends at once; a running one stops at its next cancel check (between batches)."""
        job = self.get(job_id)
        with self._lock:  # never interleaves with _run taking the job from queued to running
            job.cancel_event.set()
            if job.status == "queued":
                self._finish(job, "cancelled")

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise GoEmoError(f"No job '{job_id}'.")
            return self._jobs[job_id]

    def jobs(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted((j for j in jobs if kind is None or j.kind == kind), key=lambda j: j.created, reverse=True)

    def active(self, kind: str | None = None) -> list[Job]:
        return [j for j in self.jobs(kind) if not j.done]

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
        """Cancel the jobs still queued or running (unless `cancel` is False) and wait for their threads."""
        if cancel:
            for job in self.active():
                self.cancel(job.id)
        with self._lock:
            threads = list(self._threads.values())
        deadline = None if timeout is None else time.time() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.time()))

    # -- running ----------------------------------------------------------------------------------------------
    def _device_key(self, device: str) -> str:
        """The slot a job waits for: the device it will really train on ('auto' follows GOEMO_DEVICE)."""
        device = str(device or "cpu").lower()
        if device == "auto":
            from .settings import get_settings

            device = get_settings().device
        wants_gpu = device.startswith("cuda") or device == "auto"
        return "cuda" if wants_gpu and "cuda" in self._semaphores else "cpu"

    def _run(self, job: Job) -> None:
        semaphore = self._semaphores[job.device]
        while not semaphore.acquire(timeout=0.2):
            if job.cancel_event.is_set():
                return self._finish(job, "cancelled")
        try:
            with self._lock:  # see cancel()
                if job.done:  # cancelled while queued
                    return
                job.status, job.started, job.progress_text = "running", time.time(), "starting"
            context = JobContext(job)
            try:
                job.result = _load_handler(job.kind, self.handlers)(job.config, context) or {}
                status = job.result.get("status", "completed") if isinstance(job.result, dict) else "completed"
                self._finish(job, "cancelled" if job.cancel_event.is_set() and status != "completed" else status)
            except Cancelled:
                self._finish(job, "cancelled")
            except GoEmoError as exc:  # a message meant for the user: no traceback on the card
                job.error = str(exc)
                context.log(f"error: {exc}")
                self._finish(job, "failed")
            except BaseException as exc:  # a job never takes the app down
                job.error = f"{type(exc).__name__}: {exc}"
                job.traceback = traceback.format_exc()
                context.log(f"error: {job.error}")
                self._finish(job, "failed")
        finally:
            semaphore.release()

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
        job.status = status  # last: whoever sees a finished status also sees `finished` and the progress


_MANAGER: JobManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_manager() -> JobManager:
    """The process-wide manager (the app also holds it in st.cache_resource)."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = JobManager()
        return _MANAGER


def job_summary(job: Job) -> dict[str, Any]:
    """A plain dict of a job, for tables and JSON."""
    return {"id": job.id, "kind": job.kind, "title": job.title, "status": job.status, "progress": job.progress,
            "progress_text": job.progress_text, "run_id": job.run_id, "error": job.error,
            "elapsed_s": round(job.elapsed, 1), "eta_s": job.eta_seconds}
