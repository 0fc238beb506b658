"""Tables of runs for the pages and the CLI: the runs table, where runs were trained, students beside their
teachers, per-class metrics side by side, the comparison export and the examples behind a confusion cell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..data.goemotions import EKMAN_CLASSES
from ..errors import MissingResource
from ..evaluation.calibration import calibration_row
from ..evaluation.metrics import MEASURES, per_class_table
from ..runs.folder import Run, best_epoch
from ..runs.schemas import Unreadable
from ..serving.cost import unsteady_figures
from .choice import degenerate, validation_of
from .recipes import readable
from .summary import cost_of

if TYPE_CHECKING:
    import pandas as pd


def run_labels(runs: Sequence[Run]) -> dict[str, str]:
    """What legends call each run: its name, else its id; a name that several runs share gets their ids added."""
    names = [run.display_name for run in runs]
    return {run.run_id: name if names.count(name) == 1 or name == run.run_id else f"{name} ({run.run_id})"
            for run, name in zip(runs, names)}


def describe_run(run: Run) -> str:
    """A picker's line: name (or id) · architecture · data · epochs · test accuracy."""
    from ..models import architectures

    config, metrics = run.config, run.metrics or {}
    arch = config.get("arch")
    title = architectures()[arch].title if arch in architectures() else str(arch)
    if run.is_ensemble:
        title = f"ensemble of {len(config.get('members') or [])}"
    data = f"limit {config['limit']:,}" if isinstance(config.get("limit"), int) else "full data"
    has_accuracy = isinstance(metrics.get("accuracy"), (int, float))
    accuracy = f"{metrics['accuracy']:.1f} %" if has_accuracy else "no test metrics"
    trained = "" if run.is_ensemble else f" · {len(run.history)} epochs"  # an ensemble trains nothing itself
    warning = degenerate(run)
    return f"{run.display_name} · {title} · {data}{trained} · {accuracy}" + (f" · ⚠ {warning}" if warning else "")


def comparison_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per readable run: name, architecture, key hyperparameters, status, test metrics (with the expected
    calibration error before and after temperature scaling, where calibration.json holds it), epochs, cost,
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
            **{key: value for key, value in calibration_row(run).items() if key != "temperature"},
            "epochs": summary["epochs"],
            "best_epoch": best_epoch(run),
            "limit": config.get("limit"),
            **cost_of(run),
            "cost_warning": ", ".join(f"{key}: spread > median" for key in unsteady_figures(
                (run.metrics or {}).get("cost"))),
            "warning": degenerate(run) or "",
            "device": summary["device"],
            "host": summary["host"],
            "source": "MLflow" if run.origin else "here",
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


def trained_where(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (host, device) the readable runs were trained on: how many runs, how many completed, how many
    were pulled from MLflow, and the newest run's creation time; most runs first."""
    import pandas as pd

    rows: dict[tuple, dict] = {}
    for run in readable(runs):
        if run.is_ensemble:  # trained nowhere: it averages its members
            continue
        host, device = run.trained_on
        row = rows.setdefault((host or "unknown", device or "unknown"), {
            "host": host or "unknown", "device": device or "unknown", "runs": 0, "completed": 0, "pulled": 0,
            "latest": ""})
        row["runs"] += 1
        row["completed"] += run.status == "completed"
        row["pulled"] += bool(run.origin)
        row["latest"] = max(row["latest"], str(run.config.get("created") or ""))
    frame = pd.DataFrame(list(rows.values()), columns=["host", "device", "runs", "completed", "pulled", "latest"])
    return frame.sort_values(["runs", "host"], ascending=[False, True]).reset_index(drop=True)


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
    from ..runs.spreadsheet import spreadsheet_safe

    # names, tags and notes are user text: a cell such as =HYPERLINK(…) must not run as a formula when opened
    return spreadsheet_safe(pd.concat([table, pd.DataFrame(extra, index=table.index)], axis=1))


def cell_examples(run: Run, true: str, predicted: str) -> pd.DataFrame:
    """The test examples of one confusion cell (from test_predictions.csv, read through its schema), most confident
    first. A run without the file, or with a damaged one, is a MissingResource that says which."""
    try:
        frame = run.test_predictions()
    except Unreadable as exc:
        raise MissingResource(f"Run {run.run_id}: {exc}; its test examples cannot be listed (the rest of the run "
                              "is shown).") from None
    if frame is None:
        raise MissingResource(f"Run {run.run_id} has no test_predictions.csv (it ended before the test "
                              "evaluation).")
    cell = frame[(frame["true"] == true) & (frame["predicted"] == predicted)]
    return cell.sort_values("confidence", ascending=False)[["text", "true", "predicted", "confidence"]] \
        .reset_index(drop=True)
