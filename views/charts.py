"""Altair charts shared by the pages."""

from __future__ import annotations

import importlib
import math
from typing import Callable, Iterable

import altair as alt
import pandas as pd
import streamlit as st

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


def epoch_axis(last_epoch: int) -> alt.X:
    """Epochs as whole numbers: ticks at integers only (a 1-epoch run shows "1", not "1.000000")."""
    last = max(2, int(last_epoch))
    values = list(range(1, last + 1)) if last <= 20 else None
    return alt.X("epoch:Q", scale=alt.Scale(domain=[1, last], nice=False),
                 axis=alt.Axis(format="d", tickMinStep=1, values=values))


# A categorical palette for runs: Tableau 10, then ten hues chosen to differ from those and from each other (Tableau
# 20's light twins look alike beside their dark ones). A run keeps its colour in every curve chart and its legend.
RUN_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
              "#bab0ac", "#000075", "#800000", "#808000", "#911eb4", "#42d4f4", "#f032e6", "#3cb44b", "#469990",
              "#000000", "#dcbeff"]


def run_colors(runs: list[str]) -> dict[str, str]:
    return {run: RUN_COLORS[i % len(RUN_COLORS)] for i, run in enumerate(runs)}


def color_by(field: str, colors: dict[str, str], legend: alt.Legend | None = None, title: str | None = None,
             present: Iterable[str] | None = None) -> alt.Color:
    """A colour channel giving each value of `field` its colour in `colors` (the page's one colour per run), so a run
    looks the same in every chart of the page; `present` limits the legend to the values a chart draws."""
    if present is not None:
        kept = set(present)
        colors = {value: color for value, color in colors.items() if value in kept}
    return alt.Color(f"{field}:N", scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                     legend=legend, title=title)


TICKS = 5  # ticks on a quantitative axis whose format tick_format chooses


def tick_format(values: Iterable[float], ticks: int = TICKS) -> str:
    """A d3 number format with as many decimals as `ticks` ticks across `values` need to read differently (trailing
    zeros trimmed): a metric that moves in its fourth decimal gets four, never seven ticks all labelled alike."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    span = (max(finite) - min(finite)) if finite else 0.0
    if span <= 0:
        span = abs(finite[0]) if finite and finite[0] else 1.0
    decimals = max(0, -math.floor(math.log10(span / (2 * ticks))))
    return f".{min(decimals, 10)}~f"


def curve_groups(archs: dict[str, str]) -> dict[str, str]:
    """What each run's curves are coloured (and listed in the legend) by: the run itself while the palette keeps
    runs apart, its architecture beyond that. `archs` maps run names to architectures."""
    if len(archs) <= len(RUN_COLORS):
        return {run: run for run in archs}
    return dict(archs)


def live_curves(history: list[dict], height: int = 160) -> alt.HConcatChart | None:
    """Loss and accuracy per epoch, train vs validation, side by side (for job cards)."""
    frame = history_frame(history)
    if frame.empty:
        return None
    charts = []
    for quantity in ("loss", "accuracy (%)"):
        part = frame[frame["quantity"] == quantity]
        charts.append(alt.Chart(part, title=quantity).mark_line(point=True).encode(
            x=epoch_axis(frame["epoch"].max()),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("split:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["epoch", "split", alt.Tooltip("value:Q", format=".3f")],
        ).properties(height=height, width=260))
    return alt.hconcat(*charts)


# --- Compare page --------------------------------------------------------------------------------------------------

CURVE_METRICS = {"train_loss": "train loss", "distill_loss": "train loss with distillation ((1 − α)·loss + "
                 "α·T²·KL)", "val_loss": "validation loss", "train_accuracy": "train accuracy (%)",
                 "val_accuracy": "validation accuracy (%)", "val_macro_f1": "validation macro-F1"}


def curves_frame(histories: dict[str, list[dict]], best_epochs: dict[str, int | None],
                 groups: dict[str, str] | None = None, distilled: set[str] = frozenset()) -> pd.DataFrame:
    """Long format over runs: run, its colour group (see curve_groups), epoch, metric, value, and whether the epoch
    is the run's kept (best) one. A distilled run's train loss mixes in the teachers' term, on another scale: it is
    its own metric, `distill_loss`, so it does not squash the plain train losses."""
    def metric(run: str, key: str) -> str:
        return "distill_loss" if key == "train_loss" and run in distilled else key

    rows = [{"run": run, "group": (groups or {}).get(run, run), "epoch": record["epoch"], "metric": metric(run, key),
             "value": record[key], "best": record["epoch"] == best_epochs.get(run)}
            for run, history in histories.items() for record in history
            for key in CURVE_METRICS if record.get(key) is not None]
    return pd.DataFrame(rows, columns=["run", "group", "epoch", "metric", "value", "best"])


SVG = {"embedOptions": {"renderer": "svg"}}  # drawn as SVG, so a chart's axes and legends can be read in the page
CURVE_WIDTH = 420  # each curve plot, two a row: both fit the wide layout at 1,400 px beside the sidebar


def compare_curves(frame: pd.DataFrame, colors: dict[str, str], height: int = 260) -> alt.ConcatChart:
    """Every curve metric of `frame` (see curves_frame) as one chart, two plots a row, with one legend below them all:
    a line per run coloured by its group (`colors` maps groups, see curve_groups); the best epoch of each run is a
    large diamond on a dashed rule. Clicking a legend entry highlights its runs in every plot and fades the others
    (shift-click adds more; a click on empty space shows all again). Drawn as SVG, so the plots can be measured in
    the page."""
    shown = alt.selection_point(name="legend_pick", fields=["group"], bind="legend")
    colors = {group: color for group, color in colors.items() if group in set(frame["group"])}  # legend: its runs
    x = epoch_axis(frame["epoch"].max() if len(frame) else 1)
    color = alt.Color("group:N", scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                      legend=alt.Legend(title=None, orient="bottom", columns=4, labelLimit=260, symbolLimit=0))
    plots = [_curve_plot(frame[frame["metric"] == metric], metric, x, color, shown, first=i == 0)
             .properties(width=CURVE_WIDTH, height=height)
             for i, metric in enumerate(m for m in CURVE_METRICS if (frame["metric"] == m).any())]
    return (alt.concat(*plots, columns=2).resolve_scale(color="shared")
            .properties(usermeta=SVG))


def spec_of(chart: str | Callable[..., alt.TopLevelMixin], *args, **kwargs) -> dict:
    """The Vega-Lite spec of `chart` (a chart function, or the name of one of this module), built once per set of
    arguments: building and validating an Altair chart is most of what a page of charts costs on a rerun that changes
    none of its data (a new run, a new selection: new arguments, a new spec)."""
    where = chart if isinstance(chart, str) else f"{chart.__module__}:{chart.__qualname__}"
    return _spec(where, *args, **kwargs)


@st.cache_data(show_spinner=False, max_entries=256)
def _spec(where: str, *args, **kwargs) -> dict:
    module, _, name = where.rpartition(":")
    namespace = vars(importlib.import_module(module)) if module else globals()
    return namespace[name](*args, **kwargs).to_dict()


def _curve_plot(part: pd.DataFrame, metric: str, x: alt.X, color: alt.Color, shown, first: bool) -> alt.LayerChart:
    """One metric's lines, best-epoch rules and diamonds; `shown` (the legend's selection) is declared on the first
    plot only and read by all."""
    base = alt.Chart(part).encode(
        x=x, color=color, opacity=alt.when(shown).then(alt.value(1.0)).otherwise(alt.value(0.12)))
    line = base.mark_line(point=True).encode(
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False),
                axis=alt.Axis(format=tick_format(part["value"]), tickCount=TICKS)),
        tooltip=["run", "epoch", alt.Tooltip("value:Q", format=".4f")])
    if first:
        line = line.add_params(shown)
    best = base.transform_filter(alt.datum.best)
    rule = best.mark_rule(strokeDash=[4, 4]).encode(opacity=alt.when(shown).then(alt.value(0.5))
                                                    .otherwise(alt.value(0.06)))
    mark = best.mark_point(shape="diamond", size=160, filled=True).encode(
        y="value:Q", tooltip=["run", alt.Tooltip("epoch:Q", title="best epoch"), alt.Tooltip("value:Q", format=".4f")])
    return alt.layer(line, rule, mark, title=alt.TitleParams(CURVE_METRICS.get(metric, metric), anchor="start"))


def accuracy_domain(values: Iterable[float], least: float = 1.0) -> list[float]:
    """An accuracy axis from the data: its lowest to highest value with a margin, at least `least` points wide."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))] or [0.0, 100.0]
    low, high = min(finite), max(finite)
    margin = max((least - (high - low)) / 2, 0.08 * (high - low))
    return [max(0.0, low - margin), min(100.0, high + margin)]


def cost_scatter(points: pd.DataFrame, front: pd.DataFrame, cost: str, cost_title: str, reference: float | None,
                 colors: dict[str, str], height: int = 340, by_measurement: bool = False,
                 accuracy_title: str = "test accuracy (%)") -> alt.LayerChart:
    """Test accuracy against one cost (log scale), a point per run in its colour (`colors` maps the `group` column,
    see curve_groups); the Pareto front as a line, and the course notebook's best accuracy (None: no such reference)
    as a dashed rule where it falls within the accuracy axis, which spans the points. `by_measurement`: the point's
    shape says which measurement pass its figure comes from (the `measurement` column, one legend entry per pass);
    a point whose `steady` column is False (its figure's spread exceeds its median) is drawn hollow."""
    domain = accuracy_domain(points["test_accuracy"])
    x = alt.X(f"{cost}:Q", title=cost_title, scale=alt.Scale(type="log"))
    y = alt.Y("test_accuracy:Q", title=accuracy_title, scale=alt.Scale(domain=domain, nice=False, zero=False),
              axis=alt.Axis(format=tick_format(domain), tickCount=TICKS))
    shape = ({"shape": alt.Shape("measurement:N", title="measured",
                                 legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=500))}
             if by_measurement and "measurement" in points else {})
    color = color_by("group", colors, alt.Legend(title="run", labelLimit=240), present=points["group"])
    tooltip = ["label", "arch", alt.Tooltip("test_accuracy:Q", format=".2f"),
               *([alt.Tooltip("val_accuracy:Q", format=".2f")] if "val_accuracy" in points else []),
               alt.Tooltip(f"{cost}:Q", format=",.4~g"),
               *([c for c in ("measurement", "load", "cost_warning") if c in points])]
    steady = points["steady"] if "steady" in points else pd.Series(True, index=points.index)
    layers = [alt.Chart(front).mark_line(strokeDash=[6, 3], color="#555").encode(x=x, y=y, order=f"{cost}:Q")]
    for filled, part in ((True, points[steady.astype(bool)]), (False, points[~steady.astype(bool)])):
        if len(part):
            layers.append(alt.Chart(part).mark_point(size=90, opacity=0.9, filled=filled, strokeWidth=2).encode(
                x=x, y=y, color=color, tooltip=tooltip, **shape))
    if reference is not None and domain[0] <= reference <= domain[1]:
        rule_data = pd.DataFrame({"accuracy": [reference], "text": [f"course notebook {reference} %"]})
        layers.append(alt.Chart(rule_data).mark_rule(color="#b00", strokeDash=[4, 4]).encode(y="accuracy:Q"))
        layers.append(alt.Chart(rule_data).mark_text(align="left", dx=4, dy=-6, color="#b00").encode(
            y="accuracy:Q", text="text:N", x=alt.value(0)))
    return alt.layer(*layers).resolve_scale(color="shared", shape="shared").properties(
        height=height, usermeta=SVG)


def confusion_heatmap(frame: pd.DataFrame, title: str, selection: str | None = None) -> alt.LayerChart:
    """Row-normalised confusion matrix with the shares printed; `selection` names a point selection on the cells
    (fields true, predicted), so a click can pick the examples behind a cell."""
    order = list(dict.fromkeys(frame["true"]))
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("predicted:N", sort=order, title="predicted"),
        y=alt.Y("true:N", sort=order, title="true"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),
        tooltip=["true", "predicted", alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("count:Q", format=",")],
    )
    if selection:
        point = alt.selection_point(name=selection, fields=["true", "predicted"], on="click")
        cells = cells.add_params(point).encode(
            opacity=alt.when(point).then(alt.value(1.0)).otherwise(alt.value(0.55)))
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("share:Q", format=".2f"),
        color=alt.when(alt.datum.share > 0.5).then(alt.value("white")).otherwise(alt.value("black")),
    )
    return alt.layer(cells, text).properties(width=300, height=300)


# --- Classify page -------------------------------------------------------------------------------------------------


BARS_UP_TO = 8  # models: beyond this the grouped bars grow too thin and the palette repeats; a heatmap stays legible


def probability_bars(frame: pd.DataFrame, classes: list[str], height: int = 300) -> alt.Chart | alt.LayerChart:
    """The class probabilities, bars grouped by model, each model in its own colour (the run palette); the legend
    sits above the plot (one row per model), so the bars keep their height however many models are compared. More
    than BARS_UP_TO models: a heatmap of models × classes with the probabilities printed."""
    models = list(dict.fromkeys(frame["model"]))
    if len(models) > BARS_UP_TO:
        return probability_heatmap(frame, classes, models)
    colors = run_colors(models)
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("class:N", sort=classes, title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("model:N", sort=models),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("model:N", sort=models, scale=alt.Scale(domain=models, range=list(colors.values())),
                        legend=alt.Legend(orient="top", direction="vertical", title=None, labelLimit=600)),
        tooltip=["model", "class", alt.Tooltip("probability:Q", format=".1%")],
    ).properties(height=height)


def probability_heatmap(frame: pd.DataFrame, classes: list[str], models: list[str]) -> alt.LayerChart:
    """Models (rows) × classes (columns), the probability printed in each cell."""
    base = alt.Chart(frame).encode(
        x=alt.X("class:N", sort=classes, title=None, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("model:N", sort=models, title=None, axis=alt.Axis(labelLimit=400, labelOverlap=False)))
    cells = base.mark_rect().encode(
        color=alt.Color("probability:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None),
        tooltip=["model", "class", alt.Tooltip("probability:Q", format=".1%")])
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("probability:Q", format=".0%"),
        color=alt.when(alt.datum.probability > 0.5).then(alt.value("white")).otherwise(alt.value("black")))
    return alt.layer(cells, text).properties(height=26 * len(models))
