"""Classify: try sentences (or a batch of them) on one or several trained models."""

import streamlit as st

from goemo_core.data import EKMAN_CLASSES
from goemo_core.errors import GoEmoError
from goemo_core.classify import EXAMPLE_SENTENCES, probability_frame, read_text_table, results_table, split_lines
from goemo_core.runs import RunStore
from views.charts import probability_bars
from views.common import page_setup, predictor, user_errors

page_setup("Classify", ":material/chat:")

runs = [run for run in RunStore().list() if run.status == "completed" and not run.missing_files()]
if not runs:
    st.info("No completed runs yet: train a model on the **Train** page (a quick run with a small limit takes a "
            "minute), then come back here.", icon=":material/info:")
    st.stop()

by_id = {run.run_id: run for run in runs}


def run_label(run_id: str) -> str:
    return f"{run_id} · test acc {(by_id[run_id].metrics or {}).get('accuracy', 0):.1f}%"


chosen = st.multiselect("Models (completed runs)", list(by_id), default=list(by_id)[:1], key="classify_runs",
                        format_func=run_label)
if not chosen:
    st.info("Pick at least one model.", icon=":material/info:")
    st.stop()
predictors = {}
for run_id in chosen:
    with user_errors(stop=False):  # one unloadable run must not hide the others
        predictors[run_id] = predictor(by_id[run_id])
if not predictors:
    st.stop()


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
        st.caption("Type a sentence or pick an example to see each model's probabilities for the 7 classes.")
    else:
        results = {run_id: model.predict([text])[0] for run_id, model in predictors.items()}
        show_notes(results)
        answered = {run_id: r for run_id, r in results.items() if r["label"] is not None}
        if answered:
            for column, (run_id, result) in zip(st.columns(len(answered)), answered.items()):
                column.metric(run_id, result["label"], f"{max(result['probabilities'].values()):.0%} confidence",
                              delta_color="off")
            frame = probability_frame(answered)
            st.altair_chart(probability_bars(frame, list(EKMAN_CLASSES)), key="classify_chart")
            table = (frame.pivot(index="class", columns="model", values="probability")
                     .reindex(index=list(EKMAN_CLASSES), columns=list(answered)))  # models in the order chosen
            st.dataframe(table, key="classify_probabilities",
                         column_config={m: st.column_config.NumberColumn(m, format="%.4f") for m in answered})

with batch:
    st.caption("Paste one text per line, or upload a CSV file with a `text` column.")
    lines = st.text_area("Texts, one per line", key="batch_lines", height=150)
    upload = st.file_uploader("CSV file", type=["csv"], key="batch_csv")
    texts = split_lines(lines)
    if upload is not None:
        try:
            texts = list(read_text_table(upload)["text"])
        except GoEmoError as exc:  # malformed CSV: say what is wrong, keep the page
            st.error(f"{upload.name}: {exc}", icon=":material/error:")
            texts = []
    if texts:
        with st.spinner(f"Classifying {len(texts):,} text(s)…"):
            table = results_table({run_id: model.predict(texts) for run_id, model in predictors.items()})
        st.dataframe(table, hide_index=True, key="batch_results",
                     column_config={"confidence": st.column_config.NumberColumn(format="%.3f"),
                                    **{c: st.column_config.NumberColumn(format="%.3f") for c in EKMAN_CLASSES}})
        st.download_button("Download predictions (CSV)", table.to_csv(index=False), file_name="goemo-predictions.csv",
                           mime="text/csv", on_click="ignore", key="batch_download", icon=":material/download:")
