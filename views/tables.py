"""Tables of pooled runs (Home's leaderboard, Compare's summary over seeds): one way to show mean ± std and costs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from goemo_core.results.summary import mean_std

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
}


def pooled_table(summary: pd.DataFrame, columns: list[str], key: str) -> None:
    """A seed summary (goemo_core.results.summary.seed_summary) with accuracy and macro-F1 as 'mean ± std' text ('(one
    seed)' where there is no spread), showing `columns`."""
    shown = summary.assign(
        seeds=[[seed for seed in seeds if seed is not None] for seeds in summary["seeds"]],  # an ensemble has none
        test_accuracy=[mean_std(m, s, 2) for m, s in zip(summary["test_accuracy_mean"], summary["test_accuracy_std"])],
        test_macro_f1=[mean_std(m, s, 3) for m, s in zip(summary["test_macro_f1_mean"], summary["test_macro_f1_std"])],
        test_ece=[ece_text(row) for _, row in summary.iterrows()])
    st.dataframe(shown[columns], hide_index=True, key=key,
                 column_config={name: COLUMNS[name] for name in columns if name in COLUMNS})


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
