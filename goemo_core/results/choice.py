"""Choosing on validation: the order recipes and runs are ranked in (validation accuracy, then macro-F1; the other
way round on a multi-label task), which models are degenerate (never chosen while another is not), the best run of a
selection (a teacher given as `best:ARCH`) and the Pareto front of accuracy against cost. Test metrics never choose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from ..data.tasks import get_task
from ..errors import InvalidConfig
from ..runs.folder import Run, best_epoch
from ..runs.schemas import is_number
from .recipes import readable, task_of

if TYPE_CHECKING:
    import pandas as pd


def validation_of(run: Run) -> tuple[float, float]:
    """(validation accuracy, validation macro-F1) of the weights a run kept: what choosing between runs looks at.
    metrics.json records them; older runs have them in the history's best epoch. NaN where neither says.

    A multi-label run is judged at its fixed threshold: thresholds tuned on the validation split would otherwise
    raise its validation figures by construction. metrics.json records the fixed-threshold figures beside the tuned
    ones (`accuracy_fixed`, `macro_f1_fixed`); a run that did not tune already recorded them as its own, and an older
    tuned run falls back to its history, which is always validated at the fixed threshold."""
    metrics = run.metrics or {}
    validation = metrics.get("validation")
    validation = validation if isinstance(validation, dict) else {}
    if get_task(task_of(run.config)).multi_label:
        if is_number(validation.get("macro_f1_fixed")):
            accuracy = validation.get("accuracy_fixed")
            return (float(accuracy) if is_number(accuracy) else float("nan"), float(validation["macro_f1_fixed"]))
        decision = metrics.get("decision")
        if isinstance(decision, dict) and decision.get("tuned_on"):
            validation = {}  # tuned on validation: only the history's fixed-threshold figures are fair
    if is_number(validation.get("accuracy")):
        f1 = validation.get("macro_f1")
        return float(validation["accuracy"]), float(f1) if is_number(f1) else float("nan")
    kept = best_epoch(run)
    for record in run.history:
        if record.get("epoch") == kept and is_number(record.get("val_accuracy")):
            f1 = record.get("val_macro_f1")
            return float(record["val_accuracy"]), float(f1) if is_number(f1) else float("nan")
    return float("nan"), float("nan")


def by_validation(values: tuple[float, float]) -> tuple[float, float]:
    """A sort key: higher first value first, ties broken by the second; NaN last."""
    return tuple(v if v == v else float("-inf") for v in values)


def run_rank(run: Run) -> tuple[float, float]:
    """What ranks a run on validation: accuracy, then macro-F1; on a multi-label task (where accuracy is the strict
    exact-match ratio) macro-F1 first, as recipes are ranked (see `validation_order`)."""
    pair = validation_of(run)
    return by_validation(pair[::-1] if get_task(task_of(run.config)).multi_label else pair)


FEWEST_CLASSES = 2  # a model that predicts this many classes or fewer on test has learnt next to nothing
BASELINE_MARGIN = 0.01  # points: validation accuracies are rounded shares, equal to the baseline within this


def predicted_classes(metrics: dict, labels: Sequence[str]) -> list[str] | None:
    """The classes (labels) a run predicted at least once on test, from its confusion counts; None when its
    metrics hold none that fit `labels`."""
    confusion, per_label = metrics.get("confusion"), metrics.get("label_confusion")
    if isinstance(per_label, dict) and set(per_label) == set(labels):
        return [name for name in labels if isinstance(per_label[name], dict)
                and (per_label[name].get("tp") or 0) + (per_label[name].get("fp") or 0) > 0]
    if isinstance(confusion, list) and len(confusion) == len(labels) and all(
            isinstance(row, list) and len(row) == len(labels) for row in confusion):
        return [name for j, name in enumerate(labels) if any(row[j] for row in confusion)]
    return None


def majority_baseline(metrics: dict, labels: Sequence[str]) -> tuple[str, float, str] | None:
    """(class, accuracy in %, split) of always answering the most common class: the validation split's when the run
    recorded it, else the test split's class balance (the splits are drawn alike); None when neither is known."""
    validation = metrics.get("validation") if isinstance(metrics.get("validation"), dict) else {}
    recorded = validation.get("majority")
    if isinstance(recorded, dict) and recorded.get("label") in labels and is_number(recorded.get("accuracy")):
        return recorded["label"], float(recorded["accuracy"]), "validation"
    per_class = metrics.get("per_class")
    if not isinstance(per_class, dict) or set(per_class) != set(labels):
        return None
    support = {name: per_class[name].get("support") for name in labels if isinstance(per_class[name], dict)}
    support = {name: count for name, count in support.items() if is_number(count)}
    total = sum(support.values())
    if not total:
        return None
    label = max(support, key=support.get)
    return label, 100.0 * support[label] / total, "test"


def degenerate(run: Run) -> str | None:
    """Why a run's model is degenerate, or None: it predicts only one or two classes on test, or (single-label)
    its validation accuracy is no better than always answering the majority class. Such a model is flagged
    wherever it is shown and never chosen while another is not."""
    metrics = run.metrics or {}
    if run.status != "completed" or not metrics:
        return None
    labels = get_task(task_of(run.config)).labels
    predicted = predicted_classes(metrics, labels)
    if predicted is not None and len(labels) > FEWEST_CLASSES and len(predicted) <= FEWEST_CLASSES:
        return "predicts only " + (" and ".join(predicted) or "nothing") + " on test"
    if get_task(task_of(run.config)).multi_label:
        return None
    baseline, accuracy = majority_baseline(metrics, labels), validation_of(run)[0]
    if baseline is not None and accuracy == accuracy and accuracy <= baseline[1] + BASELINE_MARGIN:
        label, share, split = baseline
        of = "" if split == "validation" else " of test"
        return (f"no better on validation ({accuracy:.2f} %) than always answering {label} "
                f"({share:.2f} %{of})")
    return None


def best_run(runs: Sequence[Run]) -> Run:
    """The run to try first, chosen on validation (test metrics are only reported): the completed full-data run with
    the best validation (see `run_rank`), else the best completed one, else the newest. A
    degenerate model (see `degenerate`) is chosen only when every candidate is one."""
    done = [run for run in readable(runs) if run.status == "completed" and run.metrics]
    full = [run for run in done if run.config.get("limit") is None]
    pool = full or done
    pool = [run for run in pool if degenerate(run) is None] or pool
    return max(pool, key=run_rank) if pool else runs[0]


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


BEST_PREFIX = "best:"  # a teacher given as best:ARCH is that architecture's run chosen on validation


def resolve_best(spec: str, runs: Sequence[Run], task: str = "ekman", limit: int | None = None) -> tuple[str, str]:
    """(run id, why) for a run given as `best:ARCH`: of the completed runs of that architecture on `task` with the
    same `limit` (full data: None), distilled students left out, the best on validation (see `run_rank`; never a degenerate model while another
    is not). Any other `spec` is a run id and comes back as it is, with no reason."""
    if not spec.startswith(BEST_PREFIX):
        return spec, ""
    arch = spec[len(BEST_PREFIX):].strip()
    candidates = [run for run in readable(runs) if run.status == "completed" and run.metrics
                  and not run.is_ensemble and not run.config.get("teachers") and run.config.get("arch") == arch
                  and task_of(run.config) == task and run.config.get("limit") == limit]
    if not candidates:
        data = "the full data" if limit is None else f"limit {limit}"
        raise InvalidConfig(f"{spec}: no completed {arch or '(no architecture given)'} run on {task} with {data} to "
                            "choose from (see `python -m goemo_core runs list`).")
    chosen = best_run(candidates)  # all of one task and data: the best on validation, never a degenerate one first
    accuracy, f1 = validation_of(chosen)
    return chosen.run_id, (f"{spec} is {chosen.run_id}, the best on validation of {len(candidates)} completed "
                           f"{arch} run{'s' if len(candidates) != 1 else ''} (accuracy {accuracy:.2f} %, "
                           f"macro-F1 {f1:.3f})")


def resolve_teachers(specs: Sequence[str], runs: Sequence[Run], task: str = "ekman", limit: int | None = None,
                     log: Callable[[str], None] = lambda message: None) -> list[str]:
    """The run ids of a student's teachers, each `best:ARCH` resolved (see `resolve_best`) and said through `log`,
    so the student's config records the very run it learnt from."""
    resolved = []
    for spec in specs:
        run_id, why = resolve_best(spec, runs, task, limit)
        if why:
            log(why)
        resolved.append(run_id)
    return resolved


def best_marks(runs: Sequence[Run]) -> dict[str, str]:
    """{run id: "best ARCH on validation"} for each run that `best:ARCH` would choose on its task and data: what a
    teacher picker marks."""
    groups = {(run.config.get("arch"), task_of(run.config), run.config.get("limit")) for run in readable(runs)
              if run.status == "completed" and run.metrics and not run.is_ensemble and not run.config.get("teachers")}
    marks = {}
    for arch, task, limit in groups:
        run_id, _ = resolve_best(f"{BEST_PREFIX}{arch}", runs, task, limit)
        marks[run_id] = f"best {arch} on validation"
    return marks
