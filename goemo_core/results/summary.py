"""Repeats of one recipe pooled over seeds: mean ± sample std of every metric over the completed seeds that have it,
one row per recipe with the recipe chosen on validation marked and each row tested against its task's best (Holm's
correction over the task's rows), and the leaderboard of each architecture's chosen recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..data.tasks import get_task
from ..errors import MissingResource
from ..evaluation.calibration import calibration_row, ensure_calibration, stored_calibration
from ..runs.folder import Run
from ..runs.schemas import is_number
from ..serving.cost import COST_AXES
from .attack_columns import ATTACK_COLUMNS, attack_columns, common_sample
from .choice import by_validation, degenerate, validation_of, validation_order
from .recipes import pretrained_name, readable, recipe_changes, recipe_groups, task_of
from .significance import holm, seed_difference, seed_spread, significance_mark

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


SPREAD_NOTE = "± is the sample standard deviation over seeds (n − 1 in the denominator)"
SUMMARY_METRICS = ("accuracy", "macro_f1", "val_accuracy", "val_macro_f1", "best_epoch", "epoch_seconds")


def present(values: Sequence) -> list[float]:
    """The finite numbers among `values` (a seed without the figure is left out, not counted as 0)."""
    return [float(v) for v in values if is_number(v)]


def summarise_runs(runs: Sequence[Run]) -> dict:
    """Mean ± sample std (ddof 1) of the test accuracy, macro-F1 and expected calibration error (before and after
    temperature scaling, from each run's stored calibration.json: None unless every seed has one) over the seeds of
    runs that repeat one recipe (see `pooled`), with the validation means the recipe is chosen by, the mean best
    epoch and seconds per epoch. Each figure pools the seeds that have it: `n_by_metric` names the figures fewer
    seeds recorded than `n`. The spread is None below two values."""
    used = pooled(runs)
    if not used:
        raise ValueError("none of these runs is completed with test metrics")
    rows = []
    for run in used:
        seconds = [h["seconds"] for h in run.history if isinstance(h.get("seconds"), (int, float))]
        kept = run.info.get("best_epoch")
        val_accuracy, val_f1 = validation_of(run)
        calibration = calibration_row(run)
        rows.append({"run_id": run.run_id, "seed": run.config.get("seed"), "accuracy": run.metrics["accuracy"],
                     "macro_f1": run.metrics.get("macro_f1"), "val_accuracy": val_accuracy, "val_macro_f1": val_f1,
                     "ece": calibration["test_ece"], "ece_calibrated": calibration["test_ece_calibrated"],
                     "best_epoch": kept if isinstance(kept, (int, float)) and not isinstance(kept, bool) else None,
                     "epoch_seconds": float(np.mean(seconds)) if seconds else None})

    def mean(key: str) -> float:
        values = present(r[key] for r in rows)
        return float(np.mean(values)) if values else float("nan")

    def spread(key: str) -> float | None:
        return seed_spread(present(r[key] for r in rows))

    def every_seed(key: str) -> tuple[float | None, float | None]:
        """Mean and spread of a figure only some runs have (calibration: computed from stored probabilities);
        None unless every seed has it."""
        if any(r[key] is None for r in rows):
            return None, None
        return mean(key), spread(key)

    counts = {key: len(present(r[key] for r in rows)) for key in SUMMARY_METRICS}
    costs = [cost_of(run) for run in used]
    cost_means = {key: float(np.mean(values)) if (values := [c[key] for c in costs if c[key] is not None]) else None
                  for key in COST_AXES}
    for key in ("parameters", "trainable_parameters"):  # counts: whole numbers
        cost_means[key] = None if cost_means[key] is None else int(round(cost_means[key]))
    return {"arch": used[0].config.get("arch"), "n": len(rows), "seeds": [r["seed"] for r in rows], **cost_means,
            "n_by_metric": {key: n for key, n in counts.items() if n != len(rows)},
            "accuracy_mean": mean("accuracy"), "accuracy_std": spread("accuracy"),
            "macro_f1_mean": mean("macro_f1"), "macro_f1_std": spread("macro_f1"),
            "val_accuracy_mean": mean("val_accuracy"), "val_macro_f1_mean": mean("val_macro_f1"),
            "best_epoch_mean": mean("best_epoch"), "epoch_seconds": mean("epoch_seconds"),
            **dict(zip(("ece_mean", "ece_std"), every_seed("ece"))),
            **dict(zip(("ece_calibrated_mean", "ece_calibrated_std"), every_seed("ece_calibrated"))),
            "device": ", ".join(sorted({str(r.config.get("device_name") or r.config.get("device")) for r in used})),
            "runs": [r["run_id"] for r in rows], "per_seed": rows}


def mean_std(mean: float, std: float | None, digits: int, n: int | None = None) -> str:
    """'67.03 ± 0.13' (± the sample standard deviation), or the mean alone where a single seed gives no spread;
    `n`, when given, is how many seeds the figure pools (said where fewer seeds than the recipe's have it)."""
    if mean is None or mean != mean:
        return "–"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None and std == std else " (one seed)")
    return text + (f" (n = {n})" if n is not None and n > 1 else "")


def format_limit(limit: object) -> str:
    """A `limit` as a whole number ('2,000'); '' for the full data."""
    return f"{int(limit):,}" if is_number(limit) else ""


SUMMARY_COLUMNS = ["arch", "task", "changes", "pretrained", "augment", "limit", "data_source", "runs", "seeds",
                   "chosen", "val_accuracy_mean", "val_macro_f1_mean", "test_accuracy_mean", "test_accuracy_std",
                   "test_macro_f1_mean", "test_macro_f1_std", "n_by_metric", "test_ece_mean", "test_ece_std",
                   "test_ece_calibrated_mean", "test_ece_calibrated_std", "best_epoch_mean", "epoch_seconds",
                   *COST_AXES, "device", "vs_best", "per_seed_accuracy", "per_seed_macro_f1", "run_ids",
                   "warning", *ATTACK_COLUMNS]


def calibrate_pooled(runs: Sequence[Run], log: Callable[[str], None] = lambda message: None) -> int:
    """Compute the missing calibration.json of every run a summary pools (see evaluation.calibration); a run that
    cannot be scored (no stored probabilities, data gone) is noted and left without. Returns how many were
    computed."""
    computed = 0
    for members in recipe_groups(runs).values():
        for run in pooled(members):
            if stored_calibration(run) is not None:
                continue
            try:
                ensure_calibration(run)
                computed += 1
            except MissingResource as exc:
                log(f"no calibration for {run.run_id}: {exc}")
    return computed


def left_out(runs: Sequence[Run]) -> list[Run]:
    """Readable runs no summary pools: not completed (cancelled, interrupted, diverged, failed, running) or without
    test metrics. They are listed with their status everywhere else."""
    return [run for run in readable(runs) if not (run.status == "completed" and run.metrics
                                                  and "accuracy" in run.metrics)]


def seed_summary(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per recipe among the completed runs: repeats of the same settings (different seeds) pooled into
    mean ± sample std, best validation first. `chosen` marks, per architecture and task, the full-data recipe with
    the best mean validation accuracy (ties: validation macro-F1; macro-F1 first on a multi-label task): the one to
    report. Test metrics never choose. `vs_best`: each other full-data row against its task's best chosen recipe
    (Welch's t-test over seeds, Holm-adjusted over the rows of the task)."""
    import pandas as pd

    rows, sample = [], common_sample(readable(runs))  # accuracy under attack: one sample for every row
    for members in recipe_groups(runs).values():
        if not pooled(members):
            continue
        summary, config = summarise_runs(members), members[0].config
        rows.append({"arch": summary["arch"], "task": task_of(config), "changes": recipe_changes(config) or "defaults",
                     "pretrained": pretrained_name(config),
                     "augment": config.get("augment") or "", "limit": config.get("limit"),
                     "data_source": config.get("data_source") or "",
                     "runs": summary["n"], "seeds": summary["seeds"], "chosen": False,
                     "val_accuracy_mean": summary["val_accuracy_mean"],
                     "val_macro_f1_mean": summary["val_macro_f1_mean"],
                     "test_accuracy_mean": summary["accuracy_mean"], "test_accuracy_std": summary["accuracy_std"],
                     "test_macro_f1_mean": summary["macro_f1_mean"], "test_macro_f1_std": summary["macro_f1_std"],
                     "test_ece_mean": summary["ece_mean"], "test_ece_std": summary["ece_std"],
                     "test_ece_calibrated_mean": summary["ece_calibrated_mean"],
                     "test_ece_calibrated_std": summary["ece_calibrated_std"],
                     "n_by_metric": summary["n_by_metric"],
                     "best_epoch_mean": summary["best_epoch_mean"], "epoch_seconds": summary["epoch_seconds"],
                     **{key: summary[key] for key in COST_AXES}, "device": summary["device"],
                     "per_seed_accuracy": [r["accuracy"] for r in summary["per_seed"]],
                     "per_seed_macro_f1": [r["macro_f1"] for r in summary["per_seed"]],
                     "run_ids": summary["runs"], "warning": recipe_warning(pooled(members)),
                     **attack_columns(pooled(members), sample)})
    # best validation first, a degenerate recipe after every other: chosen only where nothing else is
    rows.sort(key=lambda r: (not r["warning"], by_validation(validation_order(r))), reverse=True)
    picked: set[tuple] = set()
    for row in rows:  # best validation first: the first full-data row of each (architecture, task) is chosen
        if row["limit"] is None and (row["arch"], row["task"]) not in picked:
            row["chosen"] = True
            picked.add((row["arch"], row["task"]))
    mark_against_best(rows)
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    frame["limit"] = pd.Series([row["limit"] for row in rows], index=frame.index, dtype=object)  # 2,000, not 2000.0
    return frame


def mark_against_best(rows: list[dict]) -> None:
    """`vs_best` of each row: the best chosen full-data recipe of its task, limited data, or each other full-data
    row's test against that best (on macro-F1 for a multi-label task), with the p-values of one task's rows
    Holm-adjusted together: every recipe is tested against the best, so the family shares the 5 % error rate."""
    best: dict[str, dict] = {}
    family: dict[str, list[tuple[dict, dict]]] = {}
    for row in rows:  # best validation first: a task's first chosen row is its best
        if row["limit"] is not None:
            row["vs_best"] = "limited data"
        elif row["chosen"] and row["task"] not in best:
            best[row["task"]] = row
            row["vs_best"] = "best on validation"
        else:
            measure = "per_seed_macro_f1" if get_task(row["task"]).multi_label else "per_seed_accuracy"
            family.setdefault(row["task"], []).append((row, seed_difference(row[measure],
                                                                            best[row["task"]][measure])))
    for tests in family.values():
        adjusted = holm([test["p_value"] for _, test in tests])
        for (row, test), p_value in zip(tests, adjusted):
            row["vs_best"] = significance_mark(p_value, test["underpowered"], test.get("note"))


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
