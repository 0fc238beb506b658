"""Whether a process is still the one that was recorded: a pid together with its start time names one process,
even after the pid is reused by another (Linux's /proc; elsewhere the pid alone)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def max_pid() -> int:
    """The largest process id this system hands out (Linux's pid_max; 2^22 where it cannot be read)."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text().strip())
    except (OSError, ValueError):
        return 1 << 22


def process_start_time(pid: int) -> int | None:
    """When process `pid` started, in clock ticks after boot (field 22 of /proc/<pid>/stat); None where there is
    no /proc or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: Any, started: int | None = None) -> bool:
    """Whether process `pid` runs and, when `started` is known, is the process that started then. An impossible
    pid (not a positive whole number, beyond what the system hands out) is no process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid > max_pid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    except OSError:
        return False
    now = process_start_time(pid)
    return started is None or now is None or started == now
