"""Classify: try sentences (or a batch of them) on one or several trained models."""

import streamlit as st

from goemo_core.data.tasks import get_task, task_of_config, tasks_present
from goemo_core.errors import GoEmoError
from goemo_core.results.choice import best_run, degenerate
from goemo_core.results.run_tables import describe_run, run_labels
from goemo_core.runs.store import RunStore
from goemo_core.serving.batch_io import (EXAMPLE_SENTENCES, pasted_lines, probability_frame, read_text_table,
                                         results_csv, results_table)
from goemo_core.serving.onnx_predictor import has_verified_export
from views.charts import probability_bars
from views.common import onnx_predictor, page_setup, predictor, unreadable_runs_note, user_errors
from views.explain_views import calibrated_predictors, explanation_section
from views.filters import run_filter_inputs
from views.robustness_views import attack_sentence_panel

page_setup("Classify", ":material/chat:")
METRICS_PER_ROW = 4  # each model's answer in a row of at most this many, so names and answers stay whole

store = RunStore()
runs = [run for run in store.list() if run.status == "completed" and not run.missing_files()]
unreadable_runs_note(store)
if not runs:
    st.info("No completed runs yet: train a model on the **Train** page (a quick run with a small limit takes a "
            "minute), then come back here.", icon=":material/info:")
    st.stop()

task_names = tasks_present([run.config for run in runs])
task = get_task(st.selectbox("Task", task_names, key="classify_task", format_func=lambda n: get_task(n).description,
                             help="Models of one task are compared at a time (their labels differ)")
                if len(task_names) > 1 else task_names[0])
runs = [run for run in runs if task_of_config(run.config) == task.name]
CLASSES = list(task.labels)
by_id = {run.run_id: run for run in runs}
described = {run.run_id: describe_run(run) for run in runs}
names = run_labels(runs)
with st.expander("Filter the models"):
    offered = run_filter_inputs(runs, "classify-filter").apply(runs)
# One picker per task: a run of one task is never an option of another (a shared widget would hand the browser's
# last choice of the other task back to this one).
runs_key = f"classify_runs-{task.name}"
picked = [run_id for run_id in st.session_state.get(runs_key, []) if run_id in by_id]  # kept when filtered out
chosen = st.multiselect("Models (completed runs)", list(dict.fromkeys([*(run.run_id for run in offered), *picked])),
                        default=None if runs_key in st.session_state else [best_run(runs).run_id],
                        key=runs_key,
                        format_func=described.get,
                        help="Starts at the completed full-data run with the best validation accuracy (chosen on "
                             "validation, never on test), else the best limited run; a degenerate model (⚠) only "
                             "when every run is one.")
if not chosen:
    st.info("Pick at least one model.", icon=":material/info:")
    st.stop()
for run_id in chosen:
    warning = degenerate(by_id[run_id])
    if warning:
        st.warning(f"`{names[run_id]}` is a degenerate model: {warning}. Its answers say little about the text.",
                   icon=":material/warning:")
exported = {run_id for run_id in chosen if has_verified_export(by_id[run_id])}
serve_onnx = bool(exported) and st.toggle(
    "Serve from the ONNX export (ONNX Runtime)", key="classify_onnx",
    help="Models with a verified ONNX export (`python -m goemo_core export onnx --run RUN`) run through ONNX "
         "Runtime instead of PyTorch; the others stay on PyTorch.")
predictors = {}
for run_id in chosen:
    with user_errors(stop=False):  # one unloadable run must not hide the others
        run = by_id[run_id]
        predictors[run_id] = onnx_predictor(run) if serve_onnx and run_id in exported else predictor(run)
if not predictors:
    st.stop()
if st.toggle("Calibrated probabilities (temperature scaling)", key="classify_calibrated",
             help="Each model's probabilities rescaled by the temperature fitted on its validation split: the "
                  "predicted labels stay the same, the confidence becomes more honest."):
    predictors = calibrated_predictors(predictors, by_id)


def show_notes(results: dict[str, dict]) -> None:
    """Notes on odd input (empty, truncated, mostly unknown words), once each."""
    for note in dict.fromkeys(r["note"] for r in results.values() if r.get("note")):
        if note.startswith("empty"):
            st.warning("Nothing to classify: the text is empty or only whitespace.", icon=":material/edit_note:")
        else:
            st.info(note[0].upper() + note[1:] + ".", icon=":material/info:")


def use_example(sentence: str) -> None:
    st.session_state["classify_text"] = sentence


single, batch = st.tabs(["One sentence", "Batch"])

with single:
    st.caption("Examples (one click fills the text box):")
    columns = st.columns(3)
    for i, sentence in enumerate(EXAMPLE_SENTENCES):
        columns[i % 3].button(sentence, key=f"example-{i}", on_click=use_example, args=(sentence,), width="stretch")
    text = st.text_area("Text", key="classify_text", placeholder="Type a sentence, then press Ctrl+Enter",
                        height=100)
    if not text:
        st.caption(f"Type a sentence or pick an example to see each model's probabilities for the {len(CLASSES)} "
                   + ("labels (those at or over the run's threshold are predicted)." if task.multi_label else
                      "classes."))
    else:
        results = {names[run_id]: model.predict([text])[0] for run_id, model in predictors.items()}
        show_notes(results)
        answered = {run_id: r for run_id, r in results.items() if r["label"] is not None}
        if answered:
            per_row = min(len(answered), METRICS_PER_ROW)  # more side by side would cut every name to "Bi…"
            columns = [column for _ in range(0, len(answered), per_row) for column in st.columns(per_row)]
            for column, (name, result) in zip(columns, answered.items()):
                if task.multi_label:  # every label over its threshold, not only the most probable
                    column.metric(name, ", ".join(result["labels"]) or "none over the threshold",
                                  f"{len(result['labels'])} label(s) at or over the threshold",
                                  delta_color="off", delta_arrow="off")
                else:
                    column.metric(name, result["label"], f"{max(result['probabilities'].values()):.0%} confidence",
                                  delta_color="off", delta_arrow="off")
            frame = probability_frame(answered, CLASSES)
            st.altair_chart(probability_bars(frame, CLASSES), key="classify_chart")
            table = (frame.pivot(index="class", columns="model", values="probability")
                     .reindex(index=CLASSES, columns=list(answered)))  # models in the order chosen
            st.dataframe(table, key="classify_probabilities",
                         column_config={m: st.column_config.NumberColumn(m, format="%.4f") for m in answered})
            explanation_section(list(predictors), by_id, names, text, task, answered)
            if not task.multi_label:
                attack_sentence_panel(text, by_id, names, predictors)

with batch:
    st.caption("Paste one text per line, or upload a file: a CSV file with a `text` column (its other columns are "
               "kept in the results), or a .txt or .csv file with one text per line. A CSV row with more or fewer "
               "fields than the header (a text with an unquoted comma, say) is not guessed at: the file is refused "
               "with the line numbers to fix (in a file whose only column is `text`, such a line is taken whole). "
               "An uploaded file is used instead of the pasted lines; downloaded cells that a spreadsheet would run "
               "as formulas start with a `'`.")
    lines = st.text_area("Texts, one per line", key="batch_lines", height=150)
    upload = st.file_uploader("CSV or text file", type=["csv", "txt"], key="batch_csv")
    texts, inputs = [], None
    try:
        if upload is not None:
            inputs = read_text_table(upload, name=upload.name)
            texts = list(inputs["text"])
            ignored = " (the pasted lines are ignored while a file is uploaded)" if lines.strip() else ""
            st.caption(f"Classifying the {len(texts):,} text(s) of the uploaded file **{upload.name}**{ignored}.")
        else:
            texts = pasted_lines(lines)
            if texts:
                st.caption(f"Classifying the {len(texts):,} pasted line(s).")
    except GoEmoError as exc:  # a malformed or oversized input: say what is wrong, keep the page
        st.error(f"{upload.name}: {exc}" if upload is not None else str(exc), icon=":material/error:")
        texts, inputs = [], None
    if texts:
        with st.spinner(f"Classifying {len(texts):,} text(s)…"):
            table = results_table({names[run_id]: model.predict(texts) for run_id, model in predictors.items()},
                                  inputs, CLASSES)
        notes = table["note"].dropna().value_counts() if "note" in table else {}
        for note, count in notes.items():  # e.g. mostly unknown words: the one-sentence tab and the CLI say so too
            st.info(f"{count:,} result(s) carry a note (see the `note` column): {note}.", icon=":material/info:")
        st.dataframe(table, hide_index=True, key="batch_results",
                     column_config={"confidence": st.column_config.NumberColumn(format="%.3f"),
                                    **{c: st.column_config.NumberColumn(format="%.3f") for c in CLASSES}})
        st.download_button("Download predictions (CSV)", results_csv(table), file_name="goemo-predictions.csv",
                           mime="text/csv", on_click="ignore", key="batch_download", icon=":material/download:")
