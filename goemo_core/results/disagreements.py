"""Where do architectures disagree? Each architecture stands for its chosen recipe (the best mean validation
accuracy among the given runs: full data first, ties broken by validation macro-F1), and that recipe for its seed
with the best validation accuracy. The test examples on which these runs predict differently, with each run's
prediction and confidence, read from their test_predictions.csv. Test metrics never choose."""

from __future__ import annotations

from typing import Sequence

from ..data.tasks import get_task
from ..errors import InvalidConfig
from ..evaluation.errors import prediction_table
from ..runs.folder import Run
from .choice import by_validation, validation_of, validation_order
from .recipes import recipe_groups, task_of
from .summary import pooled, summarise_runs


def chosen_runs(runs: Sequence[Run]) -> list[Run]:
    """Per architecture (in name order), the seed with the best validation accuracy of its recipe chosen on
    validation; full-data recipes are preferred to limited ones."""
    best: dict[str, tuple[tuple, Run]] = {}
    for members in recipe_groups(runs).values():
        used = pooled(members)
        if not used:
            continue
        summary = summarise_runs(used)
        task = task_of(used[0].config)
        order = validation_order({"task": task, "val_accuracy_mean": summary["val_accuracy_mean"],
                                  "val_macro_f1_mean": summary["val_macro_f1_mean"]})
        key = (used[0].config.get("limit") is None, *by_validation(order))
        seed = max(used, key=lambda run: by_validation(validation_of(run)))
        arch = str(used[0].config.get("arch"))
        if arch not in best or key > best[arch][0]:
            best[arch] = (key, seed)
    return [best[arch][1] for arch in sorted(best)]


def disagreements(runs: Sequence[Run], names: dict[str, str] | None = None, top: int | None = None) -> dict:
    """The test examples on which `runs` (two or more, one task, the same test examples) predict differently:
    `frame` has id, text, true, then per run its prediction and confidence (columns named by `names`, default the
    run ids); `summary` counts the examples, the disagreements and how often each run is right on them."""
    import pandas as pd

    runs = list(runs)
    if len(runs) < 2:
        raise InvalidConfig("disagreements: give at least two runs (of different architectures) to compare.")
    tasks = {task_of(run.config) for run in runs}
    if len(tasks) > 1:
        raise InvalidConfig(f"disagreements: the runs are of different tasks ({', '.join(sorted(tasks))}); runs of "
                            "different tasks are never compared.")
    names = names or {run.run_id: run.run_id for run in runs}
    tables = [prediction_table(run) for run in runs]
    first = tables[0]
    for run, table in zip(runs[1:], tables[1:]):
        if list(table["id"]) != list(first["id"]):
            raise InvalidConfig(f"disagreements: run {run.run_id} was tested on other examples than "
                                f"{runs[0].run_id} (another limit or data); they cannot be compared example by "
                                "example.")
    predictions = pd.DataFrame({names[run.run_id]: table["predicted"] for run, table in zip(runs, tables)})
    differ = predictions.nunique(axis=1) > 1
    frame = first.loc[differ, ["id", "text", "true"]].copy()
    for run, table in zip(runs, tables):
        label = names[run.run_id]
        frame[label] = table.loc[differ, "predicted"]
        frame[f"{label} confidence"] = table.loc[differ, "confidence"].astype(float)
    confidence = frame[[f"{names[run.run_id]} confidence" for run in runs]].max(axis=1)
    frame = frame.assign(_order=confidence).sort_values("_order", ascending=False, kind="stable") \
        .drop(columns="_order").reset_index(drop=True)
    right = {names[run.run_id]: int(table.loc[differ, "correct"].sum()) for run, table in zip(runs, tables)}
    summary = {"task": tasks.pop(), "runs": [{"run_id": run.run_id, "name": names[run.run_id],
                                             "arch": run.config.get("arch"), "right_where_they_disagree":
                                                 right[names[run.run_id]]} for run in runs],
               "examples": int(len(first)), "disagreements": int(differ.sum()),
               "all_wrong": int((~pd.concat([t.loc[differ, "correct"] for t in tables], axis=1).any(axis=1)).sum())}
    return {"summary": summary, "frame": frame.head(top) if top else frame}


def disagreement_report(runs: Sequence[Run], top: int = 50) -> dict:
    """The `runs disagreements` document: which runs stood for which architecture, the counts and the examples."""
    from ..evaluation.errors import records

    found = disagreements(runs, top=top)
    task = get_task(found["summary"]["task"])
    return {**found["summary"], "multi_label": task.multi_label, "shown": len(found["frame"]),
            "examples_disagreeing": records(found["frame"])}
