"""Classify's calibrated toggle and its explanations: the words of a sentence highlighted by their Integrated
Gradients attribution for a chosen class (HTML-escaped: a sentence is user text)."""

from __future__ import annotations

import html

import streamlit as st

from goemo_core.data.tasks import Task
from goemo_core.errors import GoEmoError
from goemo_core.runs.folder import Run, weights_stamp
from goemo_core.serving.calibrated import CalibratedPredictor, temperature_of
from goemo_core.serving.explanations import DEFAULT_STEPS, explain
from views.common import predictor

POSITIVE, NEGATIVE = (26, 127, 55), (207, 34, 46)  # green: raises the class's probability; red: lowers it


def highlighted_html(explanation: dict) -> str:
    """The explained text with each word's background coloured by its attribution (green for, red against, the
    strongest word fully coloured), its value in the tooltip; everything between words kept as typed. All text is
    HTML-escaped."""
    text, words = explanation["text"], explanation["words"]
    strongest = max((abs(w["attribution"]) for w in words), default=0.0) or 1.0
    parts, position = [], 0
    for word in words:
        parts.append(html.escape(text[position:word["start"]]))
        value = word["attribution"]
        red, green, blue = POSITIVE if value >= 0 else NEGATIVE
        alpha = min(abs(value) / strongest, 1.0) * 0.75
        parts.append(f'<span title="{value:+.4f}" style="background-color: rgba({red}, {green}, {blue}, '
                     f'{alpha:.3f}); border-radius: 3px; padding: 0 2px">{html.escape(text[word["start"]:word["end"]])}'
                     "</span>")
        position = word["end"]
    parts.append(html.escape(text[position:]))
    return '<div style="font-size: 1.15rem; line-height: 2.1rem">' + "".join(parts) + "</div>"


def calibrated_predictors(predictors: dict, by_id: dict[str, Run]) -> dict:
    """Each predictor with its run's temperature (fitted on validation); a run that has none (no stored
    probabilities) stays as it is, and a caption says so."""
    wrapped, without = {}, []
    for run_id, model in predictors.items():
        try:
            wrapped[run_id] = CalibratedPredictor(model, temperature_of(by_id[run_id]))
        except GoEmoError as exc:
            wrapped[run_id] = model
            without.append(f"`{by_id[run_id].display_name}` ({exc})")
    if without:
        st.caption("Not calibrated: " + "; ".join(without))
    return wrapped


@st.cache_data(show_spinner="Integrating gradients…", max_entries=64)
def _explanation(run_dir: str, stamp: float, text: str, class_name: str | None, steps: int) -> dict:
    from pathlib import Path

    path = Path(run_dir)
    return explain(predictor(Run(path.name, path)), text, class_name, steps)


def explanation_section(run_ids: list[str], by_id: dict[str, Run], names: dict[str, str], text: str, task: Task,
                        results: dict[str, dict]) -> None:
    """Why did a model predict what it did? Its words highlighted for the predicted class, or a class picked."""
    explainable = [run_id for run_id in run_ids if not by_id[run_id].is_ensemble]
    st.markdown("**Why?** Words highlighted by their contribution to a class's probability")
    if not explainable:
        st.caption("Ensembles are explained through their members: pick a member run to see its explanation.")
        return
    left, right = st.columns(2)
    run_id = left.selectbox("Model", explainable, key="explain_run", format_func=names.get) \
        if len(explainable) > 1 else explainable[0]
    predicted = (results.get(names[run_id]) or {}).get("label")
    choices = [None, *task.labels]
    class_name = right.selectbox("Class", choices, key="explain_class",
                                 format_func=lambda c: f"predicted ({predicted})" if c is None else c)
    run = by_id[run_id]
    try:
        explanation = _explanation(str(run.path), weights_stamp(run), text, class_name, DEFAULT_STEPS)
    except GoEmoError as exc:
        st.caption(str(exc))
        return
    st.markdown(highlighted_html(explanation), unsafe_allow_html=True)
    st.caption(f"Integrated Gradients over the input embeddings for **{explanation['class']}** "
               f"(p = {explanation['probability']:.3f}; {explanation['baseline_probability']:.3f} with every word "
               f"replaced by the padding embedding). Green raises the probability, red lowers it; hover a word for "
               f"its value. The attributions add up to the difference within Captum's convergence delta "
               f"({explanation['convergence_delta']:+.1e}, {explanation['steps']} steps).")
    if explanation["note"]:
        st.info(explanation["note"][0].upper() + explanation["note"][1:] + ".", icon=":material/info:")
