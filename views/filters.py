"""Run filters (architecture, task, tag, status, name) as one row of inputs, and the URL query that keeps a
comparison (see goemo_core.results.selection)."""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from goemo_core.results.selection import QUERY_KEYS, Permalink, RunFilter, filter_options
from goemo_core.runs.folder import Run

LABELS = {"arch": "architecture", "task": "task", "tag": "tag", "status": "status"}


def url_permalink() -> Permalink:
    """The comparison the page's URL names (repeated keys kept)."""
    return Permalink.from_query({key: st.query_params.get_all(key) for key in st.query_params})


def run_filter_inputs(runs: Sequence[Run], key: str, start: RunFilter | None = None,
                      fields: Sequence[str] = QUERY_KEYS) -> RunFilter:
    """Filter inputs over `runs` (`fields`: which list filters; the pages show one task at a time and choose it
    apart), keyed `<key>-<field>`; they start at `start` (e.g. from the URL) the first time they are drawn, then
    keep what the user sets."""
    start = start or RunFilter()
    options = filter_options(runs)
    columns = st.columns([*[1] * len(fields), 2])
    chosen = {}
    for column, name in zip(columns, fields):
        widget_key = f"{key}-{name}"
        if widget_key not in st.session_state:
            st.session_state[widget_key] = [value for value in getattr(start, name) if value in options[name]]
        chosen[name] = tuple(column.multiselect(LABELS[name], options[name], key=widget_key,
                                                placeholder="any"))
    if f"{key}-name" not in st.session_state:
        st.session_state[f"{key}-name"] = start.name
    name = columns[-1].text_input("name or id contains", key=f"{key}-name")
    return RunFilter(**chosen, name=name)


def keep_in_url(link: Permalink) -> None:
    """Write the comparison to the URL's query (only when it changed), so a copied link reopens it."""
    query = link.to_query()
    current = {key: st.query_params.get_all(key) for key in st.query_params}
    wanted = {key: value if isinstance(value, list) else [value] for key, value in query.items()}
    if current != wanted:
        st.query_params.from_dict(query)
