"""Altair charts of the Data page: class balance, the 28 raw labels, the 28 → 7 grouping, token lengths."""

from __future__ import annotations

import altair as alt
import pandas as pd

from goemo_core.data.goemotions import EKMAN_CLASSES
from views.palette import EKMAN_COLORS, ekman_color, text_color

ROW_STEP = 20  # pixels per horizontal bar: room for every label at the axis font size
FACET_WIDTH = 230
SINGLE_WIDTH = 520


def _facet(chart: alt.TopLevelMixin, splits: list[str]) -> alt.TopLevelMixin:
    """One column per split when several are shown."""
    if len(splits) < 2:
        return chart
    return chart.facet(column=alt.Column("split:N", sort=splits, title=None))


def ekman_share_bars(frame: pd.DataFrame, splits: list[str]) -> alt.TopLevelMixin:
    """Horizontal bars of each class's share of its split, the percentage printed after each bar (one row per
    class, so labels never collide). Shares put splits of different sizes on one axis."""
    top = float(frame["share"].max()) if len(frame) else 1.0
    base = alt.Chart(frame).encode(
        y=alt.Y("class:N", sort=list(EKMAN_CLASSES), title=None),
        x=alt.X("share:Q", title="share of the split's examples", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, top * 1.25])),  # headroom for the label after the longest bar
        tooltip=["split", "class", alt.Tooltip("count:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
    )
    bars = base.mark_bar().encode(color=ekman_color("class"))
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("share:Q", format=".1%"))
    width = FACET_WIDTH if len(splits) > 1 else SINGLE_WIDTH
    return _facet((bars + labels).properties(width=width, height=alt.Step(ROW_STEP + 4)), splits)


def raw_label_bars(frame: pd.DataFrame, order: list[str], splits: list[str]) -> alt.TopLevelMixin:
    """The raw labels' occurrences, one row per emotion in `order` (the same in every column) coloured by its
    Ekman class; every emotion is named."""
    chart = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("emotion:N", sort=order, title=None,
                axis=alt.Axis(labelOverlap=False, labelLimit=200)),  # vega drops overlapping labels by default
        x=alt.X("count:Q", title="label occurrences"),
        color=ekman_color("ekman", legend=alt.Legend(title="Ekman class")),
        tooltip=["split", "emotion", "ekman", alt.Tooltip("count:Q", format=",")],
    ).properties(width=FACET_WIDTH if len(splits) > 1 else SINGLE_WIDTH, height=alt.Step(ROW_STEP))
    if len(splits) > 1:  # splits differ 8× in size: compare shapes, not lengths
        return _facet(chart, splits).resolve_scale(x="independent")
    return chart


def grouping_frame(frame: pd.DataFrame, min_fraction: float = 0.04) -> pd.DataFrame:
    """One split's raw-label counts stacked per Ekman class (largest emotion at the bottom): y0, y1, the middle,
    whether the segment is tall enough for its name (a `min_fraction` of the tallest stack) and the label colour."""
    stacked = frame.sort_values(["ekman", "count"], ascending=[True, False]).copy()
    stacked["y1"] = stacked.groupby("ekman")["count"].cumsum()
    stacked["y0"] = stacked["y1"] - stacked["count"]
    stacked["middle"] = (stacked["y0"] + stacked["y1"]) / 2
    tallest = stacked.groupby("ekman")["count"].sum().max() if len(stacked) else 0
    stacked["fits"] = stacked["count"] >= min_fraction * tallest
    stacked["label_color"] = [text_color(EKMAN_COLORS[e]) for e in stacked["ekman"]]
    return stacked.reset_index(drop=True)


def grouping_bars(frame: pd.DataFrame, split: str, height: int = 420) -> alt.LayerChart:
    """The 28 → 7 grouping: a bar per Ekman class in its colour, a segment per raw emotion, named where it fits."""
    stacked = grouping_frame(frame)
    base = alt.Chart(stacked).encode(x=alt.X("ekman:N", sort=list(EKMAN_CLASSES), title=f"Ekman class ({split})",
                                             scale=alt.Scale(paddingInner=0.1), axis=alt.Axis(labelAngle=0)))
    tooltip = ["emotion", "ekman", alt.Tooltip("count:Q", format=",")]
    segments = base.mark_bar(stroke="white", strokeWidth=1).encode(
        y=alt.Y("y0:Q", title="raw label occurrences"), y2="y1:Q", color=ekman_color("ekman"), tooltip=tooltip)
    # a name longer than its bar is cut with an ellipsis inside the bar
    fit_bar = alt.ExprRef(expr="bandwidth('x') - 4")
    names = base.transform_filter(alt.datum.fits).mark_text(fontSize=10, limit=fit_bar).encode(
        y="middle:Q", text="emotion:N", color=alt.Color("label_color:N", scale=None), tooltip=tooltip)
    return alt.layer(segments, names).resolve_scale(color="independent").properties(height=height)


def length_histogram_chart(histogram: pd.DataFrame, splits: list[str], max_length: int,
                           clip: int = 80) -> alt.TopLevelMixin:
    """Token lengths as the share of each split's examples per bin (a column per split, one y axis), so the small
    splits are as readable as train; a dashed red rule at the training input length."""
    right = float(histogram["end"].max()) if len(histogram) else clip
    bars = alt.Chart().mark_bar(binSpacing=1).encode(  # the app theme's wider spacing leaves slivers of bins
        x=alt.X("start:Q", bin="binned", title=f"tokens ({clip} = {clip} or more)",
                scale=alt.Scale(domain=[0, right])),
        x2="end:Q",
        y=alt.Y("share:Q", title="share of the split's examples", axis=alt.Axis(format="%")),
        color=alt.Color("split:N", sort=splits, legend=None),
        tooltip=["split", alt.Tooltip("start:Q", title="from (tokens)"), alt.Tooltip("end:Q", title="below"),
                 alt.Tooltip("examples:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
    )
    # aggregated to one row per chart, so the rule is drawn once, not once per bin
    rule = alt.Chart().transform_aggregate(bins="count()").mark_rule(color="red", strokeDash=[4, 4]).encode(
        x=alt.datum(max_length))
    layer = alt.layer(bars, rule, data=histogram).properties(
        width=FACET_WIDTH if len(splits) > 1 else SINGLE_WIDTH, height=220)
    return _facet(layer, splits)
