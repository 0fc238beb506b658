"""The summary over seeds as a table for a paper: Markdown, a LaTeX (booktabs) table body, or CSV. One row per
recipe: mean ± std over its seeds, the number of seeds, whether it is the recipe chosen on validation, and whether
its test accuracy differs from the best chosen recipe's; the best value of each metric column in bold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..attacks.recipes import RECIPE_NAMES
from ..errors import InvalidConfig
from ..runs.spreadsheet import rows_csv

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("markdown", "latex", "csv")
SELECTION_RULE = ("Chosen (✓): per architecture and task, the full-data recipe with the best mean validation "
                  "accuracy (ties: validation macro-F1); test metrics are reported, never used to choose. "
                  "vs best: Welch's t-test over seeds against the best chosen recipe (* p < 0.05).")
# (header, mean column, std column, decimals); the metric columns whose best value is bold
METRICS = [("Val. acc. (%)", "val_accuracy_mean", None, 2), ("Test acc. (%)", "test_accuracy_mean",
                                                              "test_accuracy_std", 2),
           ("Test macro-F1", "test_macro_f1_mean", "test_macro_f1_std", 3)]
ATTACK_RULE = (" Under R: accuracy under TextAttack's recipe R on one seeded sample of test examples, mean ± std "
               "over the recipe's attacked seeds (n when fewer than its seeds).")


def table_metrics(summary: pd.DataFrame) -> list[tuple[str, str, str | None, int]]:
    """METRICS, then accuracy under each attack recipe some row has (see results.attack_columns)."""
    attacked = [(f"Under {recipe} (%)", f"{recipe}_under_attack_mean", f"{recipe}_under_attack_std", 2)
                for recipe in RECIPE_NAMES if summary.get(f"{recipe}_under_attack_mean") is not None
                and summary[f"{recipe}_under_attack_mean"].notna().any()]
    return METRICS + attacked


def headers(metrics: list) -> list[str]:
    return ["Architecture", "Task", "Settings", "Seeds", *(m[0] for m in metrics), "Chosen", "vs best"]


HEADERS = headers(METRICS)


def rule(names: list[str]) -> str:
    return SELECTION_RULE + (ATTACK_RULE if any(name.startswith("Under ") for name in names) else "")


def paper_rows(summary: pd.DataFrame) -> list[list[tuple[str, bool]]]:
    """The table's cells as (text, bold) pairs, one list per recipe row of a seed summary (report.seed_summary)."""
    metrics = table_metrics(summary)
    best = {column: summary[column].max() for _, column, _, _ in metrics if not summary.empty}
    rows = []
    for _, row in summary.iterrows():
        cells = [(str(row["arch"]), False), (str(row["task"]), False),
                 (str(row["changes"]) + (f", limit {row['limit']:,}" if row["limit"] == row["limit"]
                                         and row["limit"] is not None else ""), False),
                 (str(row["runs"]), False)]
        for _, column, spread, digits in metrics:
            value = row[column]
            text = "–" if value is None or value != value else f"{value:.{digits}f}"
            if spread and row[spread] is not None and row[spread] == row[spread]:
                text += f" ± {row[spread]:.{digits}f}"
            if column.endswith("_under_attack_mean") and text != "–" and (
                    attacked := row[column.replace("_under_attack_mean", "_attacked")]) != row["runs"]:
                text += f" (n={attacked})"  # fewer of the recipe's seeds were attacked
            cells.append((text, value is not None and value == value and value == best[column]))
        cells += [("✓" if row["chosen"] else "", False), (str(row.get("vs_best") or ""), False)]
        rows.append(cells)
    return rows


def paper_table(summary: pd.DataFrame, fmt: str) -> str:
    """The summary as `fmt` (markdown, latex or csv)."""
    writers: dict[str, Callable[[list[str], list[list[tuple[str, bool]]]], str]] = {
        "markdown": _markdown, "latex": _latex, "csv": _csv}
    if fmt not in writers:
        raise InvalidConfig(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}.")
    return writers[fmt](headers(table_metrics(summary)), paper_rows(summary))


def _markdown(names: list[str], rows: list[list[tuple[str, bool]]]) -> str:
    def cell(text: str, bold: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if bold and text else text

    lines = ["| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]
    lines += ["| " + " | ".join(cell(text, bold) for text, bold in row) + " |" for row in rows]
    return "\n".join(lines) + f"\n\n{rule(names)}\n"


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$",
                 "✓": r"\checkmark", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table cell: every special character escaped (one pass, so escapes stay intact)."""
    return "".join(LATEX_SPECIAL.get(character, character) for character in text)


def _latex(names: list[str], rows: list[list[tuple[str, bool]]]) -> str:
    def cell(text: str, bold: bool) -> str:
        escaped = latex_escape(text)
        return f"\\textbf{{{escaped}}}" if bold and text else escaped

    lines = [f"% {latex_escape(rule(names))}", f"\\begin{{tabular}}{{lllr{'r' * (len(names) - 6)}cl}}",
             "\\toprule", " & ".join(latex_escape(h) for h in names) + " \\\\", "\\midrule"]
    lines += [" & ".join(cell(text, bold) for text, bold in row) + " \\\\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _csv(names: list[str], rows: list[list[tuple[str, bool]]]) -> str:
    return rows_csv(names, [[text for text, _ in row] for row in rows])
