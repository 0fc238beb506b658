"""The sections of a report for the runs of one task (runs of different tasks are never pooled, plotted or tested
together): the summary over seeds with the recipe chosen on validation and the significance marks, the runs,
learning curves, per-class metrics, confusion matrices, cost, and the optional sections of analysis files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..data.tasks import DEFAULT_TASK, Task
from ..evaluation.metrics import MEASURES, confusion_frame
from ..results.choice import NOTEBOOK_BEST_ACCURACY, pareto_front, validation_of
from ..results.run_tables import per_class_comparison
from ..results.summary import cost_of, seed_summary
from ..runs.folder import Run, best_epoch
from ..serving.cost import COST_AXES
from . import charts
from .html import Markup, esc, figure, mean_spread, number, paragraph, section, table
from .sections import OPTIONAL_SECTIONS, RunFileSection, columns_of


@dataclass(frozen=True)
class TaskRuns:
    """The readable runs of one task, what each is called and its colour in every chart."""

    task: Task
    runs: list[Run]
    labels: dict[str, str]  # run id → unique label
    groups: dict[str, str]  # label → colour group (the run, or its architecture beyond 20 runs)
    colors: dict[str, str]  # colour group → colour

    @classmethod
    def of(cls, task: Task, runs: Sequence[Run], labels: dict[str, str]) -> "TaskRuns":
        groups = charts.colour_groups({labels[run.run_id]: str(run.config.get("arch")) for run in runs})
        return cls(task, list(runs), labels, groups, charts.run_colors(list(groups.values())))

    def anchor(self, key: str) -> str:
        return f"{key}-{self.task.name}"


def drawn(build: Callable[[], object], key: str, caption: str = "") -> Markup:
    """A chart as a figure, or a note saying why it could not be drawn (a report is never lost to one chart)."""
    try:
        return figure(charts.to_svg(build()), key, caption)
    except Exception as exc:
        return paragraph(f"The {key} chart could not be drawn: {type(exc).__name__}: {exc}", "problem")


def summary_section(part: TaskRuns) -> Markup:
    frame = seed_summary(part.runs)
    accuracy = part.task.accuracy_name
    intro = paragraph("Runs that repeat one recipe are pooled over their completed seeds (a seed counts once, its "
                      "latest run): mean ± standard deviation of the test metrics. ✓ chosen: per architecture, the "
                      "full-data recipe with the best mean validation accuracy (test metrics are reported, never "
                      "used to choose). vs best: Welch's t-test over seeds against the best chosen recipe (* p < 0.05;"
                      " n.s.: the seeds cannot tell them apart).")
    if frame.empty:
        return section("summary", part.anchor("summary"), "Summary over seeds",
                       [intro, paragraph("No completed run with test metrics.", "note")])
    rows = [["✓" if row.chosen else "", row.arch, row.changes, len(row.seeds), number(row.val_accuracy_mean),
             mean_spread(row.test_accuracy_mean, row.test_accuracy_std, 2),
             mean_spread(row.test_macro_f1_mean, row.test_macro_f1_std, 3), row.vs_best,
             "full" if row.limit is None or row.limit != row.limit else f"limit {int(row.limit):,}",
             ", ".join(map(str, row.seeds))] for row in frame.itertuples()]
    columns = ["chosen", "architecture", "recipe (changes from the defaults)", "seeds", f"validation {accuracy} (%)",
               f"test {accuracy} (%)", "test macro-F1", "vs best", "data", "seed values"]
    return section("summary", part.anchor("summary"), "Summary over seeds",
                   [intro, table(columns, rows, "summary", numeric=(3, 4, 5, 6))])


def runs_section(part: TaskRuns) -> Markup:
    named = any(part.labels[run.run_id] != run.run_id for run in part.runs)  # else the id column repeats the names
    rows = []
    for run in part.runs:
        metrics, label = run.metrics or {}, run.label
        rows.append([part.labels[run.run_id], *([run.run_id] if named else []), run.config.get("arch"), run.status,
                     run.config.get("seed"),
                     "full" if run.config.get("limit") is None else f"limit {run.config['limit']:,}",
                     number(validation_of(run)[0]) if run.metrics else "–", number(metrics.get("accuracy")),
                     number(metrics.get("macro_f1"), 3), len(run.history), number(best_epoch(run), 0),
                     ", ".join(label.tags), label.note])
    columns = ["run", *(["id"] if named else []), "architecture", "status", "seed", "data", "validation acc (%)",
               "test acc (%)", "test macro-F1", "epochs", "kept epoch", "tags", "note"]
    first = 4 if named else 3
    return section("runs", part.anchor("runs"), "Runs",
                   [table(columns, rows, "runs", numeric=[first + i for i in (0, 2, 3, 4, 5, 6)])])


def curves_section(part: TaskRuns) -> Markup:
    with_history = [run for run in part.runs if run.history]
    if not with_history:
        return section("curves", part.anchor("curves"), "Learning curves",
                       [paragraph("No run has a finished epoch (ensembles train nothing themselves).", "note")])
    labels = [part.labels[run.run_id] for run in with_history]
    frame = charts.curves_frame({part.labels[r.run_id]: r.history for r in with_history},
                                {part.labels[r.run_id]: best_epoch(r) for r in with_history}, part.groups,
                                {part.labels[r.run_id] for r in with_history if r.config.get("teachers")})
    caption = ("◆ the epoch whose weights were kept (the best monitored validation metric)."
               + (" With this many runs a colour stands for an architecture." if len(part.colors) < len(labels)
                  else ""))
    return section("curves", part.anchor("curves"), "Learning curves",
                   [drawn(lambda: charts.curves_chart(frame, part.colors), "curves", caption)])


def per_class_section(part: TaskRuns) -> Markup:
    with_metrics = {part.labels[run.run_id]: run.metrics for run in part.runs
                    if run.metrics and isinstance(run.metrics.get("per_class"), dict)}
    if not with_metrics:
        return section("per-class", part.anchor("per-class"), "Per-class test metrics",
                       [paragraph("No run has per-class test metrics yet.", "note")])
    import pandas as pd

    classes = list(part.task.labels)
    heat = pd.DataFrame([{"run": name, "label": label, "f1": float(metrics["per_class"][label]["f1"])}
                         for name, metrics in with_metrics.items() for label in classes
                         if label in metrics["per_class"]])
    parts = [drawn(lambda: charts.per_class_chart(heat, classes), "per-class", "Test F1 per run and label.")]
    for measure in MEASURES:
        frame = per_class_comparison(with_metrics, measure, classes)
        rows = [[name, *(number(value, 3) for value in values)] for name, values in zip(frame.index, frame.values)]
        title = "F1" if measure == "f1" else measure
        tables = table(["run", *frame.columns], rows, f"per-class-{measure}", numeric=range(1, len(frame.columns) + 1))
        parts.append(Markup(f"<details{' open' if measure == 'f1' else ''}><summary>{esc(title)} per class "
                            f"(macro average and the spread over classes last)</summary>{tables}</details>"))
    return section("per-class", part.anchor("per-class"), "Per-class test metrics", parts)


def confusion_section(part: TaskRuns) -> Markup:
    with_metrics = [run for run in part.runs if run.metrics and run.metrics.get("confusion") is not None
                    or run.metrics and run.metrics.get("label_confusion")]
    title = "Confusion (test split)"
    if not with_metrics:
        return section("confusion", part.anchor("confusion"), title,
                       [paragraph("No run has a confusion matrix yet.", "note")])
    if part.task.multi_label:  # each label is its own yes/no decision: counts per label, no class-by-class matrix
        parts = [paragraph("Per label: true and false positives, false negatives and true negatives under each "
                           "run's decision rule.")]
        for run in with_metrics:
            counts = run.metrics.get("label_confusion") or {}
            rows = [[label, *(number(values.get(k), 0) for k in ("tp", "fp", "fn", "tn"))]
                    for label, values in counts.items() if isinstance(values, dict)]
            parts.append(Markup(f"<h4>{esc(part.labels[run.run_id])}</h4>")
                         + table(["label", "tp", "fp", "fn", "tn"], rows, "label-confusion", numeric=(1, 2, 3, 4)))
        return section("confusion", part.anchor("confusion"), title, parts)
    classes = list(part.task.labels)
    figures = [drawn(lambda run=run: charts.confusion_chart(confusion_frame(run.metrics, classes),
                                                            part.labels[run.run_id]), "confusion")
               for run in with_metrics]
    return section("confusion", part.anchor("confusion"), title + ": row-normalised",
                   [Markup('<div class="grid">' + "".join(figures) + "</div>")])


def cost_section(part: TaskRuns) -> Markup:
    import pandas as pd

    rows, points = [], []
    for run in part.runs:
        cost, metrics = cost_of(run), run.metrics or {}
        label = part.labels[run.run_id]
        rows.append([label, number(cost["parameters"], 0, True), number(cost["trainable_parameters"], 0, True),
                     number(cost["train_seconds"], 1, True), number(cost["cpu_latency_ms"], 2),
                     number(cost["cpu_sentences_per_s"], 0, True), run.config.get("device_name") or ""])
        if isinstance(metrics.get("accuracy"), (int, float)) and isinstance(cost["cpu_latency_ms"], (int, float)) \
                and cost["cpu_latency_ms"] > 0:
            points.append({"label": label, "group": part.groups[label], "arch": str(run.config.get("arch")),
                           "test_accuracy": metrics["accuracy"], "val_accuracy": validation_of(run)[0],
                           "cpu_latency_ms": cost["cpu_latency_ms"]})
    columns = ["run", "parameters", "trainable", "training (s)", "CPU latency (ms / sentence)",
               "CPU sentences / s", "trained on"]
    parts = [table(columns, rows, "cost", numeric=(1, 2, 3, 4, 5))]
    if points:
        frame = pd.DataFrame(points)
        front = pareto_front(frame, "cpu_latency_ms", True)
        reference = NOTEBOOK_BEST_ACCURACY if part.task.name == DEFAULT_TASK else None
        parts.append(drawn(lambda: charts.cost_chart(
            frame, front, "cpu_latency_ms", COST_AXES["cpu_latency_ms"][0],
            f"test {part.task.accuracy_name} (%)", part.colors, reference), "cost",
            "Dashed: the Pareto front, chosen on validation accuracy; the points show test accuracy."
            + (f" Red: the course notebook's best test accuracy ({NOTEBOOK_BEST_ACCURACY} %)." if reference else "")))
    else:
        parts.append(paragraph("No run has a CPU latency measurement to plot.", "note"))
    return section("cost", part.anchor("cost"), "Cost", parts)


def optional_section(part: TaskRuns, hook: RunFileSection) -> Markup | None:
    """The section of one kind of analysis file, or None when no run of the task has such a file."""
    findings = hook.findings(part.runs)
    if not findings:
        return None
    columns = columns_of(findings)
    width = max(1, len(columns))
    rows = []
    for finding in findings:
        cells = ([f"unreadable: {finding.problem}"] if finding.problem else
                 [figure_text(finding.figures.get(column)) for column in columns])
        rows.append([part.labels[finding.run_id], finding.source, *cells, *[""] * (width - len(cells))])
    header = ["run", "recipe" if "*" in hook.pattern else "file", *(columns or ["figures"])]
    parts = [paragraph(hook.intro), table(header, rows, hook.key)]
    if hook.chart is not None:
        try:
            chart = hook.chart([f for f in findings if not f.problem], part.labels,
                               {label: part.colors[part.groups[label]] for label in part.groups})
        except Exception:  # a file of an unexpected shape: its table above still says what it holds
            chart = None
        if chart is not None:
            parts.append(drawn(lambda: chart, hook.key))
    return section(hook.key, part.anchor(hook.key), hook.title, parts)


def figure_text(value: object) -> str:
    if isinstance(value, float):
        return number(value, 4 if abs(value) < 10 else 2)
    return "–" if value is None else str(value)


def task_sections(part: TaskRuns) -> list[tuple[str, str, Markup]]:
    """(key, title, section) for every section of the task, optional ones only where their files exist."""
    built = [("summary", "Summary over seeds", summary_section(part)), ("runs", "Runs", runs_section(part)),
             ("curves", "Learning curves", curves_section(part)),
             ("per-class", "Per-class test metrics", per_class_section(part)),
             ("confusion", "Confusion", confusion_section(part)), ("cost", "Cost", cost_section(part))]
    for hook in OPTIONAL_SECTIONS:
        optional = optional_section(part, hook)
        if optional is not None:
            built.append((hook.key, hook.title, optional))
    return built
