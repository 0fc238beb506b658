"""A worker's lanes: the cells it trains at once, as the JobManager's slots do (GOEMO_GPU_SLOTS per GPU, one on the
CPU). One lane runs in this process; several run in spawned processes of their own (one device each), which this
process supervises: it passes Ctrl-C and SIGTERM on to them and gathers their summaries."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, replace
from typing import Callable

from ..errors import GoEmoError, InvalidConfig, MissingResource
from .manager import gpu_slots
from .worker import StopFlags, Worker, WorkerOptions

_SPAWN = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child


def lane_devices(gpus: str | None = None, slots: int | None = None) -> list[str]:
    """The device of each lane: `slots` (default GOEMO_GPU_SLOTS) per GPU of `gpus` ("all", the default: every
    visible GPU; "none": the CPU; or "0,2"), else `slots` (default one) on the CPU."""
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    text = (gpus or "all").strip().lower()
    if text == "all":
        ids = list(range(visible))
    elif text == "none":
        ids = []
    else:
        try:
            ids = list(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
        except ValueError:
            raise InvalidConfig(f"--gpus: '{gpus}' is not all, none or GPU numbers such as 0,1.") from None
        missing = [i for i in ids if not 0 <= i < visible]
        if missing or not ids:
            raise InvalidConfig(f"--gpus: GPU {', '.join(map(str, missing or ids))} does not exist (this machine "
                                f"has {visible} visible GPU(s)).")
    if slots is not None and slots < 1:
        raise InvalidConfig(f"--slots: {slots} must be at least 1.")
    if not ids:
        return ["cpu"] * (slots or 1)
    return [f"cuda:{i}" for i in ids for _ in range(slots or gpu_slots())]


def serve_lanes(options: WorkerOptions, devices: list[str], stop: StopFlags,
                log: Callable[[str], None]) -> list[dict]:
    """Serve with one lane per device until idle (with exit_when_idle) or stopped; one summary per lane."""
    if len(devices) == 1:
        return [Worker(replace(options, device=devices[0]), stop, log).serve()]
    results = _SPAWN.Queue()
    threads = max(1, (os.cpu_count() or 1) // len(devices))  # CPU lanes share the cores instead of oversubscribing
    lanes = [_SPAWN.Process(target=lane_main, name=f"goemo-lane-{i}", args=(asdict(options), device, threads,
                                                                                 results, os.getpid()))
             for i, device in enumerate(devices)]
    for lane in lanes:
        lane.start()
    forwarder = threading.Thread(target=_forward, args=(stop, lanes), name="goemo-lane-signals", daemon=True)
    forwarder.start()
    summaries = []
    while any(lane.is_alive() for lane in lanes) or not results.empty():
        with contextlib.suppress(Exception):
            summaries.append(results.get(timeout=0.5))
    for lane in lanes:
        lane.join()
    failed = [summary for summary in summaries if summary.get("error")]
    if failed:
        raise (MissingResource if failed[0].get("missing") else GoEmoError)(failed[0]["error"])
    if len(summaries) < len(lanes):
        raise GoEmoError(f"{len(lanes) - len(summaries)} lane(s) of the worker died without a summary")
    return summaries


def _forward(stop: StopFlags, lanes: list) -> None:
    """Ctrl-C and SIGTERM on this process reach every lane (the lanes ignore the terminal's own Ctrl-C)."""
    sent: set[str] = set()
    while any(lane.is_alive() for lane in lanes):
        stop.wake.wait(0.5)
        stop.wake.clear()
        for flag, signum in (("finish", signal.SIGINT), ("cancel", signal.SIGTERM)):
            if getattr(stop, flag).is_set() and flag not in sent:
                sent.add(flag)
                for lane in lanes:
                    if lane.is_alive():
                        os.kill(lane.pid, signum)


def lane_main(options: dict, device: str, threads: int, results, parent: int) -> None:
    """One lane in a spawned process: its own stop flags (signals come from the parent), its log lines on stderr
    marked with its device, its summary (or error) on the queue. If the parent dies, the lane stops as on SIGTERM."""
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per cell of ours instead
    os.setpgid(0, 0)  # the terminal's Ctrl-C reaches the parent only, which passes it on once
    if not device.startswith("cuda"):
        torch.set_num_threads(threads)

    def log(message: str) -> None:
        print(f"[{device} pid {os.getpid()}] {message}", file=sys.stderr, flush=True)

    stop = StopFlags(log)
    signal.signal(signal.SIGINT, stop.interrupt)
    signal.signal(signal.SIGTERM, stop.terminate)

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        stop.terminate()

    threading.Thread(target=watch_parent, name="goemo-lane-parent", daemon=True).start()
    with contextlib.redirect_stdout(sys.stderr):
        try:
            results.put(Worker(WorkerOptions(**{**options, "device": device}), stop, log).serve())
        except GoEmoError as exc:
            results.put({"error": str(exc), "device": device, "missing": isinstance(exc, MissingResource)})
        except BaseException as exc:
            results.put({"error": f"{type(exc).__name__}: {exc}", "device": device})
