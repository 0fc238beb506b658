"""`bench accuracy`: every architecture's default recipe trained for each seed on the full data (or a limit),
reusing completed runs of the same recipe and seed, summarised over seeds as a table."""

from __future__ import annotations

import time
from typing import Callable, Sequence

from ..data.tasks import get_task
from ..models import get_architecture, resolve_params
from ..results.recipes import recipe_key
from ..results.summary import SPREAD_NOTE, mean_std, summarise_runs
from ..runs.folder import Run
from ..runs.store import RunStore
from ..settings import get_settings
from ..training.checkpoint import resumable_runs
from ..training.config import TrainConfig, make_config, pretrained_source
from .baseline import tfidf_baseline
from .pool import train_all


def bench_accuracy(archs: Sequence[str], seeds: int = 3, baseline: bool = False, limit: int | None = None,
                   epochs: int | None = None, device: str | None = None, fresh: bool = False, parallel: int = 1,
                   log: Callable[[str], None] = lambda m: None, task: str | None = None,
                   settings: dict | None = None) -> dict:
    """Train each architecture with its default recipe (with `settings`, e.g. {"adversarial": 0.05}, applied to
    every run) for each seed on the full data (or `limit`);
    report test accuracy and macro-F1 mean ± sample std, best epoch, epoch time, parameters, device, and the wall time.
    A completed run with the same settings, seed, data and device is reused and a stopped one resumed from its
    checkpoint unless `fresh`, so an interrupted benchmark goes on where it stopped; a run another process is
    training is waited for (see train_missing). `parallel` runs train at once, each in a process of its own. `task`
    (default ekman) is the task every run trains on."""
    started = time.perf_counter()
    store = RunStore()
    configs = grid_configs(archs, seeds, limit, epochs, device, task, settings)
    cells = [(config.arch, config.seed) for config in configs]
    trained = train_missing(configs, parallel, fresh, log)
    run_ids = dict(zip(cells, trained))
    rows = [summarise_runs([store.get(run_ids[arch, seed]) for seed in range(211, 211 + seeds)]) for arch in archs]
    document = {"seeds": seeds, "limit": limit, "task": task or "ekman", "parallel": parallel, "rows": rows,
                "spread": SPREAD_NOTE, "wall_seconds": round(time.perf_counter() - started, 1)}
    if baseline:
        document["baseline"] = tfidf_baseline(limit, task=task)
    return document


def grid_configs(archs: Sequence[str], seeds: int = 3, limit: int | None = None, epochs: int | None = None,
                 device: str | None = None, task: str | None = None, settings: dict | None = None) -> list[TrainConfig]:
    """The configs of `bench accuracy`'s grid, architecture by architecture, seeds 211, 212, …; a bad architecture
    (e.g. the transformer without an encoder) is refused here, before hours of work."""
    def config_for(arch: str, seed: int) -> TrainConfig:
        overrides = {**(settings or {}), "seed": seed, **({"limit": limit} if limit else {}),
                     **({"epochs": epochs} if epochs else {}), **({"device": device} if device else {}),
                     **({"task": task} if task else {})}
        return make_config(arch, overrides)

    for arch in archs:
        config_for(arch, 211)
    return [config_for(arch, seed) for arch in archs for seed in range(211, 211 + seeds)]


def grid_plan(configs: Sequence[TrainConfig], fresh: bool = False,
              name: Callable[[TrainConfig], str] = lambda config: config.arch) -> list[dict]:
    """What running the grid of `configs` now would do with each run, training nothing: reuse a completed run,
    wait for one another process is training, resume a stopped one after its last finished epoch, or train one
    (`fresh`: train every one)."""
    store = RunStore()
    rows = []
    for config in configs:
        state, run = cell_state(config, store, fresh)
        rows.append({"model": name(config), "seed": config.seed, "state": state,
                     "run": run.run_id if run is not None else None,
                     "epochs_done": len(run.history) if run is not None else 0, "epochs": config.epochs})
    return rows


PLAN_WORDS = {"completed": "done: reused", "elsewhere": "being trained by another process: waited for",
              "stopped": "stopped part-way: resumed", "new": "to train"}


def plan_table(rows: Sequence[dict]) -> str:
    """Markdown table of grid_plan, with a count of each state."""
    lines = ["| model | seed | what a run of the grid does | run | epochs trained |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['seed']} | {PLAN_WORDS[row['state']]} | {row['run'] or '–'} | "
                     f"{row['epochs_done']} of {row['epochs']} |")
    counts = {state: sum(row["state"] == state for row in rows) for state in PLAN_WORDS}
    lines.append("")
    lines.append(", ".join(f"{count} {PLAN_WORDS[state].split(':')[0]}" for state, count in counts.items() if count))
    return "\n".join(lines)


# How often a grid looks again at a cell another process is training (see train_missing).
WAIT_SECONDS = 60.0


def train_missing(configs: Sequence[TrainConfig], parallel: int, fresh: bool, log: Callable[[str], None],
                  name: Callable[[TrainConfig], str] = lambda config: config.arch) -> list[str]:
    """A run id for each config: a completed run of it reused, a stopped one resumed from its checkpoint, or a new
    one trained (`fresh`: always a new one), `parallel` at a time.

    A cell that another process is training right now is left to it and waited for, so several workers started on
    the same grid (the same GOEMO_HOME) share its cells and train nothing twice. One at a time, each cell is looked
    at only when its turn comes, so a worker started later takes the cells the first has not begun."""
    store = RunStore()
    run_ids: list[str | None] = [None] * len(configs)
    waiting, announced = list(range(len(configs))), set()
    while waiting:
        elsewhere, batch = [], []
        for place in waiting:
            config = configs[place]
            state, run = cell_state(config, store, fresh)
            label = f"{name(config)} seed {config.seed}"
            if state == "completed":
                log(f"{label}: reusing completed run {run.run_id}")
                run_ids[place] = run.run_id
                continue
            if state == "elsewhere":
                if place not in announced:
                    owner = run.owner
                    log(f"{label}: run {run.run_id} is being trained by another process (pid {owner.get('pid')} on "
                        f"{owner.get('host')}); waiting for it")
                    announced.add(place)
                elsewhere.append(place)
                continue
            if state == "stopped":
                log(f"{label}: resuming stopped run {run.run_id}")
            resume = run.run_id if run is not None else None
            if parallel <= 1:
                run_ids[place] = train_all([config], 1, log, [resume])[0]
            else:
                batch.append((place, config, resume))
        if batch:
            trained = train_all([config for _, config, _ in batch], parallel, log, [r for *_, r in batch])
            for (place, _, _), run_id in zip(batch, trained):
                run_ids[place] = run_id
        if elsewhere and len(elsewhere) == len(waiting):  # nothing else to do meanwhile
            time.sleep(WAIT_SECONDS)
        waiting = elsewhere
    return [str(run_id) for run_id in run_ids]


def cell_state(config: TrainConfig, store: RunStore, fresh: bool) -> tuple[str, Run | None]:
    """What a grid does with `config`'s cell: ("completed", run) reuse it, ("elsewhere", run) wait for the process
    training it, ("stopped", run) resume it, ("new", None) train it."""
    if fresh:
        return "new", None
    done = completed_repeat(config, store)
    if done is not None:
        return "completed", done
    live = {run.run_id for run in store.live()}
    training = [run for run in repeats(config, store) if run.run_id in live]
    if training:
        return "elsewhere", training[0]
    stopped = resumable_repeat(config, store)
    return ("stopped", stopped) if stopped is not None else ("new", None)


def completed_repeat(config: TrainConfig, store: RunStore) -> Run | None:
    """A completed run of exactly `config`: the same recipe (see report.recipe_key) and seed, data source,
    pretrained encoder and device kind."""
    return next((run for run in repeats(config, store) if run.status == "completed" and run.metrics), None)


def resumable_repeat(config: TrainConfig, store: RunStore) -> Run | None:
    """A run of exactly `config` that stopped part-way (cancelled, or left running by a process that is gone) with a
    checkpoint to go on from; the one that got furthest."""
    resumable = {run.run_id for run in resumable_runs(store)}
    stopped = [run for run in repeats(config, store) if run.run_id in resumable]
    return max(stopped, key=lambda run: len(run.history), default=None)


def repeats(config: TrainConfig, store: RunStore) -> list[Run]:
    """The runs of exactly `config`, whatever their status: the same recipe and seed, data source, pretrained
    encoder and device kind."""
    settings = get_settings()
    spec = get_architecture(config.arch)
    wanted = {**config.to_dict(), "params": resolve_params(spec, config.params),
              "pretrained": pretrained_source(config, settings), "data_source": settings.data_source}
    key = recipe_key(wanted)
    device = config.device.split(":")[0]
    return [run for run in store.list()
            if run.config.get("seed") == config.seed
            and str(run.config.get("device", "")).split(":")[0] == device
            and run.config.get("data_source") == settings.data_source and recipe_key(run.config) == key]


def accuracy_table(document: dict) -> str:
    """Markdown table of `bench_accuracy` output (the README's results table)."""
    accuracy = get_task(document.get("task")).accuracy_name
    lines = [f"| model | validation {accuracy} (%) | test {accuracy} (%) | macro-F1 | best epoch | s / epoch "
             "| parameters | device |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in document["rows"]:
        lines.append(f"| {r['arch']} | {r['val_accuracy_mean']:.2f} | "
                     f"{mean_std(r['accuracy_mean'], r['accuracy_std'], 2)} | "
                     f"{mean_std(r['macro_f1_mean'], r['macro_f1_std'], 3)} | {r['best_epoch_mean']:.1f} | "
                     f"{r['epoch_seconds']:.1f} | {r['parameters']:,} | {r['device']} |")
    if "baseline" in document:
        b = document["baseline"]
        lines.append(f"| TF-IDF + logistic regression | - | {b['accuracy']:.2f} | {b['macro_f1']:.3f} | - | - | - "
                     "| CPU |")
    lines.append(f"\n{SPREAD_NOTE}.")
    if "wall_seconds" in document:
        lines.append(f"\nwall time {document['wall_seconds'] / 60:.1f} min, "
                     f"{document.get('parallel', 1)} run(s) at once")
    return "\n".join(lines)
