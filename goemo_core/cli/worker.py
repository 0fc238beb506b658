"""`worker`: train the waiting cells of benchmark grids (and queued tuning trials) on a shared Optuna storage."""

from __future__ import annotations

import contextlib
import signal
import sys

from ..errors import InvalidConfig
from . import emit, log


def register(commands, parent) -> None:
    worker = commands.add_parser(
        "worker", parents=[parent], help="train waiting grid cells and queued tuning trials from a shared storage",
        description="Takes the next waiting cell of the grids in the storage (bench accuracy --study NAME) or a "
                    "queued trial of a tuning study (tune --enqueue N), trains it as an ordinary run, records the "
                    "run id and metrics on the trial, and heartbeats while it trains. Ctrl-C finishes the cell in "
                    "hand and stops; a second Ctrl-C or SIGTERM stops within one batch and gives the cell back.")
    worker.add_argument("--storage", metavar="URL", help="the shared Optuna storage (default: GOEMO_OPTUNA_STORAGE); "
                                                         "PostgreSQL for workers on several machines")
    worker.add_argument("--study", action="append", default=[], metavar="NAME",
                        help="serve only this grid or tuning study (repeatable; default: every grid, and every "
                             "tuning study's queued trials)")
    worker.add_argument("--gpus", metavar="all|none|0,1", help="the GPUs to train on (default: all visible; none: "
                                                                "the CPU)")
    worker.add_argument("--slots", type=int, metavar="K", help="cells at once per GPU (default GOEMO_GPU_SLOTS) or "
                                                                "on the CPU (default 1)")
    worker.add_argument("--exit-when-idle", action="store_true",
                        help="stop once no cell waits or runs in the served studies (default: keep polling)")
    worker.add_argument("--poll", type=float, default=None, metavar="S",
                        help="seconds between looks for waiting cells while idle (default 10)")
    worker.set_defaults(handler=run_worker)


def run_worker(args) -> int:
    import optuna

    from ..jobs.lanes import lane_devices, serve_lanes
    from ..jobs.worker import DEFAULT_POLL_S, STATES, StopFlags, WorkerOptions, worker_id
    from .tune import check_study_name

    for name in args.study:
        check_study_name(name)
    poll = DEFAULT_POLL_S if args.poll is None else args.poll
    if not 0 < poll <= 3600:
        raise InvalidConfig(f"--poll: {poll} must be between 0 and 3600 seconds.")
    devices = lane_devices(args.gpus, args.slots)
    options = WorkerOptions(storage=args.storage, studies=tuple(dict.fromkeys(args.study)),
                            exit_when_idle=args.exit_when_idle, poll_s=poll)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stop = StopFlags(log)
    received: list[int] = []

    def on_signal(signum, frame) -> None:
        received.append(signum)
        (stop.terminate if signum == signal.SIGTERM else stop.interrupt)()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints links on stdout; stdout is for the result
            lanes = serve_lanes(options, devices, stop, log)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    trials = [trial for lane in lanes for trial in lane["trials"]]
    document = {"worker": worker_id(), "storage": lanes[0]["storage"], "devices": devices,
                **{state: sum(lane[state] for lane in lanes) for state in STATES},
                "stopped": "signal" if received else lanes[0]["stopped"], "trials": trials, "lanes": lanes}
    emit(args, document, lambda: (
        f"worker {document['worker']}: {document['done']} done, {document['failed']} failed, {document['released']} "
        f"released on {', '.join(devices)}; stopped ({document['stopped']})"))
    if received:
        return 143 if signal.SIGTERM in received else 130
    return 0
