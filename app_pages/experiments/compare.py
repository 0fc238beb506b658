"""Compare: runs side by side: curves, per-class metrics, confusion matrices and the examples behind a cell."""

import hashlib

import pandas as pd
import streamlit as st

from goemo_core.bench.cost import bench_cost, cost_candidates
from goemo_core.data.tasks import DEFAULT_TASK, task_of_config
from goemo_core.evaluation.metrics import MEASURES, confusion_frame, most_confused
from goemo_core.reports import build_report
from goemo_core.results.choice import NOTEBOOK_BEST_ACCURACY, pareto_front
from goemo_core.results.comparison import compare_recipes, significance_frame
from goemo_core.results.run_tables import (cell_examples, comparison_export, comparison_table, describe_run,
                                           per_class_comparison, run_labels, students_and_teachers)
from goemo_core.results.selection import Permalink, default_selection
from goemo_core.results.summary import left_out, seed_summary
from goemo_core.results.tables import paper_table
from goemo_core.runs.folder import RunLabel, best_epoch
from goemo_core.runs.spreadsheet import frame_csv
from goemo_core.runs.store import RunStore
from goemo_core.serving.cost import (COST_AXES, ONNX_COST_AXES, loads_note, measured_load, measured_with,
                                    onnx_cost)
from goemo_core.serving.ensemble import make_ensemble
from views.analysis_views import analysis_sections, calibrate_selected
from views.charts import curve_groups, curves_frame, run_colors, spec_of
from views.common import page_setup, unreadable_runs_note, user_errors
from views.filters import keep_in_url, run_filter_inputs, url_permalink
from views.mlflow_views import pull_action
from views.robustness_views import robustness_section
from views.tables import COLUMNS, best_cells, blank_missing, cost_notes, pooled_table
from views.task_views import label_f1_bars, published_table, task_select

page_setup("Compare", ":material/compare:")
store = RunStore()
runs = store.list()
unreadable = unreadable_runs_note(store)  # listed for deletion below, compared nowhere
pull_action("compare_pull")  # runs trained on other machines, gathered through MLflow
if not runs and not unreadable:
    st.info("No runs yet. Launch one on the **Train** page; it appears here as soon as it starts.",
            icon=":material/info:")
    st.stop()

# --- one task at a time: runs of different tasks are never pooled, plotted or tested together ---------------------
all_runs = runs
link = url_permalink()  # a copied link reopens its task, filters and selection
task = task_select([run.config for run in runs], "compare_task", link.task_among(runs))
runs = [run for run in runs if task_of_config(run.config) == task.name]
CLASSES = list(task.labels)
ACCURACY_TITLE = f"test {task.accuracy_name}"

# --- the runs table; selecting rows picks the runs compared below ----------------------------------------------
if not runs:
    st.info("No readable runs: delete the damaged folders below, then launch a run on the **Train** page.",
            icon=":material/info:")
run_filter = run_filter_inputs(runs, "compare-filter", link.filter)
shown = run_filter.apply(runs)
if run_filter.active:
    st.caption(f"{len(shown)} of {len(runs)} runs match the filters.")
table = comparison_table(shown)
# Keyed by the set of runs shown: when one is added, deleted or filtered out the selection resets to the runs the
# URL names (the last selection), else to the newest recipes (whole: every completed seed of each).
table_key = "compare-runs-" + hashlib.sha1(",".join(table["run_id"]).encode()).hexdigest()[:10]
linked = [i for i, run in enumerate(shown) if run.run_id in link.runs]
shown_table, table_config = blank_missing(table, {
    **{name: COLUMNS[name] for name in COST_AXES},
    "val_accuracy": st.column_config.NumberColumn(f"val {task.accuracy_name} (%)", format="%.2f",
                                                  help="Of the kept weights: what choosing looks at"),
    "test_accuracy": st.column_config.NumberColumn(f"test {task.accuracy_name} (%)", format="%.2f"),
    "test_macro_f1": st.column_config.NumberColumn("test macro-F1", format="%.3f"),
    "limit": st.column_config.NumberColumn("limit", help="Examples per split (test included); –: full data"),
    "lr": st.column_config.NumberColumn("lr", format="%g"),
    "warning": st.column_config.TextColumn("warning", help="A degenerate model: no better than always answering the "
                                                           "majority class, or predicting one or two classes only"),
    "cost_warning": st.column_config.TextColumn("cost warning", help="CPU figures whose spread between repeats "
                                                                     "exceeds their median: read them with care"),
})
event = st.dataframe(
    shown_table, key=table_key, on_select="rerun", selection_mode="multi-row", hide_index=True,
    selection_default={"selection": {"rows": linked or default_selection(shown)}}, column_config=table_config,
)
limited = int(table["limit"].notna().sum()) if "limit" in table else 0
if limited:
    st.caption(f"{limited} run(s) trained on a `limit` (the first N examples of every split, test included): quick "
               "checks whose test figures do not compare with full-data runs.")


def metrics_stamp(run) -> float:
    try:
        return (run.path / "metrics.json").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner="Testing…", max_entries=64)
def recipe_test(root: str, recipe_a: str, recipe_b: str, selected_ids: tuple[str, ...], stamps: tuple[float, ...]):
    """Is A better than B, computed once per pair and selection while the runs' metrics are unchanged (`stamps`):
    the paired bootstrap takes a while."""
    chosen = [RunStore(root).get(run_id) for run_id in selected_ids]
    by_id = {run.run_id: run for run in chosen}
    return significance_frame(compare_recipes(by_id[recipe_a], by_id[recipe_b], chosen))


def delete_runs() -> None:
    """Runs before the rerun, so the confirmation can be reset and the table rebuilt without the deleted runs."""
    errors = []
    for run_id in st.session_state.get("delete_targets", []):
        try:
            store.delete(run_id)
        except Exception as exc:  # e.g. a run still training: keep going, say why
            errors.append(str(exc))
    st.session_state.update({"delete_targets": [], "delete_confirm": False, "delete_errors": errors})


with st.expander("Delete runs"):
    described = {run.run_id: describe_run(run) for run in all_runs}
    targets = st.multiselect("Runs to delete", [*described, *unreadable], key="delete_targets",
                             format_func=lambda rid: described.get(rid, f"{rid} · unreadable"))
    confirm = st.checkbox(f"Yes, delete {len(targets)} run folder(s) for good", key="delete_confirm")
    st.button("Delete", type="primary", disabled=not (targets and confirm), on_click=delete_runs,
              icon=":material/delete:", key="delete_button")
    for error in st.session_state.pop("delete_errors", []):
        st.error(error, icon=":material/error:")

selected = [shown[i] for i in event.selection.rows if i < len(shown)]
keep_in_url(Permalink(run_filter, tuple(run.run_id for run in selected), task.name))
if not selected:
    st.info("Select one or more runs in the table (the checkbox column) to compare them.", icon=":material/info:")
    st.stop()
labels = {run.run_id: run for run in selected}
names = run_labels(selected)
# one colour per run (per architecture beyond the palette) in every chart of the page
groups = curve_groups({names[rid]: str(run.config.get("arch")) for rid, run in labels.items()})
colors = run_colors(list(dict.fromkeys(groups.values())))

with st.expander("Name, tags and note"):
    editing = st.selectbox("Run", list(labels), format_func=lambda rid: describe_run(labels[rid]), key="label_run")
    current = labels[editing].label
    with st.form(key=f"label-form-{editing}", border=False):
        new_name = st.text_input("Name", value=current.name, max_chars=80)
        new_tags = st.text_input("Tags (comma-separated)", value=", ".join(current.tags))
        new_note = st.text_area("Note", value=current.note, height=80)
        if st.form_submit_button("Save", icon=":material/save:"):
            with user_errors(stop=False):
                labels[editing].set_label(RunLabel.clean(new_name, new_tags, new_note))
                st.rerun()

finished = [rid for rid, run in labels.items() if run.status == "completed" and run.metrics]
with st.expander("Evaluate as ensemble"):
    st.caption("Averages the class probabilities of the selected completed runs (trained on the same data) and "
               "writes an ensemble run: it is listed, compared, classified with and can teach a new run like any "
               "other run.")
    ensemble_name = st.text_input("Name", key="ensemble_name", placeholder=f"ensemble of {len(finished)}")
    if st.button("Evaluate as ensemble", key="ensemble_button", icon=":material/join:", disabled=len(finished) < 2):
        with user_errors(stop=False):
            with st.spinner("Averaging the members' probabilities…"):
                made = make_ensemble(finished, ensemble_name)
            st.success(f"Ensemble `{made.display_name}` ({made.run_id}): test accuracy "
                       f"{made.metrics['accuracy']:.2f} %, macro-F1 {made.metrics['macro_f1']:.3f}.",
                       icon=":material/check_circle:")

st.download_button("Download the comparison (CSV)", frame_csv(comparison_export(selected)),
                   file_name="goemo-comparison.csv", mime="text/csv", on_click="ignore", key="compare_download",
                   icon=":material/download:")
st.download_button("Download a report (HTML)", lambda runs=tuple(selected): build_report(runs)[0],
                   file_name="goemo-report.html",
                   mime="text/html", on_click="ignore", key="report_download", icon=":material/description:",
                   help="One self-contained HTML file of the selected runs (summary over seeds, curves, confusion "
                        "matrices, per-class metrics, cost, environment): it opens offline and loads nothing. Made "
                        "when you click, in a few seconds. The same as `python -m goemo_core report RUN … --html "
                        "FILE`.")

# --- repeats of one recipe pooled over their seeds -------------------------------------------------------------------
calibrate_selected(selected)  # the ECE columns below read each run's calibration.json
summary = seed_summary(selected)
unpooled = left_out(selected)
if not summary.empty:
    st.subheader("Summary over seeds")
    st.caption("Selected runs with the same settings are pooled over their **completed** seeds: mean ± standard "
               "deviation of the test metrics. A seed counts once (its latest run); one seed has no spread. "
               "**chosen**: per architecture, the full-data recipe with the best mean validation accuracy (test "
               "metrics are reported, never used to choose). *vs best*: Welch's t-test over seeds against the best "
               "chosen recipe. Launch repeats with **seeds per architecture** on the Train page.")
    pooled_table(summary, ["arch", "changes", "chosen", "val_accuracy_mean", "test_accuracy", "test_macro_f1",
                           "test_ece", "vs_best", "runs", "seeds", "pretrained", "augment", "limit", "best_epoch_mean",
                           "epoch_seconds", "cpu_latency_ms", "parameters", "device", "warning"],
                 key="seed-summary")
    cost_notes(summary, labels)
    downloads = st.columns(3)
    for column, (fmt, ending, mime) in zip(downloads, (("markdown", "md", "text/markdown"),
                                                       ("latex", "tex", "text/x-tex"), ("csv", "csv", "text/csv"))):
        column.download_button(f"Table for a paper ({fmt})", paper_table(summary, fmt),
                               file_name=f"goemo-summary.{ending}", mime=mime, on_click="ignore",
                               key=f"paper-{fmt}", icon=":material/table:")
if unpooled:
    st.caption("Left out of the summary (not completed): "
               + ", ".join(f"`{names[run.run_id]}` ({run.status})" for run in unpooled) + ".")

# --- is one recipe better than another? --------------------------------------------------------------------------
recipes = {}
for row in summary.itertuples():
    recipes[row.run_ids[0]] = f"{row.arch} · {row.changes}" + (f" · limit {row.limit:,}" if row.limit == row.limit
                                                                and row.limit is not None else "")
if len(recipes) >= 2:
    st.subheader("Is A better than B?")
    st.caption("Each side stands for its recipe: all of its completed seeds among the selected runs. Over seeds: "
               "Welch's t-test (needs 3 seeds a side). Paired on the test set: the recipes' seeds pooled (mean "
               "probabilities), McNemar's exact test for accuracy, a paired bootstrap for macro-F1. Differences are "
               "A − B with 95 % intervals.")
    left_recipe, right_recipe = st.columns(2)
    keys = list(recipes)
    recipe_a = left_recipe.selectbox("A", keys, format_func=recipes.get, key="compare_a")
    recipe_b = right_recipe.selectbox("B", keys, index=1, format_func=recipes.get, key="compare_b")
    if recipe_a == recipe_b:
        st.caption("Pick two different recipes.")
    else:
        with user_errors(stop=False):
            st.dataframe(recipe_test(str(store.root), recipe_a, recipe_b, tuple(labels),
                                     tuple(map(metrics_stamp, selected))),
                         hide_index=True, key="significance")

# --- distilled runs next to their teachers -------------------------------------------------------------------------
pairs = students_and_teachers(selected, runs)
if not pairs.empty:
    st.subheader("Students and their teachers")
    st.caption("Each selected run trained with `--teacher` (distillation), next to its teacher's test metrics, "
               "whether or not the teacher is selected. The gap is the student's accuracy minus the teacher's.")
    pairs, pair_config = blank_missing(pairs, {
        "student_accuracy": st.column_config.NumberColumn("student acc (%)", format="%.2f"),
        "student_macro_f1": st.column_config.NumberColumn("student macro-F1", format="%.3f"),
        "transfer_set": st.column_config.NumberColumn("transfer set (texts)", format="%d",
                                                      help="Train texts the student learnt the teachers on"),
        "variants": st.column_config.NumberColumn("of which variants", format="%d",
                                                  help="EDA transfer variants (--transfer-augment), no label of "
                                                       "their own"),
        "teacher_accuracy": st.column_config.NumberColumn("teacher acc (%)", format="%.2f"),
        "teacher_macro_f1": st.column_config.NumberColumn("teacher macro-F1", format="%.3f"),
        "accuracy_gap": st.column_config.NumberColumn("gap (points)", format="%+.2f"),
    })
    st.dataframe(pairs, hide_index=True, key="students-teachers", column_config=pair_config)

# --- curves ---------------------------------------------------------------------------------------------------
st.subheader("Training curves")
with_curves = {rid: run for rid, run in labels.items() if run.history}  # ensembles and runs cut short have none
curves = curves_frame({names[rid]: run.history for rid, run in with_curves.items()},
                      {names[rid]: best_epoch(run) for rid, run in with_curves.items()}, groups,
                      {names[rid] for rid, run in with_curves.items() if run.config.get("teachers")})
if curves.empty:
    st.caption("No finished epoch yet in the selected runs.")
else:
    st.caption("◆ marks the epoch whose weights were kept (best monitored validation metric). Click a legend entry "
               "to highlight its run in every plot (shift-click for more; click empty space to show all)"
               + ("; with this many runs, a colour stands for an architecture." if len(colors) < len(groups) else
                  "."))
    st.vega_lite_chart(spec_of("compare_curves", curves, colors), key="curves", width="content")

# --- accuracy against cost ---------------------------------------------------------------------------------------
points = table[table["run_id"].isin(labels) & table["test_accuracy"].notna()].assign(
    label=lambda frame: frame["run_id"].map(names), group=lambda frame: frame["run_id"].map(names).map(groups))
points = points.assign(**{  # runs with a verified ONNX export (`export onnx`)
    key: points["run_id"].map(lambda rid, key=key: onnx_cost(labels[rid].metrics)[key]).astype("float64")
    for key in ONNX_COST_AXES})
run_costs = {rid: (labels[rid].metrics or {}).get("cost") for rid in points["run_id"]}
points = points.assign(measurement=points["run_id"].map(lambda rid: measured_with(run_costs[rid])),
                       load=points["run_id"].map(lambda rid: measured_load(run_costs[rid])),
                       steady=points["cost_warning"] == "")
cost_axes = {**COST_AXES, **ONNX_COST_AXES}
if not points.empty:
    st.subheader("Accuracy against cost")
    axis = st.segmented_control("Cost", list(cost_axes), default="cpu_latency_ms", key="cost_axis",
                                format_func=lambda key: cost_axes[key][0]) or "cpu_latency_ms"
    title, lower_is_better = cost_axes[axis]
    measured = points[points[axis].notna() & (points[axis] > 0)]
    if measured.empty:
        st.caption("None of the selected runs has this measurement (runs record it since this version; the ONNX "
                   "Runtime figures come from `python -m goemo_core export onnx --run RUN`).")
    else:
        front = pareto_front(measured, axis, lower_is_better)
        cpu_axis = axis in ("cpu_latency_ms", "cpu_sentences_per_s")
        reference = NOTEBOOK_BEST_ACCURACY if task.name == DEFAULT_TASK else None
        st.vega_lite_chart(spec_of("cost_scatter", measured, front, axis, title, reference, colors,
                                   by_measurement=cpu_axis, accuracy_title=ACCURACY_TITLE + " (%)"),
                           key="cost-scatter", width="stretch")
        inside = reference is not None and min(measured["test_accuracy"]) - 1 <= reference <= max(
            measured["test_accuracy"]) + 1
        st.caption("Dashed line: the Pareto front, chosen on validation accuracy (no other run is both more "
                   "accurate on validation and cheaper); the points show test accuracy, each run in its colour. "
                   + (f"Red: the course notebook's best test accuracy ({NOTEBOOK_BEST_ACCURACY} %). " if inside else
                      f"The course notebook's best test accuracy ({NOTEBOOK_BEST_ACCURACY} %) lies outside the "
                      "plotted range. " if reference is not None else "")
                   + "Inference is timed through each run's predictor, tokenising included: the median of several "
                   "timings, at the end of its training or when measured again (the point's shape says which "
                   "measurement pass; runs measured in one pass compare best). A hollow point: its figure's spread "
                   "between repeats exceeds its median.")
        if cpu_axis:
            note = loads_note([run_costs[rid] for rid in measured["run_id"]])
            if note:
                st.caption(f":orange[:material/warning:] {note}")
    remeasurable, left_alone = cost_candidates(store, [rid for rid in points["run_id"]])
    if left_alone:
        st.caption("Not measured again: " + "; ".join(left_alone) + ".")
    remeasurable = [run.run_id for run in remeasurable]
    if st.button(f"Measure the CPU cost of these {len(remeasurable)} runs again, together", key="cost_remeasure",
                 icon=":material/speed:", disabled=not remeasurable,
                 help="Times each selected run on the CPU again, one after the other, on the same sentences, and "
                      "records it with the machine's load (as `python -m goemo_core bench cost --runs …`). Stops "
                      "this page for about ten seconds per run."):
        with user_errors(stop=False), st.spinner("Timing the runs one after the other…"):
            done = bench_cost(remeasurable)
            st.toast(f"Measured {len(done['runs'])} run(s) in sequence {done['sequence']}."
                     + (f" Left out: {'; '.join(done['skipped'])}." if done["skipped"] else ""))
            st.rerun()

analysis_sections(selected, task, names)  # calibration, confident errors, disagreements, slices
robustness_section(selected, names, task)

# --- per-class metrics ------------------------------------------------------------------------------------------
with_metrics = {rid: run.metrics for rid, run in labels.items() if run.metrics and "per_class" in run.metrics}
missing = [names[rid] for rid in labels if rid not in with_metrics]
if missing:
    st.caption("No test metrics (run unfinished or ended before its first epoch): " + ", ".join(missing))
if not with_metrics:
    st.stop()

st.subheader("Per-class test metrics")
st.caption("Best value per column in bold green; for `std` (how uneven the classes are) lower is better.")
for measure, tab in zip(MEASURES, st.tabs([m.capitalize() if m != "f1" else "F1" for m in MEASURES])):
    frame = per_class_comparison({names[rid]: metrics for rid, metrics in with_metrics.items()}, measure, CLASSES)
    styled = (frame.style.format("{:.3f}")
              .apply(best_cells, higher=True, subset=[*CLASSES, "macro avg"])
              .apply(best_cells, higher=False, subset=["std"]))
    tab.dataframe(styled, key=f"per-class-{measure}")

st.altair_chart(label_f1_bars({names[rid]: metrics for rid, metrics in with_metrics.items()}, task, colors,
                              groups),
                key="label-f1-bars", width="stretch")
published_table(task, {names[rid]: metrics for rid, metrics in with_metrics.items()}, key="published")

if task.multi_label:  # no class-by-class matrix: each label is its own yes/no decision
    st.subheader("Per-label confusion counts (test split)")
    st.caption("For each label: true positives, false positives, false negatives and true negatives under the "
               "run's decision rule (its thresholds).")
    for rid, metrics in with_metrics.items():
        counts = metrics.get("label_confusion") or {}
        st.markdown(f"`{names[rid]}`")
        st.dataframe(pd.DataFrame.from_dict(counts, orient="index"), key=f"label-confusion-{rid}")
    st.stop()

# --- confusion matrices -------------------------------------------------------------------------------------------
st.subheader("Confusion matrices (row-normalised, test split)")
st.caption("Click a cell to list its test examples below.")


def pick_cell(run_id: str, chart_key: str) -> None:
    """A click on a confusion cell fills the run/true/predicted choosers below."""
    points = (st.session_state.get(chart_key) or {}).get("selection", {}).get("cell") or []
    if points:
        st.session_state.update({"cell_run": run_id, "cell_true": points[0]["true"],
                                 "cell_predicted": points[0]["predicted"]})


run_ids = list(with_metrics)
for start in range(0, len(run_ids), 3):  # at most three matrices per row
    for column, run_id in zip(st.columns(3), run_ids[start:start + 3]):
        key = f"cm-{run_id}"
        column.vega_lite_chart(spec_of("confusion_heatmap", confusion_frame(with_metrics[run_id], CLASSES),
                                       names[run_id], selection="cell"),
                            key=key, on_select=lambda r=run_id, k=key: pick_cell(r, k), selection_mode="cell",
                            width="content")

st.markdown("**Test examples of one cell**")
if st.session_state.get("cell_run") not in run_ids:  # first visit, or its run was deselected or deleted
    first_true, first_predicted = most_confused(with_metrics[run_ids[0]], CLASSES)
    st.session_state.update({"cell_run": run_ids[0], "cell_true": first_true, "cell_predicted": first_predicted})
left, middle, right = st.columns(3)
cell_run = left.selectbox("run", run_ids, key="cell_run", format_func=names.get)
true = middle.selectbox("true", CLASSES, key="cell_true")
predicted = right.selectbox("predicted", CLASSES, key="cell_predicted")
with user_errors(stop=False):
    examples = cell_examples(labels[cell_run], true, predicted)
    st.caption(f"{len(examples):,} test example(s) of class **{true}** predicted as **{predicted}** by "
               f"`{names[cell_run]}`.")
    st.dataframe(examples, hide_index=True, key="cell-examples",
                 column_config={"confidence": st.column_config.ProgressColumn("confidence", min_value=0.0,
                                                                             max_value=1.0, format="%.2f")})
