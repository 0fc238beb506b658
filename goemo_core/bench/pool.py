"""Training many runs of a benchmark: one after the other here, or several at once, each in a spawned process of
its own (CPU runs share the cores instead of oversubscribing them)."""

from __future__ import annotations

import os
import sys
from typing import Callable, Sequence

import torch

from ..runs.folder import Run
from ..runs.store import RunStore
from ..training.config import TrainConfig
from ..training.run import train_run


def train_all(configs: Sequence[TrainConfig], parallel: int, log: Callable[[str], None],
              resumes: Sequence[str | None] | None = None) -> list[str]:
    """Run ids of `configs` trained in order, `parallel` at a time in processes of their own (one: here). `resumes`,
    beside the configs: the stopped run each one goes on from, or None to start a run."""
    resumes = list(resumes) if resumes is not None else [None] * len(configs)
    if parallel <= 1 or len(configs) <= 1:
        ids = []
        for config, resume in zip(configs, resumes):
            log(f"{config.arch} seed {config.seed}: training")
            ids.append(train_run(config, log=log, resume=stopped_run(resume)).run.run_id)
        return ids
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // parallel)  # CPU runs share the cores instead of oversubscribing
    with ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(train_in_process, config, threads, resume) for config, resume in zip(configs, resumes)]
        for config in configs:
            log(f"{config.arch} seed {config.seed}: training (up to {parallel} at once)")
        return [future.result() for future in futures]


def stopped_run(run_id: str | None) -> Run | None:
    return RunStore().get(run_id) if run_id is not None else None


def train_in_process(config: TrainConfig, threads: int, resume: str | None = None) -> str:
    """One benchmark run in a worker process, its log lines on stderr marked with the run it belongs to."""
    if not config.device.startswith("cuda"):
        torch.set_num_threads(threads)

    def log(message: str) -> None:
        print(f"[{config.arch} seed {config.seed}] {message}", file=sys.stderr, flush=True)

    return train_run(config, log=log, resume=stopped_run(resume)).run.run_id
