"""Tables over run directories for the pages, the CLI and the benchmarks: the runs table, per-class comparisons,
repeats of one recipe pooled over seeds, the leaderboard, and the examples behind a confusion cell.
"Is this the same recipe" is answered here and only here (`recipe_key`)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .config import ABSENT_MEANS, RECIPE_KEYS, TrainConfig, make_config
from .cost import COST_AXES
from .data import EKMAN_CLASSES
from .errors import InvalidConfig, MissingResource
from .metrics import MEASURES, per_class_table
from .models import get_architecture, resolve_params
from .run_files import is_number
from .runs import Run, best_epoch
from .significance import seed_difference, significance_mark
from .tasks import get_task

if TYPE_CHECKING:
    import pandas as pd


def readable(runs: Sequence[Run]) -> list[Run]:
    """The runs whose files can be read (a damaged run folder is left out of every table, not fatal to it)."""
    return [run for run in runs if run.problem is None]


def cost_of(run: Run) -> dict:
    """The run's cost figures (see goemo_core.cost), with what older runs recorded elsewhere."""
    cost = dict((run.metrics or {}).get("cost") or {})
    cost.setdefault("parameters", run.info.get("parameters"))
    cost.setdefault("train_seconds", run.info.get("seconds"))
    return {key: cost.get(key) for key in COST_AXES}


def run_labels(runs: Sequence[Run]) -> dict[str, str]:
    """What legends call each run: its name, else its id; a name that several runs share gets their ids added."""
    names = [run.display_name for run in runs]
    return {run.run_id: name if names.count(name) == 1 or name == run.run_id else f"{name} ({run.run_id})"
            for run, name in zip(runs, names)}


def describe_run(run: Run) -> str:
    """A picker's line: name (or id) · architecture · data · epochs · test accuracy."""
    from .models import architectures

    config, metrics = run.config, run.metrics or {}
    arch = config.get("arch")
    title = architectures()[arch].title if arch in architectures() else str(arch)
    if run.is_ensemble:
        title = f"ensemble of {len(config.get('members') or [])}"
    data = f"limit {config['limit']:,}" if isinstance(config.get("limit"), int) else "full data"
    has_accuracy = isinstance(metrics.get("accuracy"), (int, float))
    accuracy = f"{metrics['accuracy']:.1f} %" if has_accuracy else "no test metrics"
    trained = "" if run.is_ensemble else f" · {len(run.history)} epochs"  # an ensemble trains nothing itself
    return f"{run.display_name} · {title} · {data}{trained} · {accuracy}"


def validation_of(run: Run) -> tuple[float, float]:
    """(validation accuracy, validation macro-F1) of the weights a run kept: what choosing between runs looks at.
    metrics.json records them; older runs have them in the history's best epoch. NaN where neither says."""
    validation = (run.metrics or {}).get("validation")
    if isinstance(validation, dict) and is_number(validation.get("accuracy")):
        f1 = validation.get("macro_f1")
        return float(validation["accuracy"]), float(f1) if is_number(f1) else float("nan")
    kept = best_epoch(run)
    for record in run.history:
        if record.get("epoch") == kept and is_number(record.get("val_accuracy")):
            f1 = record.get("val_macro_f1")
            return float(record["val_accuracy"]), float(f1) if is_number(f1) else float("nan")
    return float("nan"), float("nan")


def by_validation(values: tuple[float, float]) -> tuple[float, float]:
    """A sort key: higher validation accuracy first, ties broken by validation macro-F1; NaN last."""
    return tuple(v if v == v else float("-inf") for v in values)


def best_run(runs: Sequence[Run]) -> Run:
    """The run to try first, chosen on validation (test metrics are only reported): the completed full-data run with
    the best validation accuracy (ties: validation macro-F1), else the best completed one, else the newest."""
    done = [run for run in readable(runs) if run.status == "completed" and run.metrics]
    full = [run for run in done if run.config.get("limit") is None]
    pool = full or done
    return max(pool, key=lambda run: by_validation(validation_of(run))) if pool else runs[0]


def comparison_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per readable run: name, architecture, key hyperparameters, status, test metrics, epochs, cost,
    device."""
    import pandas as pd

    rows = []
    for run in readable(runs):
        summary, config = run.summary(), run.config
        params = config.get("params") or {}
        rows.append({
            "run_id": run.run_id,
            "name": summary["name"] or "",
            "arch": summary["arch"],
            "status": summary["status"],
            "val_accuracy": validation_of(run)[0] if run.metrics else None,
            "test_accuracy": summary["test_accuracy"],
            "test_macro_f1": summary["test_macro_f1"],
            "epochs": summary["epochs"],
            "best_epoch": best_epoch(run),
            "limit": config.get("limit"),
            **cost_of(run),
            "device": summary["device"],
            "embedding_dim": params.get("embedding_dim"),
            "hidden_size": params.get("hidden_size"),
            "layers": params.get("num_layers", params.get("num_blocks")),
            "lr": config.get("lr"),
            "batch_size": config.get("batch_size"),
            "optimizer": config.get("optimizer"),
            "augment": summary["augment"],
            "pretrained": summary["pretrained"],
            "seed": summary["seed"],
            "teachers": ", ".join(map(str, config.get("teachers") or [])),
            "tags": ", ".join(summary["tags"]),
            "created": summary["created"],
        })
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["run_id", "name", "arch", "status"])


def students_and_teachers(selected: Sequence[Run], runs: Sequence[Run]) -> pd.DataFrame:
    """A row per (selected distilled run, teacher): both runs' test metrics side by side and the gap between them,
    with the student's transfer set (the train texts it learnt the teachers on, of which `variants` were transfer
    variants without a label of their own). Teachers are looked up among `runs` (all runs), so a student is shown
    next to a teacher that is not selected; a deleted teacher keeps its id with empty metrics."""
    import pandas as pd

    by_id = {run.run_id: run for run in readable(runs)}
    rows = []
    for student in readable(selected):
        for teacher_id in map(str, student.config.get("teachers") or []):
            teacher = by_id.get(teacher_id)
            mine, theirs = student.metrics or {}, (teacher.metrics if teacher else None) or {}
            rows.append({
                "student": student.display_name, "student_accuracy": mine.get("accuracy"),
                "student_macro_f1": mine.get("macro_f1"),
                "transfer_set": student.config.get("train_examples"),
                "variants": student.config.get("transfer_examples") or 0,
                "teacher": teacher.display_name if teacher else f"{teacher_id} (deleted)",
                "teacher_accuracy": theirs.get("accuracy"), "teacher_macro_f1": theirs.get("macro_f1"),
            })
    frame = pd.DataFrame(rows, columns=["student", "student_accuracy", "student_macro_f1", "transfer_set",
                                        "variants", "teacher", "teacher_accuracy", "teacher_macro_f1"])
    return frame.assign(accuracy_gap=frame["student_accuracy"] - frame["teacher_accuracy"])


def per_class_comparison(metrics_by_run: dict[str, dict], measure: str = "f1",
                         classes: Sequence[str] = EKMAN_CLASSES) -> pd.DataFrame:
    """Rows: runs; columns: the task's classes, 'macro avg' and 'std' of one measure (precision, recall or f1)."""
    import pandas as pd

    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}")
    table = {label: {row["class"]: row[measure] for row in per_class_table(metrics)}
             for label, metrics in metrics_by_run.items()}
    return pd.DataFrame.from_dict(table, orient="index", columns=[*classes, "macro avg", "std"])


def comparison_export(runs: Sequence[Run]) -> pd.DataFrame:
    """The comparison table with per-class precision/recall/F1 columns (e.g. `f1_joy`), for a CSV download;
    spreadsheet-safe (a text cell never starts a formula)."""
    import pandas as pd

    runs = readable(runs)
    table = comparison_table(runs)
    extra = []
    for run in runs:
        metrics, row = run.metrics, {}
        if metrics and "per_class" in metrics:
            for entry in per_class_table(metrics):
                name = entry["class"].replace(" ", "_")
                row.update({f"{measure}_{name}": entry[measure] for measure in MEASURES})
        extra.append(row)
    from .classify import spreadsheet_safe

    # names, tags and notes are user text: a cell such as =HYPERLINK(…) must not run as a formula when opened
    return spreadsheet_safe(pd.concat([table, pd.DataFrame(extra, index=table.index)], axis=1))


# --- several seeds of one recipe ------------------------------------------------------------------------------------

# Config entries that differ between repeats of one recipe (or describe where it ran, not what was trained).
RUN_SPECIFIC = {"seed", "device", "device_name", "code_version", "run_id", "created", "precision", "eval_batch_size",
                "recipe"}
# Besides the recipe fields: what a run trained and on which data.
IDENTITY_KEYS = {"arch", "params", "pretrained", "data_source"}


def normalised_config(config: dict) -> dict:
    """A run's config with the settings added since it was trained filled in as they were then (a recipe field at
    the value that means "not used", a hyperparameter at its architecture's default)."""
    filled = dict(config)
    if "val_batches" in filled:  # counted in training batches before it counted examples
        batches = filled.pop("val_batches")
        filled.setdefault("val_examples", batches * int(filled.get("batch_size") or 64) if batches else None)
    for f in fields(TrainConfig):
        if f.name in RECIPE_KEYS and f.name not in filled:
            default = f.default if f.default_factory is MISSING else f.default_factory()
            filled[f.name] = ABSENT_MEANS.get(f.name, default)
    try:
        filled["params"] = {**get_architecture(config.get("arch", "")).defaults, **(config.get("params") or {})}
    except InvalidConfig:  # an architecture no longer registered: keep what was recorded
        pass
    return filled


def recipe_key(config: dict) -> str:
    """Identifies what a run trained, whatever its seed or device: the architecture and its hyperparameters, the
    recipe, the encoder and the data source. Runs with the same key are repeats of one recipe."""
    if config.get("kind") == "ensemble":  # an ensemble is what it averages
        return json.dumps({"kind": "ensemble", "members": sorted(map(str, config.get("members") or []))})
    filled = normalised_config(config)
    kept = {k: filled.get(k) for k in sorted((RECIPE_KEYS | IDENTITY_KEYS) - RUN_SPECIFIC)}
    return json.dumps(kept, sort_keys=True, default=str)


def recipe_changes(config: dict) -> str:
    """What a run's settings change from its architecture's defaults, e.g. 'hidden_size=256, lr=0.001'
    ('' for the default recipe)."""
    if config.get("kind") == "ensemble":
        return "members: " + ", ".join(map(str, config.get("members") or []))
    try:
        spec = get_architecture(config.get("arch", ""))
        default = make_config(spec.name, {"pretrained": config.get("pretrained")}).to_dict()
        default_params = resolve_params(spec, {})
    except InvalidConfig:  # an architecture no longer registered: nothing to compare with
        return ""
    config = normalised_config(config)
    shown = sorted(RECIPE_KEYS - RUN_SPECIFIC - {"pretrained", "augment", "limit"})
    params = config.get("params") or {}
    changes = [f"{k}={params[k]}" for k in default_params if k in params and params[k] != default_params[k]]
    changes += [f"{k}={config[k]}" for k in shown if k in config and config[k] != default[k]]
    return ", ".join(changes)


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
                   "vs_best", "per_seed_accuracy", "per_seed_macro_f1", "run_ids"]


def task_of(config: dict) -> str:
    """The task a run was trained and evaluated on (runs from before tasks existed: the seed's 'ekman')."""
    return str(config.get("task") or "ekman")


def pretrained_name(config: dict) -> str:
    """The encoder a run starts from, by its folder's or hub id's last part; "none" for learnt embeddings, "members"
    for an ensemble (it trains nothing: its members each have their own)."""
    if config.get("kind") == "ensemble":
        return "members"
    pretrained = config.get("pretrained")
    return str(pretrained).rstrip("/").rsplit("/", 1)[-1] if pretrained else "none"


def recipe_groups(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Readable runs grouped by recipe (see recipe_key), every status included."""
    groups: dict[str, list[Run]] = {}
    for run in readable(runs):
        groups.setdefault(recipe_key(run.config), []).append(run)
    return groups


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
                     "run_ids": summary["runs"]})
    rows.sort(key=lambda r: by_validation(validation_order(r)), reverse=True)
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


def validation_order(row: dict) -> tuple:
    """What ranks a recipe within its task: mean validation accuracy, then macro-F1; a multi-label task (where
    accuracy is the strict exact-match ratio) the other way round."""
    pair = (row["val_accuracy_mean"], row["val_macro_f1_mean"])
    return pair[::-1] if get_task(row["task"]).multi_label else pair


def pareto_front(points: pd.DataFrame, cost: str, lower_cost_is_better: bool = True,
                 accuracy: str = "val_accuracy") -> pd.DataFrame:
    """The points no other point beats on both axes (higher accuracy and better cost), sorted by cost: the
    trade-offs worth choosing between, chosen on validation accuracy by default (test accuracy is only reported)."""
    frame = points.dropna(subset=[cost, accuracy])
    if frame.empty:
        return frame
    ordered = frame.sort_values([cost, accuracy], ascending=[lower_cost_is_better, False])
    front, best = [], float("-inf")
    for index, row in ordered.iterrows():
        if row[accuracy] > best:
            front.append(index)
            best = row[accuracy]
    return frame.loc[front].sort_values(cost)


NOTEBOOK_BEST_ACCURACY = 62.43  # the course notebook's best test accuracy, the bar every model should clear


def leaderboard(runs: Sequence[Run], task: str = "ekman") -> pd.DataFrame:
    """Each architecture's chosen full-data recipe for `task` (best mean validation accuracy), best validation first,
    with its test metrics reported and `vs_best`: whether its test accuracy differs from the first row's beyond the
    seeds' noise (Welch's t-test over seeds; see goemo_core.significance)."""
    summary = seed_summary(runs)
    return summary[summary["chosen"] & (summary["task"] == task)].reset_index(drop=True)


def cell_examples(run: Run, true: str, predicted: str) -> pd.DataFrame:
    """The test examples of one confusion cell (from test_predictions.csv), most confident first."""
    import pandas as pd

    try:
        frame = pd.read_csv(run.predictions_path, dtype={"id": str, "text": str, "true": str, "predicted": str},
                            keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise MissingResource(f"Run {run.run_id} has no readable test_predictions.csv (it ended before the "
                              "test evaluation).") from None
    cell = frame[(frame["true"] == true) & (frame["predicted"] == predicted)]
    return cell.sort_values("confidence", ascending=False)[["text", "true", "predicted", "confidence"]] \
        .reset_index(drop=True)


