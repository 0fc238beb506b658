"""Background work: the JobManager (`manager`: queued jobs, slots per device, worker processes, cancel, crashes),
what a running job reports (`context`) and the kinds of work it runs (`work`).

May import: attacks, tune, training, augment, runs, settings, errors."""

from .manager import Job, JobManager, get_manager

__all__ = ["Job", "JobManager", "get_manager"]
