"""`bench distill`: a student recipe trained over a grid of the distillation settings that matter (the teachers'
share α, the temperature T, transfer variants per sentence N), several seeds each; the setting is chosen on
validation accuracy, test figures are only reported. Completed runs with the same settings and seed are reused and
stopped ones resumed, so an interrupted sweep goes on where it stopped."""

from __future__ import annotations

import itertools
import time
from typing import Callable, Sequence

from ..errors import InvalidConfig
from ..results.choice import resolve_teachers
from ..results.summary import SPREAD_NOTE, mean_std, summarise_runs
from ..runs.store import RunStore
from ..training.config import TrainConfig, make_config
from ..training.teachers import check_teachers
from .accuracy import grid_plan, train_missing

SWEPT = ("distill_weight", "distill_temperature", "transfer_augment")


def sweep_configs(arch: str, teachers: Sequence[str], weights: Sequence[float], temperatures: Sequence[float],
                  transfers: Sequence[int], seeds: int, overrides: dict | None = None) -> list[list[TrainConfig]]:
    """One list of seed configs per point of the grid. α = 0 learns nothing from the teachers: it is trained once
    (T and N mean nothing there) as the student without distillation."""
    points, seen = [], set()
    for weight, temperature, transfer in itertools.product(weights, temperatures, transfers):
        if weight == 0:
            temperature, transfer = temperatures[0], 0
        if (weight, temperature, transfer) in seen:
            continue
        seen.add((weight, temperature, transfer))
        points.append([make_config(arch, {**(overrides or {}), "teachers": list(teachers), "seed": seed,
                                          "distill_weight": weight, "distill_temperature": temperature,
                                          "transfer_augment": transfer})
                       for seed in range(211, 211 + seeds)])
    if not points:
        raise InvalidConfig("bench distill: give at least one weight, temperature and transfer count.")
    return points


def chosen_teachers(arch: str, teachers: Sequence[str], overrides: dict | None = None,
                    log: Callable[[str], None] = lambda message: None) -> list[str]:
    """The teachers' run ids, `best:ARCH` resolved on the student's task and data (see results.choice)."""
    student = make_config(arch, {**(overrides or {}), "teachers": [], "transfer_augment": 0})
    return resolve_teachers(teachers, RunStore().list(), student.task, student.limit, log)


def bench_distill(arch: str, teachers: Sequence[str], weights: Sequence[float], temperatures: Sequence[float],
                  transfers: Sequence[int], seeds: int = 1, overrides: dict | None = None, parallel: int = 1,
                  fresh: bool = False, log: Callable[[str], None] = lambda message: None) -> dict:
    """Train every point of the grid (reusing completed runs unless `fresh`) and return {"rows": one per point with
    validation and test means, "chosen": the row with the best validation accuracy, …}."""
    teachers = chosen_teachers(arch, teachers, overrides, log)
    points = sweep_configs(arch, teachers, weights, temperatures, transfers, seeds, overrides)
    check_teachers(points[0][0])  # a missing or mismatched teacher is refused before any training
    started, store = time.perf_counter(), RunStore()
    configs = list(itertools.chain.from_iterable(points))
    trained = train_missing(configs, parallel, fresh, log, name=point_name)
    run_ids = {(point_of(config), config.seed): run_id for config, run_id in zip(configs, trained)}
    rows = []
    for seeds_of_point in points:
        point = point_of(seeds_of_point[0])
        summary = summarise_runs([store.get(run_ids[point, config.seed]) for config in seeds_of_point])
        rows.append({**dict(zip(SWEPT, point)), "runs": summary["n"],
                     "val_accuracy_mean": summary["val_accuracy_mean"],
                     "val_macro_f1_mean": summary["val_macro_f1_mean"],
                     "accuracy_mean": summary["accuracy_mean"], "accuracy_std": summary["accuracy_std"],
                     "macro_f1_mean": summary["macro_f1_mean"], "macro_f1_std": summary["macro_f1_std"],
                     "run_ids": summary["runs"], "chosen": False})
    best = max(rows, key=lambda row: row["val_accuracy_mean"])
    best["chosen"] = True
    return {"arch": arch, "teachers": list(teachers), "seeds": seeds, "limit": points[0][0].limit, "rows": rows,
            "chosen": {key: best[key] for key in SWEPT}, "wall_seconds": round(time.perf_counter() - started, 1)}


def point_of(config: TrainConfig) -> tuple:
    return tuple(getattr(config, key) for key in SWEPT)


def point_name(config: TrainConfig) -> str:
    return ", ".join(f"{key}={value}" for key, value in zip(SWEPT, point_of(config)))


def sweep_table(document: dict) -> str:
    """Markdown table of `bench_distill` output; ✓ marks the point chosen on validation."""
    lines = ["| | α | T | N | validation accuracy (%) | validation macro-F1 | test accuracy (%) | test macro-F1 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in document["rows"]:
        lines.append(f"| {'✓' if r['chosen'] else ''} | {r['distill_weight']:g} | {r['distill_temperature']:g} | "
                     f"{r['transfer_augment']} | {r['val_accuracy_mean']:.2f} | {r['val_macro_f1_mean']:.3f} | "
                     f"{mean_std(r['accuracy_mean'], r['accuracy_std'], 2)} | "
                     f"{mean_std(r['macro_f1_mean'], r['macro_f1_std'], 3)} |")
    lines.append(f"\n✓ chosen on validation accuracy; {document['seeds']} seed(s) per point, "
                 f"limit {document['limit'] or 'none'}, wall time {document['wall_seconds'] / 60:.1f} min. "
                 f"{SPREAD_NOTE}.")
    return "\n".join(lines)


def distill_plan(arch: str, teachers: Sequence[str], weights: Sequence[float], temperatures: Sequence[float],
                 transfers: Sequence[int], seeds: int = 1, overrides: dict | None = None,
                 fresh: bool = False, log: Callable[[str], None] = lambda message: None) -> list[dict]:
    """What `bench distill` with these arguments would do with each run now, training nothing (see grid_plan)."""
    teachers = chosen_teachers(arch, teachers, overrides, log)
    points = sweep_configs(arch, teachers, weights, temperatures, transfers, seeds, overrides)
    check_teachers(points[0][0])
    return grid_plan(list(itertools.chain.from_iterable(points)), fresh, name=point_name)
