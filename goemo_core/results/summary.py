"""Repeats of one recipe pooled over seeds: mean ± std of every metric over the completed seeds, one row per
recipe with the recipe chosen on validation marked and each row tested against its task's best, and the
leaderboard of each architecture's chosen recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..data.tasks import get_task
from ..runs.folder import Run
from ..serving.cost import COST_AXES
from .choice import by_validation, degenerate, validation_of, validation_order
from .recipes import pretrained_name, readable, recipe_changes, recipe_groups, task_of
from .significance import seed_difference, significance_mark

if TYPE_CHECKING:
    import pandas as pd


def cost_of(run: Run) -> dict:
    """The run's cost figures (see goemo_core.serving.cost), with what older runs recorded elsewhere."""
    cost = dict((run.metrics or {}).get("cost") or {})
    cost.setdefault("parameters", run.info.get("parameters"))
    cost.setdefault("train_seconds", run.info.get("seconds"))
    return {key: cost.get(key) for key in COST_AXES}


def pooled(runs: Sequence[Run]) -> list[Run]:
    """The runs a summary pools: completed runs with test metrics, a seed counted once (its latest run). Cancelled,
    interrupted, diverged and failed runs never stand for a seed."""
    latest: dict = {}
    for run in sorted(readable(runs), key=lambda r: (str(r.config.get("created") or ""), r.run_id)):
        if run.status == "completed" and run.metrics and "accuracy" in run.metrics:
            latest[run.config.get("seed")] = run
    return [latest[seed] for seed in sorted(latest, key=lambda seed: (seed is None, seed or 0))]


def summarise_runs(runs: Sequence[Run]) -> dict:
    """Mean ± population std of the test accuracy and macro-F1 over the seeds of runs that repeat one recipe (see
    `pooled`), with the validation means the recipe is chosen by, the mean best epoch and seconds per epoch. The
    spread is None below two seeds."""
    used = pooled(runs)
    if not used:
        raise ValueError("none of these runs is completed with test metrics")
    rows = []
    for run in used:
        seconds = [h["seconds"] for h in run.history if isinstance(h.get("seconds"), (int, float))]
        kept = run.info.get("best_epoch")
        val_accuracy, val_f1 = validation_of(run)
        rows.append({"run_id": run.run_id, "seed": run.config.get("seed"), "accuracy": run.metrics["accuracy"],
                     "macro_f1": run.metrics.get("macro_f1"), "val_accuracy": val_accuracy, "val_macro_f1": val_f1,
                     "best_epoch": kept if isinstance(kept, (int, float)) and not isinstance(kept, bool) else None,
                     "epoch_seconds": float(np.mean(seconds)) if seconds else None})

    def mean(key: str) -> float:
        values = [r[key] for r in rows if r[key] is not None and r[key] == r[key]]
        return float(np.mean(values)) if values else float("nan")

    def spread(key: str) -> float | None:
        return float(np.std([r[key] for r in rows])) if len(rows) >= 2 else None

    costs = [cost_of(run) for run in used]
    cost_means = {key: float(np.mean(values)) if (values := [c[key] for c in costs if c[key] is not None]) else None
                  for key in COST_AXES}
    for key in ("parameters", "trainable_parameters"):  # counts: whole numbers
        cost_means[key] = None if cost_means[key] is None else int(round(cost_means[key]))
    return {"arch": used[0].config.get("arch"), "n": len(rows), "seeds": [r["seed"] for r in rows], **cost_means,
            "accuracy_mean": mean("accuracy"), "accuracy_std": spread("accuracy"),
            "macro_f1_mean": mean("macro_f1"), "macro_f1_std": spread("macro_f1"),
            "val_accuracy_mean": mean("val_accuracy"), "val_macro_f1_mean": mean("val_macro_f1"),
            "best_epoch_mean": mean("best_epoch"), "epoch_seconds": mean("epoch_seconds"),
            "device": ", ".join(sorted({str(r.config.get("device_name") or r.config.get("device")) for r in used})),
            "runs": [r["run_id"] for r in rows], "per_seed": rows}


def mean_std(mean: float, std: float | None, digits: int) -> str:
    """'67.03 ± 0.13', or the mean alone where a single seed gives no spread."""
    if mean is None or mean != mean:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None and std == std else " (one seed)")


SUMMARY_COLUMNS = ["arch", "task", "changes", "pretrained", "augment", "limit", "runs", "seeds", "chosen",
                   "val_accuracy_mean", "val_macro_f1_mean", "test_accuracy_mean", "test_accuracy_std",
                   "test_macro_f1_mean", "test_macro_f1_std", "best_epoch_mean", "epoch_seconds", *COST_AXES, "device",
                   "vs_best", "per_seed_accuracy", "per_seed_macro_f1", "run_ids", "warning"]


def left_out(runs: Sequence[Run]) -> list[Run]:
    """Readable runs no summary pools: not completed (cancelled, interrupted, diverged, failed, running) or without
    test metrics. They are listed with their status everywhere else."""
    return [run for run in readable(runs) if not (run.status == "completed" and run.metrics
                                                  and "accuracy" in run.metrics)]


def seed_summary(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per recipe among the completed runs: repeats of the same settings (different seeds) pooled into
    mean ± std, best validation first. `chosen` marks, per architecture and task, the full-data recipe with the best
    mean validation accuracy (ties: validation macro-F1): the one to report. Test metrics never choose."""
    import pandas as pd

    rows = []
    for members in recipe_groups(runs).values():
        if not pooled(members):
            continue
        summary, config = summarise_runs(members), members[0].config
        rows.append({"arch": summary["arch"], "task": task_of(config), "changes": recipe_changes(config) or "defaults",
                     "pretrained": pretrained_name(config),
                     "augment": config.get("augment") or "", "limit": config.get("limit"),
                     "runs": summary["n"], "seeds": summary["seeds"], "chosen": False,
                     "val_accuracy_mean": summary["val_accuracy_mean"],
                     "val_macro_f1_mean": summary["val_macro_f1_mean"],
                     "test_accuracy_mean": summary["accuracy_mean"], "test_accuracy_std": summary["accuracy_std"],
                     "test_macro_f1_mean": summary["macro_f1_mean"], "test_macro_f1_std": summary["macro_f1_std"],
                     "best_epoch_mean": summary["best_epoch_mean"], "epoch_seconds": summary["epoch_seconds"],
                     **{key: summary[key] for key in COST_AXES}, "device": summary["device"],
                     "per_seed_accuracy": [r["accuracy"] for r in summary["per_seed"]],
                     "per_seed_macro_f1": [r["macro_f1"] for r in summary["per_seed"]],
                     "run_ids": summary["runs"], "warning": recipe_warning(pooled(members))})
    # best validation first, a degenerate recipe after every other: chosen only where nothing else is
    rows.sort(key=lambda r: (not r["warning"], by_validation(validation_order(r))), reverse=True)
    picked: set[tuple] = set()
    for row in rows:  # best validation first: the first full-data row of each (architecture, task) is chosen
        if row["limit"] is None and (row["arch"], row["task"]) not in picked:
            row["chosen"] = True
            picked.add((row["arch"], row["task"]))
    best: dict[str, dict] = {}
    for row in rows:  # each full-data row against its task's best chosen recipe
        if row["limit"] is not None:
            row["vs_best"] = "limited data"
        elif row["chosen"] and row["task"] not in best:
            best[row["task"]] = row
            row["vs_best"] = "best on validation"
        else:
            measure = "per_seed_macro_f1" if get_task(row["task"]).multi_label else "per_seed_accuracy"
            test = seed_difference(row[measure], best[row["task"]][measure])
            row["vs_best"] = significance_mark(test["p_value"], test["underpowered"])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def recipe_warning(runs: Sequence[Run]) -> str:
    """Why a recipe's model is degenerate (see choice.degenerate), with how many of its seeds are; '' when none."""
    reasons = [reason for reason in map(degenerate, runs) if reason]
    if not reasons:
        return ""
    share = "" if len(reasons) == len(runs) else f" ({len(reasons)} of {len(runs)} seeds)"
    return f"degenerate: {max(set(reasons), key=reasons.count)}{share}"


def leaderboard(runs: Sequence[Run], task: str = "ekman") -> pd.DataFrame:
    """Each architecture's chosen full-data recipe for `task` (best mean validation accuracy), best validation first,
    with its test metrics reported and `vs_best`: whether its test accuracy differs from the first row's beyond the
    seeds' noise (Welch's t-test over seeds; see goemo_core.results.significance)."""
    summary = seed_summary(runs)
    return summary[summary["chosen"] & (summary["task"] == task)].reset_index(drop=True)
