"""Background work: the JobManager (`manager`: queued jobs, slots per device, worker processes, cancel, crashes),
what a running job reports (`context`), the first-in, first-out slots per device (`slots`), the kinds of work it
runs (`work`) and the process each runs in (`process`); and `goemo worker`, which trains the waiting trials of studies
on a shared Optuna storage (`worker`: grid cells and queued tuning trials, heartbeats, retries, a clean stop) in one
lane per slot (`lanes`).

May import: attacks, bench, tune, training, augment, runs, settings, errors."""

from .manager import Job, JobManager, get_manager

__all__ = ["Job", "JobManager", "get_manager"]
