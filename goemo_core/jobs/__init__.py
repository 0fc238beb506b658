"""Background work: the JobManager (`manager`: queued jobs, slots per device, worker processes, cancel, crashes),
what a running job reports (`context`), the first-in, first-out slots per device (`slots`) and the kinds of work it
runs (`work`) and the process each runs in (`worker`).

May import: attacks, tune, training, augment, runs, settings, errors."""

from .manager import Job, JobManager, get_manager

__all__ = ["Job", "JobManager", "get_manager"]
