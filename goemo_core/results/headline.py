"""The benchmark's headline, rendered from committed results files: per task, each architecture's recipe chosen on
validation (a distilled student beside its architecture, as a model of its own), mean ± sample std over seeds,
and whether its test figure differs from the best model's beyond the seeds' noise (Welch's t-test over seeds),
with the TF-IDF floor, the course notebook's best run and the published rows of the task under them."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Sequence

from ..data.tasks import get_task
from ..errors import MissingResource
from ..models import get_architecture
from .choice import NOTEBOOK_BEST_ACCURACY
from .published import PUBLISHED, SOURCE
from .recipes import pretrained_name
from .reference import ReferenceRun, ResultsFile, load_results, measured_on, reference_runs
from .significance import holm, seed_difference, significance_mark
from .summary import seed_summary

CHOSEN_NOTE = ("Each model's recipe is the one chosen on validation (mean validation {order} over its seeds); test "
               "figures are reported, never used to choose. ± is the sample standard deviation over seeds. vs best: "
               "Welch's t-test over seeds of the test {measure} against the best model on validation, p-values "
               "Holm-adjusted over the models (* p < 0.05). s / epoch: the mean wall time of a training epoch as the "
               "runs trained, on a machine that may have been shared (other runs, other work): a record, not a "
               "speed comparison, which `python -m goemo_core bench speed` measures side by side.")


def model_name(config: dict) -> str:
    """What a headline row is called: the architecture's title, the encoder a reference model fine-tunes, and the
    teachers' architecture for a distilled student."""
    arch = str(config.get("arch"))
    try:
        title = get_architecture(arch).title
    except Exception:  # an architecture no longer registered keeps its name
        title = arch
    if arch == "transformer":
        title = f"{pretrained_name(config)} fine-tuned (reference)"
    if config.get("teachers"):
        title += " distilled from the transformer" if config.get("teacher_arch") == "transformer" else " (distilled)"
    return title


def model_key(config: dict) -> tuple[str, bool]:
    """Rows compete for 'chosen' within a model: an architecture, or a distilled student of it."""
    return str(config.get("arch")), bool(config.get("teachers"))


def headline_rows(runs: Sequence[ReferenceRun]) -> list[dict]:
    """One row per model: its recipe chosen on validation, with the test figures and the test against the best."""
    if not runs:
        return []
    by_id = {run.run_id: run for run in runs}
    teacher_arch = {run.run_id: run.config.get("arch") for run in runs}
    summary = seed_summary(runs)
    task = get_task(summary.iloc[0]["task"]) if len(summary) else None
    chosen: dict[tuple, dict] = {}
    for row in summary.to_dict("records"):  # best validation first
        config = dict(by_id[row["run_ids"][0]].config)
        teachers = config.get("teachers") or []
        config["teacher_arch"] = teacher_arch.get(teachers[0]) if teachers else None
        key = model_key(config)
        if row["limit"] is None and key not in chosen:
            chosen[key] = {**row, "model": model_name(config), "config": config}
    rows = list(chosen.values())
    measure = "per_seed_macro_f1" if task is not None and task.multi_label else "per_seed_accuracy"
    best = rows[0] if rows else None
    tests = [seed_difference(row[measure], best[measure]) for row in rows[1:]]
    for row, test, p_value in zip(rows[1:], tests, holm([test["p_value"] for test in tests])):
        row["vs_best"] = significance_mark(p_value, test["underpowered"], test.get("note"))
    if best is not None:
        best["vs_best"] = "best on validation"
    return rows


def _cell(values: Sequence[float | None], digits: int) -> str:
    """Mean ± sample standard deviation of the seeds' values (the mean alone for one seed)."""
    values = [v for v in values if v is not None and v == v]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    return f"{mean:.{digits}f}" + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")


HEADLINE_COLUMNS = ("model", "seeds", "validation", "test accuracy", "test macro-F1", "s / epoch", "vs best")
RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"  # the repository's committed results files


def headline_cells(path: str | Path) -> tuple[ResultsFile, list[dict]]:
    """One results file's headline as rows of text cells (HEADLINE_COLUMNS): each model chosen on validation, then
    the TF-IDF floor, the course notebook's best run and the published rows of the task."""
    document = load_results(path)
    task = get_task(document.task)
    multi = task.multi_label
    rows = []
    for row in headline_rows(reference_runs(path)):
        seconds = row.get("epoch_seconds")
        rows.append({"model": row["model"], "seeds": str(row["runs"]),
                     "validation": f"{row['val_macro_f1_mean']:.3f}" if multi else f"{row['val_accuracy_mean']:.2f}",
                     "test accuracy": _cell(row["per_seed_accuracy"], 2),
                     "test macro-F1": _cell(row["per_seed_macro_f1"], 3),
                     "s / epoch": "–" if seconds is None or seconds != seconds else f"{seconds:.0f}",
                     "vs best": row["vs_best"]})
    blank = dict.fromkeys(HEADLINE_COLUMNS, "–")
    if document.baseline:
        base = document.baseline
        rows.append({**blank, "model": "TF-IDF + logistic regression", "test accuracy": f"{base['accuracy']:.2f}",
                     "test macro-F1": f"{base['macro_f1']:.3f}", "vs best": "floor"})
    if task.name == "ekman":
        rows.append({**blank, "model": "the course notebook's best run",
                     "test accuracy": f"{NOTEBOOK_BEST_ACCURACY:.2f}", "vs best": "its report"})
    if task.name in PUBLISHED:
        rows.append({**blank, "model": SOURCE, "test macro-F1": f"{PUBLISHED[task.name]['macro_f1']:.2f}",
                     "vs best": "published"})
    return document, rows


def headline_rule(task_name: str) -> str:
    """The rule a task's headline follows (how models are chosen, what ± and vs best mean)."""
    multi = get_task(task_name).multi_label
    order = "macro-F1, then exact match" if multi else "accuracy, then macro-F1"
    return CHOSEN_NOTE.format(order=order, measure="macro-F1" if multi else "accuracy")


def committed_results(task: str, folder: Path | None = None) -> list[Path]:
    """The results files of `task` in `folder` (default RESULTS_DIR; a damaged one is left out: `results headline`
    says why)."""
    folder = RESULTS_DIR if folder is None else folder
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            if load_results(path).task == task:
                found.append(path)
        except MissingResource:
            continue
    return found


def task_table(path: str | Path) -> str:
    """The headline of one results file as Markdown: a heading naming the task and where it was measured, the
    table, and the rule it follows."""
    document, rows = headline_cells(path)
    task = get_task(document.task)
    multi = task.multi_label
    accuracy = task.accuracy_name
    lines = [f"**{task.name}** ({task.num_labels} labels, {'multi-label' if multi else 'single-label'}; "
             f"measured on {measured_on(document)}; `{Path(path).as_posix()}`)", "",
             f"| model | seeds | validation {'macro-F1' if multi else accuracy + ' (%)'} | test {accuracy} (%) | "
             "test macro-F1 | s / epoch | vs best |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(row[column] for column in HEADLINE_COLUMNS) + " |" for row in rows]
    lines += ["", headline_rule(task.name)]
    return "\n".join(lines)


def headline_markdown(paths: Sequence[str | Path]) -> str:
    """Every results file's headline, one after the other (the README's results section)."""
    return "\n\n".join(task_table(path) for path in sorted(paths, key=lambda p: Path(p).name)) + "\n"


HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def with_headline(document: str, markdown: str) -> str:
    """`document` (the README) with the text between its headline markers replaced by `markdown`."""
    start, end = document.find(HEADLINE_START), document.find(HEADLINE_END)
    if start < 0 or end < start:
        raise ValueError(f"no {HEADLINE_START} … {HEADLINE_END} block to write the headline into")
    return document[:start + len(HEADLINE_START)] + "\n" + markdown + document[end:]
