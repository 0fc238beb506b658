"""The summary over seeds as a table for a paper: Markdown, a LaTeX (booktabs) table body, or CSV. One row per
recipe: mean ± std over its seeds, the number of seeds, whether it is the recipe chosen on validation, and whether
its test accuracy differs from the best chosen recipe's; the best value of each metric column in bold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

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
HEADERS = ["Architecture", "Task", "Settings", "Seeds", *(m[0] for m in METRICS), "Chosen", "vs best"]


def paper_rows(summary: pd.DataFrame) -> list[list[tuple[str, bool]]]:
    """The table's cells as (text, bold) pairs, one list per recipe row of a seed summary (report.seed_summary)."""
    best = {column: summary[column].max() for _, column, _, _ in METRICS if not summary.empty}
    rows = []
    for _, row in summary.iterrows():
        cells = [(str(row["arch"]), False), (str(row["task"]), False),
                 (str(row["changes"]) + (f", limit {row['limit']:,}" if row["limit"] == row["limit"]
                                         and row["limit"] is not None else ""), False),
                 (str(row["runs"]), False)]
        for _, column, spread, digits in METRICS:
            value = row[column]
            text = "–" if value != value else f"{value:.{digits}f}"
            if spread and row[spread] is not None and row[spread] == row[spread]:
                text += f" ± {row[spread]:.{digits}f}"
            cells.append((text, value == value and value == best[column]))
        cells += [("✓" if row["chosen"] else "", False), (str(row.get("vs_best") or ""), False)]
        rows.append(cells)
    return rows


def paper_table(summary: pd.DataFrame, fmt: str) -> str:
    """The summary as `fmt` (markdown, latex or csv)."""
    writers: dict[str, Callable[[list[list[tuple[str, bool]]]], str]] = {
        "markdown": _markdown, "latex": _latex, "csv": _csv}
    if fmt not in writers:
        raise InvalidConfig(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}.")
    return writers[fmt](paper_rows(summary))


def _markdown(rows: list[list[tuple[str, bool]]]) -> str:
    def cell(text: str, bold: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if bold and text else text

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(text, bold) for text, bold in row) + " |" for row in rows]
    return "\n".join(lines) + f"\n\n{SELECTION_RULE}\n"


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$",
                 "✓": r"\checkmark", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    """Text safe inside a LaTeX table cell: every special character escaped (one pass, so escapes stay intact)."""
    return "".join(LATEX_SPECIAL.get(character, character) for character in text)


def _latex(rows: list[list[tuple[str, bool]]]) -> str:
    def cell(text: str, bold: bool) -> str:
        escaped = latex_escape(text)
        return f"\\textbf{{{escaped}}}" if bold and text else escaped

    lines = [f"% {latex_escape(SELECTION_RULE)}", f"\\begin{{tabular}}{{lllr{'r' * len(METRICS)}cl}}",
             "\\toprule", " & ".join(latex_escape(h) for h in HEADERS) + " \\\\", "\\midrule"]
    lines += [" & ".join(cell(text, bold) for text, bold in row) + " \\\\" for row in rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _csv(rows: list[list[tuple[str, bool]]]) -> str:
    return rows_csv(HEADERS, [[text for text, _ in row] for row in rows])
