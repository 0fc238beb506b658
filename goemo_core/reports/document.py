"""One self-contained HTML report over runs: a part per task (summary over seeds, runs, curves, per-class metrics,
confusion, cost and the analysis sections whose files exist), the runs left out and why, and the environment. The
file loads nothing (charts are inline SVG, styles inline, no script) and escapes every text it shows."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from ..data.tasks import TASK_NAMES, get_task
from ..errors import GoEmoError
from ..results.recipes import readable
from ..results.run_tables import run_labels
from ..results.summary import left_out
from ..runs.atomic import write_atomic
from ..runs.folder import Run
from . import environment
from .html import Markup, esc, page, paragraph, section, table
from .parts import TaskRuns, task_sections

DEFAULT_TITLE = "GoEmotions benchmark report"
RULE = ("Choose on validation, report on test: every recipe marked chosen was picked by its validation metrics; test "
        "metrics are only reported. Only completed runs are pooled over seeds.")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def task_name(run: Run) -> str | None:
    """The run's task, None when its config names a task this version does not know."""
    try:
        return get_task(run.config.get("task")).name
    except GoEmoError:
        return None


def by_task(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Readable runs grouped by task, tasks in their usual order."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        name = task_name(run)
        if name is not None:
            groups.setdefault(name, []).append(run)
    return {name: groups[name] for name in TASK_NAMES if name in groups}


def build_report(runs: Sequence[Run], title: str = DEFAULT_TITLE,
                 unreadable: Sequence[tuple[str, str]] = ()) -> tuple[str, dict]:
    """The report's HTML, and what it holds: {"runs", "tasks", "sections": {task: [keys]}, "charts"}.
    `unreadable` lists (run id, reason) of damaged run folders, shown as such."""
    usable = readable(runs)
    unreadable = [*unreadable, *((run.run_id, run.problem) for run in runs if run.problem is not None)]
    unreadable += [(run.run_id, f"task '{run.config.get('task')}' is unknown") for run in usable
                   if task_name(run) is None]
    labels = run_labels(usable)
    tasks = by_task(usable)
    contents, body, held = [], [], {}
    for name, members in tasks.items():
        part = TaskRuns.of(get_task(name), members, labels)
        built = task_sections(part)
        held[name] = [key for key, _, _ in built]
        heading = f"Task {name}: {part.task.description} ({plural(len(members), 'run')})"
        contents.append((f"task-{name}", heading, [(part.anchor(key), shown) for key, shown, _ in built]))
        body.append(Markup(f'<h2 id="task-{esc(name)}" data-task="{esc(name)}">{esc(heading)}</h2>'))
        body += [markup for _, _, markup in built]
    if not tasks:
        body.append(paragraph("None of the chosen runs can be read: nothing to report.", "problem"))
    body.append(left_out_section(usable, unreadable, labels))
    body.append(environment_section(usable, labels))
    contents += [("left-out", "Runs left out of the summaries", []), ("environment", "Environment", [])]
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{plural(len(usable), 'run')}, {plural(len(tasks), 'task')}; made {made}. {RULE}"
    document = page(title or DEFAULT_TITLE, subtitle, contents, body)
    return document, {"runs": [run.run_id for run in usable], "tasks": list(tasks), "sections": held,
                      "charts": document.count('class="chart"'), "unreadable": [rid for rid, _ in unreadable]}


def left_out_section(runs: Sequence[Run], unreadable: Sequence[tuple[str, str]], labels: dict[str, str]) -> Markup:
    rows = [[labels[run.run_id], run.run_id, run.status, "not completed with test metrics: shown in the runs table, "
             "pooled nowhere"] for run in left_out(runs)]
    rows += [["", run_id, "unreadable", reason] for run_id, reason in unreadable]
    parts = [table(["run", "id", "status", "why"], rows, "left-out")] if rows else \
        [paragraph("None: every chosen run is completed and readable.", "note")]
    return section("left-out", "left-out", "Runs left out of the summaries", parts, level=2)


def environment_section(runs: Sequence[Run], labels: dict[str, str]) -> Markup:
    machine = environment.machine()
    origins = environment.run_origins(runs, labels)
    agree = environment.fingerprints_agree(runs)
    parts = [Markup("<h3>This report was made on</h3>"),
             table(["what", "value"], list(machine.items()), "machine"),
             Markup("<h3>Package versions</h3>"),
             table(["package", "version"], list(environment.packages().items()), "packages"),
             Markup("<h3>Where each run ran, and on which data</h3>"),
             paragraph("Data fingerprints identify the examples a run trained and was evaluated on (after its "
                       "limit). " + ("Runs with the same limit were evaluated on the same examples." if agree else
                                     "Some runs with the same limit were evaluated on different examples: the data "
                                     "changed between them, so their test figures do not compare."),
                       "note" if agree else "problem")]
    if origins:
        parts.append(table(list(origins[0]), [list(row.values()) for row in origins], "origins"))
    return section("environment", "environment", "Environment", parts, level=2)


def write_report(runs: Sequence[Run], path: str | Path, title: str = DEFAULT_TITLE,
                 unreadable: Sequence[tuple[str, str]] = ()) -> dict:
    """Write the report to `path` atomically; what it holds (see build_report), with its file and size."""
    document, held = build_report(runs, title, unreadable)
    data = document.encode("utf-8")
    target = Path(path).expanduser().absolute()
    write_atomic(target, data)
    return {"file": str(target), "bytes": len(data), **held}
