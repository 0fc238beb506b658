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
from views.charts import SVG, color_by


def task_select(configs: Sequence[dict], key: str, start: str | None = None) -> Task:
    """The task a page shows: a select over the tasks these runs were trained on (none shown for one task), at
    `start` (e.g. a link's task) the first time it is drawn."""
    names = tasks_present(configs) or ["ekman"]
    if len(names) == 1:
        return get_task(names[0])
    if key not in st.session_state and start in names:
        st.session_state[key] = start
    return get_task(st.selectbox("Task", names, key=key, format_func=lambda n: f"{n}: {get_task(n).description}",
                                 help="Runs of different tasks have different labels and metrics: a page shows one "
                                      "task at a time and never pools or plots them together."))


HEATMAP_FROM = 9  # runs: beyond this a bar per run and label grows too tall to read; a heatmap stays legible


def label_f1_bars(metrics_by_run: dict[str, dict], task: Task, colors: dict[str, str] | None = None,
                  groups: dict[str, str] | None = None) -> alt.Chart:
    """Each label's test F1, one bar per run, labels in the task's order; a run's bar in its colour on the page
    (`colors` maps its group in `groups`, see views.charts.curve_groups); from HEATMAP_FROM runs on, a heatmap of
    runs × labels with the values printed."""
    groups = groups or {name: name for name in metrics_by_run}
    rows = [{"run": name, "group": groups.get(name, name), "label": label, "f1": metrics["per_class"][label]["f1"]}
            for name, metrics in metrics_by_run.items() for label in task.labels]
    if len(metrics_by_run) >= HEATMAP_FROM:
        return per_class_chart(pd.DataFrame(rows), task.labels)
    color = (color_by("group", colors, alt.Legend(title="run", labelLimit=240), present=groups.values())
             if colors else alt.Color("run:N", title="run"))
    return alt.Chart(pd.DataFrame(rows)).mark_bar().encode(
        y=alt.Y("label:N", sort=list(task.labels), title=None),
        x=alt.X("f1:Q", title="test F1", scale=alt.Scale(domain=[0, 1])),
        yOffset=alt.YOffset("run:N", sort=list(metrics_by_run)), color=color,
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
    """Share of each split's examples per label of the task, the splits' bars in the legend's order."""
    order = list(splits)
    return alt.Chart(frame[frame["split"].isin(splits)]).mark_bar().encode(
        y=alt.Y("label:N", sort=list(task.labels), title=None, axis=alt.Axis(labelOverlap=False, labelLimit=200)),
        x=alt.X("share:Q", title="share of the split's examples", axis=alt.Axis(format="%")),
        yOffset=alt.YOffset("split:N", sort=order, scale=alt.Scale(domain=order)),
        color=alt.Color("split:N", sort=order, scale=alt.Scale(domain=order)),
        tooltip=["split", "label", "examples", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=520, height=alt.Step(11), usermeta=SVG)  # the step of one bar (yOffset)


COOCCURRENCE_STEP = 22  # pixels per label: every name fits beside its row and under its column


def cooccurrence_heatmap(frame: pd.DataFrame, task: Task) -> alt.LayerChart:
    """Examples carrying both labels; colour: the share of the row label's examples that also carry the column's.
    The diagonal (a label with itself: always 100 %) is grey with its count, so the colour scale spans the pairs."""
    order = list(task.labels)
    frame = frame.assign(diagonal=frame["a"] == frame["b"])
    pairs = frame[~frame["diagonal"]]
    top = float(pairs["share"].max()) if len(pairs) and pairs["share"].max() > 0 else 1.0
    base = alt.Chart(frame).encode(
        x=alt.X("b:N", sort=order, title="also labelled",
                axis=alt.Axis(labelOverlap=False, labelAngle=-60, labelLimit=160)),
        y=alt.Y("a:N", sort=order, title="label", axis=alt.Axis(labelOverlap=False, labelLimit=160)),
        tooltip=["a", "b", alt.Tooltip("examples:Q", format=","), alt.Tooltip("share:Q", format=".1%")])
    cells = base.transform_filter(~alt.datum.diagonal).mark_rect().encode(
        color=alt.Color("share:Q", title="share of the row's examples",
                        scale=alt.Scale(scheme="blues", domain=[0, top]), legend=alt.Legend(format="%")))
    diagonal = base.transform_filter(alt.datum.diagonal).mark_rect(color="#d9d9d9")
    step = alt.Step(COOCCURRENCE_STEP)  # a step, not a width: the app's theme fits a fixed width, labels included
    return alt.layer(cells, diagonal).properties(width=step, height=step, usermeta=SVG)
