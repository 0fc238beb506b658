"""The report's charts: Altair specifications drawn to SVG by vl-convert (no browser, no network), so a report holds
its pictures inline. The runs keep one colour each in every chart of a report, from the same palette as the app's
curves."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

# Tableau 10, then ten hues chosen to differ from those and from each other (as the app's curves).
RUN_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
              "#bab0ac", "#000075", "#800000", "#808000", "#911eb4", "#42d4f4", "#f032e6", "#3cb44b", "#469990",
              "#000000", "#dcbeff"]
CURVE_METRICS = {"train_loss": "train loss", "distill_loss": "train loss with distillation",
                 "val_loss": "validation loss", "train_accuracy": "train accuracy (%)",
                 "val_accuracy": "validation accuracy (%)", "val_macro_f1": "validation macro-F1"}
PLOT_WIDTH = 360


def run_colors(groups: Sequence[str]) -> dict[str, str]:
    """A colour per group, in order (the palette repeats past its 20 colours)."""
    return {group: RUN_COLORS[i % len(RUN_COLORS)] for i, group in enumerate(dict.fromkeys(groups))}


def colour_groups(archs: dict[str, str]) -> dict[str, str]:
    """What each run is coloured by: the run itself while the palette keeps runs apart, its architecture beyond
    that. `archs` maps run labels to architectures."""
    if len(archs) <= len(RUN_COLORS):
        return {run: run for run in archs}
    return dict(archs)


def curves_frame(histories: dict[str, list[dict]], best_epochs: dict[str, int | None], groups: dict[str, str],
                 distilled: set[str] = frozenset()) -> pd.DataFrame:
    """Long format over runs: run, colour group, epoch, metric, value and whether the epoch is the kept one. A
    distilled run's train loss mixes in the teachers' term, on another scale: it is its own metric."""
    import pandas as pd

    rows = [{"run": run, "group": groups.get(run, run), "epoch": record["epoch"],
             "metric": "distill_loss" if key == "train_loss" and run in distilled else key,
             "value": record[key], "best": record["epoch"] == best_epochs.get(run)}
            for run, history in histories.items() for record in history
            for key in CURVE_METRICS if record.get(key) is not None]
    return pd.DataFrame(rows, columns=["run", "group", "epoch", "metric", "value", "best"])


def _colour(field: str, colors: dict[str, str], title: str | None = None, legend: bool = True) -> alt.Color:
    import altair as alt

    return alt.Color(f"{field}:N", title=title, scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                     legend=alt.Legend(orient="bottom", columns=3, labelLimit=280, symbolLimit=0) if legend else None)


def curves_chart(frame: pd.DataFrame, colors: dict[str, str]) -> alt.ConcatChart:
    """A plot per metric, two a row, one legend below: a line per run in its colour, the kept epoch a diamond."""
    import altair as alt

    last = max(2, int(frame["epoch"].max()))
    x = alt.X("epoch:Q", scale=alt.Scale(domain=[1, last], nice=False),
              axis=alt.Axis(format="d", tickMinStep=1, values=list(range(1, last + 1)) if last <= 20 else None))
    shown = {group: color for group, color in colors.items() if group in set(frame["group"])}
    color = _colour("group", shown)
    plots = []
    for metric in (m for m in CURVE_METRICS if (frame["metric"] == m).any()):
        base = alt.Chart(frame[frame["metric"] == metric]).encode(x=x, color=color, detail="run:N")
        line = base.mark_line(point=alt.OverlayMarkDef(size=18)).encode(
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format=".3~f")))
        best = base.transform_filter(alt.datum.best).mark_point(shape="diamond", size=120, filled=True).encode(
            y="value:Q")
        plots.append(alt.layer(line, best, title=alt.TitleParams(CURVE_METRICS[metric], anchor="start"))
                     .properties(width=PLOT_WIDTH, height=200))
    return alt.concat(*plots, columns=2).resolve_scale(color="shared")


def confusion_chart(frame: pd.DataFrame, title: str) -> alt.LayerChart:
    """A row-normalised confusion matrix (see evaluation.metrics.confusion_frame) with the shares printed."""
    import altair as alt

    order = list(dict.fromkeys(frame["true"]))
    side = max(200, 26 * len(order))
    base = alt.Chart(frame, title=alt.TitleParams(title, anchor="start", limit=side + 60)).encode(
        x=alt.X("predicted:N", sort=order, title="predicted", axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("true:N", sort=order, title="true"))
    cells = base.mark_rect().encode(color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]),
                                                    legend=None))
    text = base.mark_text(fontSize=10 if len(order) <= 10 else 7).encode(
        text=alt.Text("share:Q", format=".2f"),
        color=alt.when(alt.datum.share > 0.5).then(alt.value("white")).otherwise(alt.value("black")))
    return alt.layer(cells, text).properties(width=side, height=side)


def per_class_chart(frame: pd.DataFrame, labels: Sequence[str]) -> alt.LayerChart:
    """Test F1 of every run (rows) and label (columns) as a heatmap with the values printed: as legible with 30 runs
    as with 2. `frame` has run, label and f1 columns."""
    import altair as alt

    runs = list(dict.fromkeys(frame["run"]))
    base = alt.Chart(frame).encode(
        x=alt.X("label:N", sort=list(labels), title=None, axis=alt.Axis(labelAngle=-45, orient="top")),
        y=alt.Y("run:N", sort=runs, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)))
    cells = base.mark_rect().encode(color=alt.Color("f1:Q", title="test F1", scale=alt.Scale(scheme="greens",
                                                                                             domain=[0, 1])))
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("f1:Q", format=".2f"),
        color=alt.when(alt.datum.f1 > 0.6).then(alt.value("white")).otherwise(alt.value("black")))
    return alt.layer(cells, text).properties(width=max(260, 40 * len(labels)), height=26 * len(runs))


def cost_chart(points: pd.DataFrame, front: pd.DataFrame, cost: str, cost_title: str, accuracy_title: str,
               colors: dict[str, str], reference: float | None) -> alt.LayerChart:
    """Test accuracy against one cost (log scale), a point per run in its colour; the Pareto front (chosen on
    validation) dashed; the course notebook's best accuracy as a red rule where it applies."""
    import altair as alt
    import pandas as pd

    x = alt.X(f"{cost}:Q", title=cost_title, scale=alt.Scale(type="log"))
    y = alt.Y("test_accuracy:Q", title=accuracy_title, scale=alt.Scale(zero=False))
    shown = {group: color for group, color in colors.items() if group in set(points["group"])}
    dots = alt.Chart(points).mark_point(size=90, filled=True, opacity=0.9).encode(
        x=x, y=y, color=_colour("group", shown), shape=alt.Shape("arch:N", title="architecture",
                                                                 legend=alt.Legend(orient="right")))
    layers = [alt.Chart(front).mark_line(strokeDash=[6, 3], color="#555").encode(x=x, y=y, order=f"{cost}:Q"), dots]
    if reference is not None:
        rule = pd.DataFrame({"accuracy": [reference], "text": [f"course notebook {reference} %"]})
        layers += [alt.Chart(rule).mark_rule(color="#b00", strokeDash=[4, 4]).encode(y="accuracy:Q"),
                   alt.Chart(rule).mark_text(align="left", dx=4, dy=-6, color="#b00").encode(
                       y="accuracy:Q", text="text:N", x=alt.value(0))]
    return alt.layer(*layers).properties(width=520, height=300)


def reliability_chart(frame: pd.DataFrame, colors: dict[str, str]) -> alt.LayerChart:
    """Accuracy against confidence per bin, a line per run, the diagonal of perfect calibration dashed. `frame`
    has run, confidence and accuracy columns (both 0–1)."""
    import altair as alt
    import pandas as pd

    diagonal = alt.Chart(pd.DataFrame({"confidence": [0.0, 1.0], "accuracy": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="#888").encode(x="confidence:Q", y="accuracy:Q")
    shown = {run: color for run, color in colors.items() if run in set(frame["run"])}
    lines = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1]), title="confidence"),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="accuracy"), color=_colour("run", shown))
    return alt.layer(diagonal, lines).properties(width=320, height=320)


# What an SVG drawn from our own specifications never needs, and what could reach the network or run code.
_UNSAFE_SVG = re.compile(r"<\s*(script|foreignObject|image|use|iframe|object|embed|link|style)\b|\son\w+\s*=|"
                         r"(?:xlink:)?href\s*=|url\(\s*['\"]?(?!#)", re.I)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as inline SVG markup (vl-convert; user text in it is XML-escaped). Refused when the markup holds
    anything that could load a resource or run a script."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(chart.to_dict(validate=False))  # the builders are tested; validating costs
    svg = svg[svg.index("<svg"):]  # no XML declaration inside HTML
    if _UNSAFE_SVG.search(svg):
        raise ValueError("the drawn chart holds a link or a script")
    return svg
