"""Altair charts shared by the pages."""

from __future__ import annotations

import altair as alt
import pandas as pd

LOSS_ACC = [("train_loss", "train", "loss"), ("val_loss", "validation", "loss"),
            ("train_accuracy", "train", "accuracy (%)"), ("val_accuracy", "validation", "accuracy (%)")]


def history_frame(history: list[dict], run: str = "") -> pd.DataFrame:
    """Long format: one row per (epoch, metric) with split and quantity, for faceted line charts."""
    rows = []
    for record in history:
        for key, split, quantity in LOSS_ACC:
            if key in record and record[key] is not None:
                rows.append({"run": run, "epoch": record["epoch"], "metric": key, "split": split,
                             "quantity": quantity, "value": record[key]})
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "split", "quantity", "value"])


def live_curves(history: list[dict], height: int = 160) -> alt.HConcatChart | None:
    """Loss and accuracy per epoch, train vs validation, side by side (for job cards)."""
    frame = history_frame(history)
    if frame.empty:
        return None
    charts = []
    for quantity in ("loss", "accuracy (%)"):
        part = frame[frame["quantity"] == quantity]
        charts.append(alt.Chart(part, title=quantity).mark_line(point=True).encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("split:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["epoch", "split", alt.Tooltip("value:Q", format=".3f")],
        ).properties(height=height, width=260))
    return alt.hconcat(*charts)


def bar_with_percent(frame: pd.DataFrame, category: str, count: str = "count", color: str | None = None,
                     column: str | None = None, sort: list[str] | None = None, height: int = 260) -> alt.Chart:
    """Bars of counts with the percentage of the total printed on each bar (per facet column, if any)."""
    frame = frame.copy()
    group = frame.groupby(column)[count] if column else frame[count]
    frame["share"] = frame[count] / (group.transform("sum") if column else frame[count].sum())
    base = alt.Chart(frame).encode(
        x=alt.X(f"{category}:N", sort=sort, title=None),
        y=alt.Y(f"{count}:Q", title="examples"),
        tooltip=[category, alt.Tooltip(f"{count}:Q", format=","), alt.Tooltip("share:Q", format=".1%")]
        + ([column] if column else []),
    )
    bars = base.mark_bar().encode(color=alt.Color(f"{color or category}:N", legend=None))
    labels = base.mark_text(dy=-6, fontSize=10).encode(text=alt.Text("share:Q", format=".1%"))
    chart = (bars + labels).properties(height=height)
    if column:
        chart = chart.properties(width=230).facet(column=alt.Column(f"{column}:N", title=None, sort=["train", "validation", "test"]))
    return chart
