"""Page pieces for tasks: the task select that keeps a page on one task, per-label F1 bars, and the published
reference rows."""

from __future__ import annotations

from typing import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core.data.tasks import Task, get_task, tasks_present
from goemo_core.reports.charts import per_class_chart
from goemo_core.results.published import MARK, against_published


def task_select(configs: Sequence[dict], key: str) -> Task:
    """The task a page shows: a select over the tasks these runs were trained on (none shown for one task)."""
    names = tasks_present(configs) or ["ekman"]
    if len(names) == 1:
        return get_task(names[0])
    return get_task(st.selectbox("Task", names, key=key, format_func=lambda n: f"{n}: {get_task(n).description}",
                                 help="Runs of different tasks have different labels and metrics: a page shows one "
                                      "task at a time and never pools or plots them together."))


HEATMAP_FROM = 9  # runs: beyond this a bar per run and label grows too tall to read; a heatmap stays legible


def label_f1_bars(metrics_by_run: dict[str, dict], task: Task, colors: dict[str, str] | None = None) -> alt.Chart:
    """Each label's test F1, one bar per run in the run's colour (`colors`: run → colour, as in the curves), labels
    in the task's order; from HEATMAP_FROM runs on, a heatmap of runs × labels with the values printed."""
    rows = [{"run": name, "label": label, "f1": metrics["per_class"][label]["f1"]}
            for name, metrics in metrics_by_run.items() for label in task.labels]
    if len(metrics_by_run) >= HEATMAP_FROM:
        return per_class_chart(pd.DataFrame(rows), task.labels)
    runs = list(metrics_by_run)
    scale = alt.Scale(domain=runs, range=[colors[run] for run in runs]) if colors and set(runs) <= set(colors) \
        else alt.Undefined
    return alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        y=alt.Y("label:N", sort=list(task.labels), title=None),
        x=alt.X("f1:Q", title="test F1", scale=alt.Scale(domain=[0, 1])),
        yOffset=alt.YOffset("run:N", sort=runs), color=alt.Color("run:N", title="run", scale=scale, sort=runs),
        tooltip=["run", "label", alt.Tooltip("f1:Q", format=".3f")],
    ).properties(height=max(160, 14 * len(task.labels) * max(1, len(metrics_by_run))))


def published_table(task: Task, metrics_by_run: dict[str, dict], key: str) -> None:
    """The runs' macro P/R/F1 and per-label F1 beside the paper's published rows for this task, if any."""
    frame = against_published(task.name, metrics_by_run)
    if frame.empty or MARK not in set(frame["source"]):
        return
    st.markdown(f"**Against the published numbers** (task `{task.name}`)")
    st.caption("The GoEmotions paper's BERT-base test results under the same protocol (threshold 0.3, macro over "
               f"labels), marked *{MARK}*; rows marked *run here* are the selected runs' test metrics.")
    st.dataframe(frame.drop(columns=["task"]), hide_index=True, key=key,
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in frame.columns
                                if c.startswith(("macro_", "f1_"))})


def distribution_bars(frame: pd.DataFrame, task: Task, splits: Sequence[str]) -> alt.Chart:
    """Share of each split's examples per label of the task."""
    return alt.Chart(frame[frame["split"].isin(splits)]).mark_bar().encode(
        y=alt.Y("label:N", sort=list(task.labels), title=None),
        x=alt.X("share:Q", title="share of the split's examples", axis=alt.Axis(format="%")),
        yOffset="split:N", color=alt.Color("split:N", sort=list(splits)),
        tooltip=["split", "label", "examples", alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=max(140, 16 * len(task.labels) * len(splits)))


def cooccurrence_heatmap(frame: pd.DataFrame, task: Task) -> alt.Chart:
    """Examples carrying both labels; colour: the share of the row label's examples."""
    order = list(task.labels)
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("b:N", sort=order, title="also labelled"), y=alt.Y("a:N", sort=order, title="label"),
        color=alt.Color("share:Q", title="share of the row's examples", scale=alt.Scale(scheme="blues")),
        tooltip=["a", "b", "examples", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=max(200, 18 * len(order)), height=max(200, 18 * len(order)))
