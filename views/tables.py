"""Tables of pooled runs (Home's leaderboard, Compare's summary over seeds): one way to show mean ± std and costs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from goemo_core.results.summary import mean_std
from goemo_core.serving.cost import loads_note, unsteady_figures

COLUMNS = {
    "runs": st.column_config.NumberColumn("seeds", help="Completed runs pooled (a seed counts once)"),
    "seeds": st.column_config.ListColumn("seed list", help="The seeds pooled"),
    "changes": st.column_config.TextColumn("changes", width="medium",
                                           help="Settings that differ from the architecture's defaults"),
    "pretrained": st.column_config.TextColumn("pretrained", help="The encoder whose tokenizer and embeddings the "
                                                                 "model starts from; an ensemble: its members'"),
    "chosen": st.column_config.CheckboxColumn("chosen", help="The architecture's recipe with the best mean validation "
                                                             "accuracy (full data): the one to report"),
    "val_accuracy_mean": st.column_config.NumberColumn("val acc (%)", format="%.2f",
                                                       help="Mean validation accuracy: what choosing looks at"),
    "vs_best": st.column_config.TextColumn("vs best", help="Welch's t-test over seeds of the test accuracy against "
                                                           "the best chosen recipe (* p < 0.05)"),
    "test_accuracy": st.column_config.TextColumn("test acc (%)"),
    "test_macro_f1": st.column_config.TextColumn("macro-F1"),
    "test_ece": st.column_config.TextColumn("ECE → with T", help="Expected calibration error on test (15 bins), "
                                                                "then after temperature scaling fitted on validation"),
    "best_epoch_mean": st.column_config.NumberColumn("best epoch", format="%.1f"),
    "epoch_seconds": st.column_config.NumberColumn("s / epoch", format="%.1f"),
    "cpu_latency_ms": st.column_config.NumberColumn("CPU ms / sentence", format="%.2f"),
    "cpu_sentences_per_s": st.column_config.NumberColumn("CPU sentences/s", format="%.0f"),
    "parameters": st.column_config.NumberColumn("parameters", format="localized"),
    "trainable_parameters": st.column_config.NumberColumn("trainable", format="localized"),
    "train_seconds": st.column_config.NumberColumn("training (s)", format="%.0f"),
    "warning": st.column_config.TextColumn("warning", help="A degenerate model: no better on validation than always "
                                                           "answering the majority class, or predicting one or two "
                                                           "classes only on test. Chosen only where nothing else is."),
}


def cost_notes(summary: pd.DataFrame, runs_by_id: dict) -> None:
    """Captions under a table of pooled runs: CPU figures measured under different loads or passes (see
    goemo_core.serving.cost.loads_note), and figures whose spread between repeats exceeds their median."""
    runs = [runs_by_id[rid] for ids in summary.get("run_ids", []) for rid in ids if rid in runs_by_id]
    costs = [(run.metrics or {}).get("cost") for run in runs]
    note = loads_note(costs)
    if note:
        st.caption(f":orange[:material/warning:] {note}")
    unsteady = [run.display_name for run, cost in zip(runs, costs) if unsteady_figures(cost)]
    if unsteady:
        st.caption(f":orange[:material/warning:] The CPU figures of {len(unsteady)} run(s) varied between repeats by "
                   "more than their median (" + ", ".join(unsteady[:5]) + ("…" if len(unsteady) > 5 else "")
                   + "): the machine was busy; measure them again together (Compare's *Accuracy against cost*, or "
                   "`python -m goemo_core bench cost`).")


def pooled_table(summary: pd.DataFrame, columns: list[str], key: str) -> None:
    """A seed summary (goemo_core.results.summary.seed_summary) with accuracy and macro-F1 as 'mean ± std' text ('(one
    seed)' where there is no spread), showing `columns`; empty cells read "–"."""
    shown = summary.assign(
        seeds=[[seed for seed in seeds if seed is not None] for seeds in summary["seeds"]],  # an ensemble has none
        test_accuracy=[mean_std(m, s, 2) for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_std"])],
        test_macro_f1=[mean_std(m, s, 3) for m, s in zip(summary["test_macro_f1_mean"], summary["test_macro_f1_std"])],
        test_ece=[ece_text(row) for _, row in summary.iterrows()])
    frame, config = blank_missing(shown[columns], {name: COLUMNS[name] for name in columns if name in COLUMNS})
    st.dataframe(frame, hide_index=True, key=key, column_config=config)


MISSING = "–"


def _printf(config: dict | None, value) -> str:
    """A cell as its number column would show it (its printf format; 'localized' and the rest: thousands)."""
    number_format = ((config or {}).get("type_config") or {}).get("format")
    if isinstance(value, float) and value.is_integer() and not number_format:
        value = int(value)
    if isinstance(number_format, str) and number_format.startswith("%"):
        return number_format % value
    return f"{value:,}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def blank_missing(frame: pd.DataFrame, column_config: dict) -> tuple[pd.DataFrame, dict]:
    """The table with every empty cell written "–" (st.dataframe writes "None"): a column with an empty cell
    becomes text, its numbers written as its column config would show them and its config a text column of the
    same label and help. Columns without a gap keep their type (and sort as numbers). Lists are left alone."""
    frame, column_config = frame.copy(), dict(column_config)
    for name in frame.columns:
        column = frame[name]
        gaps = column.map(lambda value: value is None or (isinstance(value, float) and value != value))
        if not gaps.any() or column.map(lambda value: isinstance(value, (list, tuple))).any():
            continue
        config = column_config.get(name)
        frame[name] = [MISSING if gap else _printf(config, value) for value, gap in zip(column, gaps)]
        if isinstance(config, dict) and (config.get("type_config") or {}).get("type") != "text":
            column_config[name] = st.column_config.TextColumn(config.get("label"), help=config.get("help"),
                                                              alignment="right")
        elif config is None and pd.api.types.is_numeric_dtype(column):
            column_config[name] = st.column_config.TextColumn(name, alignment="right")
    return frame, column_config


def ece_text(row: pd.Series) -> str:
    """'0.041 ± 0.003 → 0.012': the pooled test ECE, then after temperature scaling; '–' where a seed has none."""
    mean = row.get("test_ece_mean")
    if mean is None or mean != mean:
        return "–"
    return f"{mean_std(mean, row.get('test_ece_std'), 3)} → {row.get('test_ece_calibrated_mean'):.3f}"


BEST_CELL = "font-weight: bold; color: #1a7f37"


def best_cells(column: pd.Series, higher: bool) -> list[str]:
    """Styles for a column of a per-run table (pandas Styler.apply): bold green on its best value, none where every
    run ties (all 0.000 for a class no run predicts, say: nothing is best)."""
    best = column.max() if higher else column.min()
    tied = column.nunique(dropna=True) <= 1
    return ["" if tied or value != best else BEST_CELL for value in column]


def reference_results(task: str) -> None:
    """The benchmark's own answer for `task`, read-only beside the user's runs: each committed results file's
    headline (results/*.json, see `python -m goemo_core results export`), with where it was measured."""
    from goemo_core.errors import MissingResource
    from goemo_core.results.headline import committed_results, headline_cells, headline_rule
    from goemo_core.results.reference import measured_on

    for path in committed_results(task):
        try:
            document, rows = headline_cells(path)
        except (MissingResource, ValueError) as exc:
            st.caption(f"Reference results {path.name} not shown: {exc}")
            continue
        st.markdown(f"**Reference results** for `{task}`, measured on {measured_on(document)} "
                    f"({len(document.runs)} runs in `results/{path.name}`): read-only, beside your own runs.")
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"reference-{path.stem}")
        st.caption(headline_rule(task))
