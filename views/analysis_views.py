"""Compare's analysis sections: calibration (reliability diagram, ECE before and after temperature scaling), the most
confident errors, where architectures disagree, and accuracy by slices. Each reads what the selected runs stored;
per-run results are cached on the run's files' modification times, so a page of many runs stays fast."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core.data.tasks import Task
from goemo_core.errors import GoEmoError
from goemo_core.evaluation.calibration import calibration_table, ensure_calibration, reliability_frame
from goemo_core.evaluation.errors import confident_errors, error_slices, prediction_table, tie_summary
from goemo_core.results.disagreements import chosen_runs, disagreements
from goemo_core.runs.folder import Run
from views.charts import run_colors, spec_of

MAX_DIAGRAM_RUNS = 12  # overlaid reliability curves beyond this are unreadable
MAX_SLICE_RUNS = 8
SHOWN_ROWS = 200

CALIBRATION_COLUMNS = {
    "temperature": st.column_config.NumberColumn("T", format="%.3f",
                                                 help="Temperature fitted on the validation probabilities (NLL); "
                                                      "above 1: the run was overconfident"),
    "ece": st.column_config.NumberColumn("ECE", format="%.4f", help="Expected calibration error on test, 15 bins"),
    "ece_calibrated": st.column_config.NumberColumn("ECE with T", format="%.4f"),
    "classwise_ece": st.column_config.NumberColumn("classwise ECE", format="%.4f"),
    "brier": st.column_config.NumberColumn("Brier", format="%.4f"),
    "brier_calibrated": st.column_config.NumberColumn("Brier with T", format="%.4f"),
    "nll": st.column_config.NumberColumn("NLL", format="%.4f"),
    "nll_calibrated": st.column_config.NumberColumn("NLL with T", format="%.4f"),
    "accuracy": st.column_config.NumberColumn("accuracy (%)", format="%.2f"),
    "ece_kind": st.column_config.TextColumn("ECE over", help="top-label: the most probable class; mean per-label: "
                                                             "each label's sigmoid (multi-label tasks)"),
}


def stamp(run: Run, names: Sequence[str] = ("test_predictions.csv", "probabilities.safetensors",
                                             "tokenizer.json", "metrics.json")) -> str:
    """The modification times and sizes of the files an analysis reads: a cache key that changes with them."""
    parts = []
    for name in names:
        try:
            stat = os.stat(Path(run.path) / name)
            parts.append(f"{stat.st_mtime_ns}:{stat.st_size}")
        except OSError:
            parts.append("-")
    return "|".join(parts)


def _run(run_dir: str) -> Run:
    path = Path(run_dir)
    return Run(path.name, path)


@st.cache_data(show_spinner=False, max_entries=256)
def _prediction_table(run_dir: str, key: str) -> pd.DataFrame:
    return prediction_table(_run(run_dir))


@st.cache_data(show_spinner=False, max_entries=256)
def _slices(run_dir: str, key: str) -> pd.DataFrame:
    run = _run(run_dir)
    return error_slices(run, _prediction_table(run_dir, key))


def calibrate_selected(runs: Sequence[Run]) -> tuple[dict[str, dict], dict[str, str]]:
    """The calibration of the selected finished runs, computed on first request and kept in their calibration.json
    (so the tables above it read it too): documents by run id, and why the others have none."""
    documents, missing = {}, {}
    for run in runs:
        if run.status != "completed" or not run.metrics:
            continue
        try:
            documents[run.run_id] = ensure_calibration(run)
        except GoEmoError as exc:
            missing[run.run_id] = str(exc)
    return documents, missing


def analysis_sections(runs: Sequence[Run], task: Task, names: dict[str, str]) -> None:
    """Calibration, confident errors, disagreements and slices of the selected runs."""
    finished = [run for run in runs if run.status == "completed" and run.metrics]
    if not finished:
        return
    calibration_section(finished, names)
    errors_section(finished, task, names)
    disagreements_section(finished, names)
    slices_section(finished, task, names)


def calibration_section(runs: Sequence[Run], names: dict[str, str]) -> None:
    st.subheader("Calibration (test split)")
    st.caption("Is the confidence worth anything? A run is calibrated when, of the predictions it makes with 80 % "
               "confidence, 80 % are right. ECE: the gap between confidence and accuracy over 15 equal-width bins, "
               "weighted by how many predictions fall in each (top-label; on a multi-label task each label's "
               "sigmoid against its flag, averaged). T: one temperature fitted on the **validation** probabilities "
               "by minimising their negative log-likelihood; dividing the logits by it leaves every prediction "
               "unchanged and only rescales the confidence (test is scored before and after, never fitted on).")
    computed, missing = calibrate_selected(runs)
    documents = {names[run_id]: document for run_id, document in computed.items()}
    if missing:
        st.caption("No calibration: " + "; ".join(f"`{names[rid]}` ({reason})" for rid, reason in missing.items()))
    if not documents:
        return
    st.dataframe(calibration_table(documents), hide_index=True, key="calibration-table",
                 column_config=CALIBRATION_COLUMNS)
    after = st.toggle("Reliability after temperature scaling", key="reliability_after")
    shown = dict(list(documents.items())[:MAX_DIAGRAM_RUNS])
    if len(documents) > len(shown):
        st.caption(f"The diagram overlays the first {MAX_DIAGRAM_RUNS} runs of the {len(documents)} selected.")
    st.vega_lite_chart(spec_of(reliability_chart, reliability_frame(shown, after)), key="reliability-diagram",
                       width="content")


def reliability_chart(frame: pd.DataFrame, width: int = 640) -> alt.VConcatChart:
    """Observed frequency against mean confidence per bin, one line per run over the diagonal of perfect
    calibration (points sized by their bin's count), and each run's predictions per bin below."""
    colors = run_colors(list(dict.fromkeys(frame["run"])))
    color = alt.Color("run:N", scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                      legend=alt.Legend(orient="bottom", title=None, columns=2, labelLimit=400))
    frame = frame.assign(bin=[f"{low:.2f}–{high:.2f}" for low, high in zip(frame["lower"], frame["upper"])])
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="#888").encode(x="x:Q", y="y:Q")
    tooltip = ["run", alt.Tooltip("bin:N", title="confidence bin"), alt.Tooltip("count:Q", title="predictions"),
               alt.Tooltip("confidence:Q", format=".3f", title="mean confidence"),
               alt.Tooltip("accuracy:Q", format=".3f", title="observed frequency")]
    base = alt.Chart(frame)
    curves = base.mark_line().encode(
        x=alt.X("confidence:Q", title="mean confidence", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("accuracy:Q", title="observed frequency (accuracy)", scale=alt.Scale(domain=[0, 1])),
        color=color, tooltip=tooltip)
    points = base.mark_circle(opacity=0.8).encode(x="confidence:Q", y="accuracy:Q", color=color, tooltip=tooltip,
                                                 size=alt.Size("count:Q", title="predictions", legend=None))
    bins = sorted(set(frame["bin"]))
    counts = base.mark_bar().encode(
        x=alt.X("bin:O", title="confidence bin", sort=bins, axis=alt.Axis(labelAngle=-45)), xOffset="run:N",
        y=alt.Y("count:Q", title="predictions"), color=color, tooltip=tooltip)
    return alt.vconcat((diagonal + curves + points).properties(width=width, height=320, title="Reliability diagram"),
                       counts.properties(width=width, height=130, title="Predictions per bin"))


def errors_section(runs: Sequence[Run], task: Task, names: dict[str, str]) -> None:
    st.subheader("Most confident errors (test split)")
    st.caption("The wrong test predictions the run was surest of" + (
        ": each wrong label decision, a false positive by its probability, a false negative by one minus it."
        if task.multi_label else ", by the probability of the class it predicted (p(true): what it gave the "
                                 "true class)."))
    ids = [run.run_id for run in runs]
    by_id = {run.run_id: run for run in runs}
    if st.session_state.get("errors_run") not in ids:
        st.session_state["errors_run"] = ids[0]
    left, middle, right = st.columns(3)
    chosen = left.selectbox("run", ids, key="errors_run", format_func=names.get)
    labels = [None, *task.labels]
    true = middle.selectbox("true class" if not task.multi_label else "true labels include", labels,
                            key="errors_true", format_func=lambda c: "any" if c is None else c)
    predicted = right.selectbox("predicted class" if not task.multi_label else "predicted labels include", labels,
                                key="errors_predicted", format_func=lambda c: "any" if c is None else c)
    run = by_id[chosen]
    try:
        table = _prediction_table(str(run.path), stamp(run))
        frame = confident_errors(run, true, predicted, SHOWN_ROWS, table)
    except GoEmoError as exc:
        st.caption(f"`{names[chosen]}`: {exc}")
        return
    wrong = int((~table["correct"]).sum())
    st.caption(f"`{names[chosen]}` is wrong on {wrong:,} of {len(table):,} test examples; {len(frame):,} shown.")
    st.dataframe(frame, hide_index=True, key="confident-errors", column_config={
        "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.3f"),
        "p_true": st.column_config.NumberColumn("p(true)", format="%.3f"),
        "probability": st.column_config.NumberColumn("p(label)", format="%.3f"), "id": None})


def disagreements_section(runs: Sequence[Run], names: dict[str, str]) -> None:
    st.subheader("Where architectures disagree (test split)")
    stored = [run for run in runs if run.predictions_path.is_file()]
    chosen = chosen_runs(stored)
    st.caption("Each architecture among the selected runs stands for its recipe chosen on validation (full data "
               "first), and that recipe for its seed with the best validation accuracy. Listed: the test examples "
               "they predict differently, with each run's prediction and confidence, most confident first.")
    if len(stored) < len(runs):
        st.caption("Left out (no stored test predictions): "
                   + ", ".join(f"`{names[run.run_id]}`" for run in runs if run not in stored) + ".")
    if len(chosen) < 2:
        st.caption("Select runs of at least two architectures to see where they disagree.")
        return
    key = "|".join(f"{run.path}@{stamp(run)}" for run in chosen)
    try:
        found = _disagreements(key, tuple(str(run.path) for run in chosen),
                               tuple(names.get(run.run_id, run.run_id) for run in chosen))
    except GoEmoError as exc:
        st.caption(str(exc))
        return
    summary = found["summary"]
    right = ", ".join(f"`{r['name']}` right on {r['right_where_they_disagree']:,}" for r in summary["runs"])
    st.caption(f"{summary['disagreements']:,} of {summary['examples']:,} test examples predicted differently "
               f"({right}; all wrong on {summary['all_wrong']:,}).")
    confidence = {c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="%.2f")
                  for c in found["frame"].columns if c.endswith(" confidence")}
    st.dataframe(found["frame"].head(SHOWN_ROWS), hide_index=True, key="disagreements",
                 column_config={**confidence, "id": None})


@st.cache_data(show_spinner=False, max_entries=32)
def _disagreements(key: str, run_dirs: tuple[str, ...], labels: tuple[str, ...]) -> dict:
    runs = [_run(run_dir) for run_dir in run_dirs]
    return disagreements(runs, {run.run_id: label for run, label in zip(runs, labels)})


def slices_section(runs: Sequence[Run], task: Task, names: dict[str, str]) -> None:
    st.subheader("Accuracy by slices (test split)")
    st.caption("Accuracy and macro-F1 (over the classes present in the slice) by text length in the run's own "
               "tokens, by how many raw GoEmotions labels the example had"
               + ("" if task.multi_label else ", and by whether its primary label was decided by the tie rule (two "
                  "groups equally frequent among its labels, the first listed winning: ambiguous by construction)")
               + ".")
    frames, problems = [], []
    for run in runs[:MAX_SLICE_RUNS]:
        try:
            frames.append(_slices(str(run.path), stamp(run)).assign(run=names[run.run_id]))
        except GoEmoError as exc:
            problems.append(f"`{names[run.run_id]}` ({exc})")
    if problems:
        st.caption("No slices: " + "; ".join(problems))
    if len(runs) > MAX_SLICE_RUNS:
        st.caption(f"Slices of the first {MAX_SLICE_RUNS} runs of the {len(runs)} selected.")
    if not frames:
        return
    slices = pd.concat(frames, ignore_index=True)
    st.vega_lite_chart(spec_of(slices_chart, slices[slices["slice"] != "all"]), key="slices-chart", width="content")
    if not task.multi_label:
        lines = []
        for frame in frames:
            tie = tie_summary(frame)
            if tie:
                lines.append(f"`{frame['run'].iloc[0]}`: {tie['share_of_examples']:.1%} of the examples, "
                             f"{tie['share_of_errors']:.1%} of the errors (accuracy {tie['accuracy_on_ties']:.1f} % "
                             f"on them, {tie['accuracy_without_ties']:.1f} % on the others)")
        if lines:
            st.caption("Decided by the tie rule: " + "; ".join(lines) + ".")
    st.dataframe(slices[["run", "slice", "bucket", "examples", "share", "accuracy", "macro_f1", "errors",
                         "error_share"]], hide_index=True, key="slices-table", column_config={
        "share": st.column_config.NumberColumn("share of examples", format="percent"),
        "error_share": st.column_config.NumberColumn("share of errors", format="percent"),
        "accuracy": st.column_config.NumberColumn(f"{task.accuracy_name} (%)", format="%.2f"),
        "macro_f1": st.column_config.NumberColumn("macro-F1", format="%.3f")})


def slices_chart(slices: pd.DataFrame) -> alt.FacetChart:
    """Accuracy per bucket, the runs side by side, one panel per kind of slice."""
    colors = run_colors(list(dict.fromkeys(slices["run"])))
    return alt.Chart(slices).mark_bar().encode(
        x=alt.X("bucket:N", title=None, sort=None), xOffset="run:N",
        y=alt.Y("accuracy:Q", title="accuracy (%)"),
        color=alt.Color("run:N", scale=alt.Scale(domain=list(colors), range=list(colors.values())),
                        legend=alt.Legend(orient="bottom", title=None, columns=2, labelLimit=400)),
        tooltip=["run", "slice", "bucket", "examples", alt.Tooltip("accuracy:Q", format=".2f"),
                 alt.Tooltip("macro_f1:Q", format=".3f"), alt.Tooltip("error_share:Q", format=".1%")],
    ).properties(width=alt.Step(14), height=200).facet(
        column=alt.Column("slice:N", title=None, sort=["length", "raw labels", "tie rule"])
    ).resolve_scale(x="independent")
