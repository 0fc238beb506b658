"""Benchmark grids on the Tune page: a grid's cells as its study holds them (done, running on which worker, waiting,
failed), as counts, a bar per architecture and the cells table, refreshed while cells wait or run; and the grid of
`bench accuracy` in this artifacts folder, each of its runs done, training, stopped part-way or still to train."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core.bench.accuracy import grid_configs, grid_plan
from goemo_core.bench.grid import grid_progress, list_grids
from goemo_core.data.tasks import DEFAULT_TASK, TASK_NAMES, get_task
from goemo_core.errors import GoEmoError
from goemo_core.models import architectures
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


# grid_plan's states as this section words them
FOLDER_STATES = {"completed": "done", "elsewhere": "training", "stopped": "stopped part-way", "new": "to train"}
FOLDER_CONFIG = {
    "epochs_done": st.column_config.NumberColumn("epochs trained", help="Finished epochs: a stopped run resumes "
                                                                        "after the last one"),
}


def folder_grid_section() -> None:
    """`bench accuracy`'s grid in this artifacts folder for the chosen task, architectures and seeds: what a run of
    it would do now with each run (nothing is trained here)."""
    registry = architectures()
    task_col, arch_col, seed_col = st.columns([2, 3, 1])
    task = task_col.selectbox("Task", TASK_NAMES, index=TASK_NAMES.index(DEFAULT_TASK), key="folder_grid_task",
                              format_func=lambda name: f"{name}: {get_task(name).description}")
    archs = arch_col.multiselect("Architectures", list(registry), default=trainable(list(registry), task),
                                 key="folder_grid_archs", format_func=lambda name: registry[name].title)
    seeds = int(seed_col.number_input("Seeds", min_value=1, max_value=10, value=3, key="folder_grid_seeds"))
    with st.expander("A quick-check grid (bench accuracy --limit / --epochs)"):
        limit_col, epochs_col = st.columns(2)
        limit = int(limit_col.number_input("limit (0: the full data)", min_value=0, value=0, step=100,
                                           key="folder_grid_limit"))
        epochs = int(epochs_col.number_input("epochs (0: each recipe's)", min_value=0, value=0,
                                             key="folder_grid_epochs"))
    if not archs:
        st.caption("Choose at least one architecture.")
        return
    with user_errors(stop=False):
        rows = grid_plan(grid_configs(archs, seeds, limit or None, epochs or None, task=task))
        frame = pd.DataFrame(rows)
        frame["state"] = frame["state"].map(FOLDER_STATES)
        for column, state in zip(st.columns(len(FOLDER_STATES)), FOLDER_STATES.values()):
            column.metric(f"runs {state}", int((frame["state"] == state).sum()))
        st.dataframe(frame.reindex(columns=["model", "seed", "state", "run", "epochs_done", "epochs"]),
                     hide_index=True, width="stretch", column_config=FOLDER_CONFIG, key="folder_grid_table")
        flags = "".join(f" --{name} {value}" for name, value in (("limit", limit), ("epochs", epochs)) if value)
        st.caption(f"`python -m goemo_core bench accuracy --task {task} --archs {' '.join(archs)} --seeds {seeds}"
                   f"{flags}` "
                   "trains what is missing: it reuses the runs done, resumes the ones stopped part-way after their "
                   "last finished epoch and waits for the ones another process is training; several such processes "
                   "share the grid.")


def trainable(archs: list[str], task: str) -> list[str]:
    """The architectures this server can configure (the transformer needs an encoder)."""
    names = []
    for arch in archs:
        try:
            grid_configs([arch], 1, task=task)
        except GoEmoError:
            continue
        names.append(arch)
    return names

