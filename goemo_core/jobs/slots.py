"""Slots per device, handed out first in, first out: a job queued earlier on a device always starts before a later one
(a plain semaphore wakes its waiters in no particular order), and a queued job can say how many jobs are ahead of
it."""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable


class Slots:
    """`sizes` jobs at once per device (at least one); the others wait in one queue per device, in the order they
    were queued."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes = {device: max(1, int(n)) for device, n in sizes.items()}
        self._queues: dict[str, deque[str]] = {device: deque() for device in self.sizes}
        self._running = dict.fromkeys(self.sizes, 0)
        self._changed = threading.Condition()

    def __contains__(self, device: str) -> bool:
        return device in self.sizes

    def enqueue(self, device: str, job_id: str) -> None:
        """Put `job_id` at the back of `device`'s queue (when it is submitted, so the order is the submission's)."""
        with self._changed:
            self._queues[device].append(job_id)
            self._changed.notify_all()

    def acquire(self, device: str, job_id: str, cancelled: Callable[[], bool], poll_s: float = 0.2) -> bool:
        """Wait until `job_id` is first in its queue and a slot of `device` is free, then take the slot: True. False
        (and out of the queue) as soon as `cancelled()` says so."""
        with self._changed:
            queue = self._queues[device]
            while not (queue and queue[0] == job_id and self._running[device] < self.sizes[device]):
                if cancelled():
                    if job_id in queue:
                        queue.remove(job_id)
                    self._changed.notify_all()
                    return False
                self._changed.wait(poll_s)
            queue.popleft()
            self._running[device] += 1
            self._changed.notify_all()
            return True

    def release(self, device: str) -> None:
        with self._changed:
            self._running[device] -= 1
            self._changed.notify_all()

    def ahead(self, device: str, job_id: str) -> int | None:
        """How many jobs `job_id` waits for: those running on `device` and those queued before it; None when it is
        not queued."""
        with self._changed:
            queue = list(self._queues[device])
            return self._running[device] + queue.index(job_id) if job_id in queue else None


def waiting_text(device: str, ahead: int) -> str:
    """What a queued job's card says, e.g. 'waiting for the CPU slot: 1 job ahead'."""
    slot = "the CPU slot" if device == "cpu" else "a GPU slot"
    return f"waiting for {slot}: {ahead} job{'' if ahead == 1 else 's'} ahead"
