"""Benchmark grids on the Tune page: a grid's cells as its study holds them (done, running on which worker, waiting,
failed), as counts, a bar per architecture and the cells table, refreshed while cells wait or run."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core.bench.grid import grid_progress, list_grids
from views.common import user_errors

STATES = ["done", "running", "waiting", "failed"]
STATE_COLORS = ["#1a7f37", "#0969da", "#8c959f", "#cf222e"]
CELL_COLUMNS = ["state", "arch", "seed", "task", "changes", "worker", "device", "attempts", "value", "test_accuracy",
                "test_macro_f1", "run_id", "started", "error"]
CELL_CONFIG = {
    "worker": st.column_config.TextColumn("worker", help="host:pid of the worker that runs or ran the cell"),
    "attempts": st.column_config.NumberColumn("attempts", help="Trials that ran the cell: 2 when its first worker "
                                                               "died and another retried it"),
    "value": st.column_config.NumberColumn("val (%)", format="%.2f", help="Validation accuracy (macro-F1 for a "
                                                                          "multi-label task): what choosing uses"),
    "test_accuracy": st.column_config.NumberColumn("test acc (%)", format="%.2f"),
    "test_macro_f1": st.column_config.NumberColumn("test macro-F1", format="%.3f"),
}


def cells_chart(cells: pd.DataFrame) -> alt.Chart:
    """Cells per architecture, stacked by state."""
    counts = cells.groupby(["arch", "state"]).size().reset_index(name="cells")
    counts["order"] = counts["state"].map({state: i for i, state in enumerate(STATES)})
    return alt.Chart(counts, title="Cells per architecture").mark_bar().encode(
        x=alt.X("cells:Q", title="cells", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("arch:N", title=None),
        color=alt.Color("state:N", scale=alt.Scale(domain=STATES, range=STATE_COLORS),
                        legend=alt.Legend(orient="bottom", title=None)),
        order=alt.Order("order:Q"),
        tooltip=["arch", "state", "cells"],
    )


def grid_panel(name: str, storage: str | None = None) -> None:
    with user_errors(stop=False):
        document = grid_progress(name, storage)
        for column, state in zip(st.columns(len(STATES)), STATES):
            column.metric(state, document["counts"][state])
        cells = pd.DataFrame(document["cells"])
        if cells.empty:
            st.caption("This grid has no cells yet.")
            return
        st.altair_chart(cells_chart(cells), width="stretch")
        st.dataframe(cells.reindex(columns=CELL_COLUMNS), hide_index=True, width="stretch", column_config=CELL_CONFIG)


def grids_section(storage: str | None = None) -> None:
    """Pick a grid of the storage and follow it (every 5 s while a cell waits or runs)."""
    grids: list[str] = []
    with user_errors(stop=False):
        grids = list_grids(storage)
    if not grids:
        st.caption("No benchmark grid in this storage yet: `python -m goemo_core bench accuracy … --study NAME`, or "
                   "*run on workers* on the Train page, adds one; `goemo worker` processes train its cells.")
        return
    name = st.selectbox("Grid", grids[::-1], key="tune_grid", help="Newest first")
    live = False
    with user_errors(stop=False):
        counts = grid_progress(name, storage)["counts"]
        live = bool(counts["running"] or counts["waiting"])
    st.fragment(run_every=5 if live else None)(grid_panel)(name, storage)
    st.caption(f"Workers: `python -m goemo_core worker --storage URL --study {name}` on any machine that reaches "
               "the storage; their runs come here with *Pull runs from MLflow* (Home or Compare).")
