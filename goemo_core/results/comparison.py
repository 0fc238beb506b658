"""Is one recipe better than another? Each run stands for its recipe (every completed seed of its settings); the
differences of their test metrics over seeds and paired on the test set (the statistics: results.significance),
as a document for the CLI and as rows for the Compare page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..data.goemotions import EKMAN_CLASSES
from ..data.tasks import get_task
from ..errors import InvalidConfig
from ..runs.folder import Run
from ..runs.schemas import Unreadable
from .recipes import recipe_changes, recipe_groups, recipe_key, task_of
from .significance import format_p, paired_difference, seed_difference
from .summary import pooled, summarise_runs

if TYPE_CHECKING:
    import pandas as pd


def compare_recipes(run_a: Run, run_b: Run, runs: Sequence[Run]) -> dict:
    """Is A's recipe better than B's? Each run stands for its recipe: every completed seed of the same settings
    among `runs`. The differences A − B in test accuracy (points) and macro-F1, over seeds and paired on the test
    set (see goemo_core.results.significance)."""
    groups = recipe_groups(runs)
    sides = []
    for run in (run_a, run_b):
        members = pooled(groups.get(recipe_key(run.config), [run]))
        if not members:
            raise InvalidConfig(f"run {run.run_id} is {run.status}: only completed runs with test metrics compare.")
        sides.append(members)
    if recipe_key(run_a.config) == recipe_key(run_b.config):
        raise InvalidConfig(f"{run_a.run_id} and {run_b.run_id} are seeds of one recipe: pick runs of two recipes.")
    for key, what in (("task", "task"), ("limit", "data (limit)"), ("data_source", "data source")):
        values = [task_of(run.config) if key == "task" else run.config.get(key) for run in (run_a, run_b)]
        if values[0] != values[1]:
            raise InvalidConfig(f"the two recipes were evaluated on another {what} ({values[0]!r} vs {values[1]!r}): "
                                "their test metrics do not compare.")
    summaries = [summarise_runs(members) for members in sides]
    document = {side: {"run_ids": summary["runs"], "arch": summary["arch"], "seeds": summary["seeds"],
                       "changes": recipe_changes(members[0].config) or "defaults",
                       "val_accuracy_mean": summary["val_accuracy_mean"], "accuracy_mean": summary["accuracy_mean"],
                       "accuracy_std": summary["accuracy_std"], "macro_f1_mean": summary["macro_f1_mean"],
                       "macro_f1_std": summary["macro_f1_std"]}
                for side, summary, members in zip("ab", summaries, sides)}
    document["seeds"] = {metric: seed_difference([r[metric] for r in summaries[0]["per_seed"]],
                                                 [r[metric] for r in summaries[1]["per_seed"]])
                         for metric in ("accuracy", "macro_f1")}
    task = get_task(task_of(run_a.config))
    multi_label = task.multi_label
    document["multi_label"], document["accuracy_name"] = multi_label, task.accuracy_name
    document["paired"] = None if multi_label else paired_test_of(sides[0], sides[1])
    document["paired_note"] = (MULTI_LABEL_PAIRED if multi_label else
                               "the runs' test predictions are not stored" if document["paired"] is None else None)
    return document


# Why a multi-label comparison has no paired test, although its test predictions are stored.
MULTI_LABEL_PAIRED = ("not for a multi-label task: McNemar's test and the paired bootstrap compare one predicted class "
                      "per example, and here an example has several labels; the recipes are compared over seeds "
                      "(macro-F1, the task's headline, and exact-match accuracy)")


def significance_frame(document: dict) -> pd.DataFrame:
    """compare_recipes' answer as rows: over seeds / paired, accuracy / macro-F1 (macro-F1 first on a multi-label
    task), A − B, 95 % CI, p-value (as text: '< 0.001' below three decimals), test."""
    import pandas as pd

    rows = []
    multi_label = document.get("multi_label", False)
    missing = document.get("paired_note") or (MULTI_LABEL_PAIRED if multi_label else
                                              "the runs' test predictions are not stored")
    metrics = (("macro_f1", ""), ("accuracy", " (points)")) if multi_label else (("accuracy", " (points)"),
                                                                               ("macro_f1", ""))
    for where, tests in (("over seeds", document["seeds"]), ("paired, test set", document.get("paired") or {})):
        for metric, unit in metrics:
            name = document.get("accuracy_name", "accuracy") if metric == "accuracy" else metric
            test = tests.get(metric)
            if test is None:
                rows.append({"comparison": where, "metric": name, "note": missing})
                continue
            rows.append({"comparison": where, "metric": name + unit, "A − B": test["difference"],
                         "95 % CI": "" if not test.get("ci") else f"[{test['ci'][0]:+.3f}, {test['ci'][1]:+.3f}]",
                         "p-value": format_p(test.get("p_value"), named=False), "test": test["test"],
                         "note": test.get("note") or ""})
    return pd.DataFrame(rows, columns=["comparison", "metric", "A − B", "95 % CI", "p-value", "test", "note"])


def pooled_test_predictions(runs: Sequence[Run]) -> tuple[np.ndarray, np.ndarray] | None:
    """(true class ids, predicted class ids) of a recipe on the test split: its seeds' mean probabilities. None when
    a run has no stored probabilities or predictions."""
    probabilities = [(run.load_probabilities() or {}).get("test") for run in runs]
    if any(p is None for p in probabilities) or len({tuple(p.shape) for p in probabilities}) != 1:
        return None
    try:
        predictions = runs[0].test_predictions()
    except Unreadable:
        return None
    if predictions is None:
        return None
    truth = predictions["true"]
    classes = list(runs[0].config.get("classes") or EKMAN_CLASSES)
    if len(truth) != probabilities[0].shape[0] or not set(truth) <= set(classes):
        return None
    mean = np.mean([p.double().numpy() for p in probabilities], axis=0)
    return np.array([classes.index(name) for name in truth]), mean.argmax(-1)


def paired_test_of(runs_a: Sequence[Run], runs_b: Sequence[Run]) -> dict | None:
    """The paired test of two recipes on the test set, or None when their predictions are not stored."""
    a, b = pooled_test_predictions(runs_a), pooled_test_predictions(runs_b)
    if a is None or b is None or len(a[0]) != len(b[0]) or not np.array_equal(a[0], b[0]):
        return None
    classes = len(runs_a[0].config.get("classes") or EKMAN_CLASSES)
    return paired_difference(a[0], a[1], b[1], classes)
