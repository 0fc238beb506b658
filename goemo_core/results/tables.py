"""The summary over seeds as tables for a paper: Markdown, a LaTeX (booktabs) table body, or CSV. Tasks are never
mixed in one table: Markdown and LaTeX give one table per task, headed by its name, whose columns are the task's own
(accuracy on a single-label task; macro-F1 first, then exact-match accuracy, on a multi-label one) with the best value
of each metric column in bold; the CSV has one row per recipe with a task column and every figure a number (mean and
standard deviation in columns of their own). Each recipe row: its settings, the number of seeds, whether it is the
recipe chosen on validation, whether it differs from its task's best chosen recipe and, where some row was attacked
(see results.attack_columns), its accuracy under each TextAttack recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..attacks.recipes import RECIPE_NAMES
from ..data.tasks import TASK_NAMES, get_task
from ..errors import InvalidConfig
from ..runs.spreadsheet import rows_csv
from .summary import SPREAD_NOTE, format_limit

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("markdown", "latex", "csv")
SELECTION_RULE = ("Chosen (✓): per architecture and task, the full-data recipe with the best mean validation "
                  "accuracy (macro-F1 first on a multi-label task, at the fixed threshold; ties: the other); test "
                  "metrics are reported, never used to choose. vs best: Welch's t-test over seeds against the task's "
                  f"best chosen recipe, p-values Holm-adjusted over the task's recipes (* p < 0.05). {SPREAD_NOTE}.")
ATTACK_RULE = (" Under R: accuracy under TextAttack's recipe R on one seeded sample of test examples, mean ± std "
               "over the recipe's attacked seeds (n when fewer than its seeds).")
Column = tuple[str, str, str | None, int]  # (header, mean column, std column, decimals)


def metric_columns(task: str) -> list[Column]:
    """The metric columns of `task`'s table, its headline first: validation accuracy, test accuracy and macro-F1 on
    a single-label task; validation macro-F1, test macro-F1 and exact-match accuracy on a multi-label one."""
    if get_task(task).multi_label:
        return [("Val. macro-F1", "val_macro_f1_mean", None, 3),
                ("Test macro-F1", "test_macro_f1_mean", "test_macro_f1_std", 3),
                ("Test exact match (%)", "test_accuracy_mean", "test_accuracy_std", 2)]
    return [("Val. acc. (%)", "val_accuracy_mean", None, 2),
            ("Test acc. (%)", "test_accuracy_mean", "test_accuracy_std", 2),
            ("Test macro-F1", "test_macro_f1_mean", "test_macro_f1_std", 3)]


def attacked_recipes(rows: pd.DataFrame) -> list[str]:
    """The attack recipes some of these rows have accuracy under."""
    return [recipe for recipe in RECIPE_NAMES
            if f"{recipe}_under_attack_mean" in rows and rows[f"{recipe}_under_attack_mean"].notna().any()]


def table_columns(task: str, rows: pd.DataFrame) -> list[Column]:
    """`task`'s metric columns, then accuracy under each attack recipe some of its rows have."""
    return metric_columns(task) + [(f"Under {recipe} (%)", f"{recipe}_under_attack_mean",
                                    f"{recipe}_under_attack_std", 2) for recipe in attacked_recipes(rows)]


def headers(task: str, rows: pd.DataFrame) -> list[str]:
    return ["Architecture", "Settings", "Seeds", *(c[0] for c in table_columns(task, rows)), "Chosen", "vs best"]


def rule(summary: pd.DataFrame) -> str:
    return SELECTION_RULE + (ATTACK_RULE if attacked_recipes(summary) else "")


def by_task(summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The summary's rows per task, in the order tasks are listed."""
    present = set(summary["task"]) if not summary.empty else set()
    return [(task, summary[summary["task"] == task]) for task in TASK_NAMES if task in present]


def settings_text(row: dict, varying: set[str]) -> str:
    """A recipe's settings: what it changes, its limit and augmented split, and, where they differ between the rows of
    one table, its encoder and data source (two recipes are never shown with the same text)."""
    parts = [str(row["changes"])]
    if format_limit(row.get("limit")):
        parts.append(f"limit {format_limit(row['limit'])}")
    if row.get("augment"):
        parts.append(f"augment {row['augment']}")
    if "pretrained" in varying:
        parts.append(f"encoder {row.get('pretrained')}")
    if "data_source" in varying:
        parts.append(f"data: {row.get('data_source') or 'unknown'}")
    return ", ".join(parts)


def varying_columns(rows: pd.DataFrame) -> set[str]:
    return {column for column in ("pretrained", "data_source")
            if column in rows and rows[column].astype(str).nunique() > 1}


def spread_text(row: pd.Series, mean: str, std: str | None, digits: int) -> tuple[str, float]:
    value = row[mean]
    text = "–" if value is None or value != value else f"{value:.{digits}f}"
    if std and row[std] is not None and row[std] == row[std]:
        text += f" ± {row[std]:.{digits}f}"
    missing = (row.get("n_by_metric") or {}).get(mean.removeprefix("test_").removesuffix("_mean"))
    if missing is not None and value == value:
        text += f" (n = {missing})"
    if mean.endswith("_under_attack_mean") and value == value and value is not None and (
            attacked := row[mean.replace("_under_attack_mean", "_attacked")]) != row["runs"]:
        text += f" (n = {attacked})"  # fewer of the recipe's seeds were attacked
    return text, value


def paper_rows(summary: pd.DataFrame, task: str) -> list[list[tuple[str, bool]]]:
    """The cells of `task`'s table as (text, bold) pairs, one list per recipe row of a seed summary
    (results.summary.seed_summary) of that task; the best of each metric column (within the task) is bold."""
    rows = summary[summary["task"] == task]
    columns = table_columns(task, rows)
    best = {mean: rows[mean].max() for _, mean, _, _ in columns if not rows.empty}
    varying = varying_columns(rows)
    out = []
    for _, row in rows.iterrows():
        cells = [(str(row["arch"]), False), (settings_text(row.to_dict(), varying), False), (str(row["runs"]), False)]
        for _, mean, std, digits in columns:
            text, value = spread_text(row, mean, std, digits)
            cells.append((text, value == value and value == best[mean]))
        cells += [("✓" if row["chosen"] else "", False), (str(row.get("vs_best") or ""), False)]
        out.append(cells)
    return out


def paper_table(summary: pd.DataFrame, fmt: str) -> str:
    """The summary as `fmt` (markdown, latex or csv): one table per task (a CSV: a task column)."""
    writers: dict[str, Callable[[pd.DataFrame], str]] = {"markdown": _markdown, "latex": _latex, "csv": _csv}
    if fmt not in writers:
        raise InvalidConfig(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}.")
    return writers[fmt](summary)


def _markdown(summary: pd.DataFrame) -> str:
    def cell(text: str, bold: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if bold and text else text

    blocks = []
    for task, rows in by_task(summary):
        names = headers(task, rows)
        lines = [f"**Task {task}**: {get_task(task).description}", "",
                 "| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]
        lines += ["| " + " | ".join(cell(text, bold) for text, bold in row) + " |" for row in paper_rows(summary, task)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + f"\n\n{rule(summary)}\n"


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$",
                 "✓": r"\checkmark", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table cell: every special character escaped (one pass, so escapes stay intact)."""
    return "".join(LATEX_SPECIAL.get(character, character) for character in text)


def _latex(summary: pd.DataFrame) -> str:
    def cell(text: str, bold: bool) -> str:
        escaped = latex_escape(text)
        return f"\\textbf{{{escaped}}}" if bold and text else escaped

    lines = [f"% {latex_escape(rule(summary))}"]
    for task, rows in by_task(summary):
        lines += [f"% task {latex_escape(task)}: {latex_escape(get_task(task).description)}",
                  f"\\begin{{tabular}}{{llr{'r' * len(table_columns(task, rows))}cl}}", "\\toprule",
                  " & ".join(latex_escape(h) for h in headers(task, rows)) + " \\\\", "\\midrule"]
        lines += [" & ".join(cell(text, bold) for text, bold in row) + " \\\\" for row in paper_rows(summary, task)]
        lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


CSV_HEADERS = ["Architecture", "Task", "Settings", "Seeds", "Accuracy measure", "Val. accuracy (%)",
               "Val. macro-F1", "Test accuracy mean (%)", "Test accuracy std (%)", "Test macro-F1 mean",
               "Test macro-F1 std", "Chosen", "vs best"]


def _csv(summary: pd.DataFrame) -> str:
    """One row per recipe, tasks one after the other; every figure is a number (empty where there is none), the
    standard deviations in columns of their own; 'Accuracy measure' says what the accuracy columns measure."""
    def number(value: object) -> object:
        return "" if value is None or value != value else float(value)

    recipes = attacked_recipes(summary)
    names = CSV_HEADERS + [f"Under {recipe} {part} (%)" for recipe in recipes for part in ("mean", "std")]
    rows = []
    for task, rows_of_task in by_task(summary):
        varying = varying_columns(rows_of_task)
        for _, row in rows_of_task.iterrows():
            rows.append([str(row["arch"]), task, settings_text(row.to_dict(), varying), int(row["runs"]),
                         get_task(task).accuracy_name, number(row["val_accuracy_mean"]),
                         number(row["val_macro_f1_mean"]), number(row["test_accuracy_mean"]),
                         number(row["test_accuracy_std"]), number(row["test_macro_f1_mean"]),
                         number(row["test_macro_f1_std"]), "yes" if row["chosen"] else "",
                         str(row.get("vs_best") or ""),
                         *(number(row[f"{recipe}_under_attack_{part}"])
                           for recipe in recipes for part in ("mean", "std"))])
    return rows_csv(names, rows)
