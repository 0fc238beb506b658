"""Runs from other machines on Home and Compare: pulling the runs mirrored to MLflow into this GOEMO_HOME, and where
each run was trained (host, device)."""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from goemo_core.integrations.mlflow_mirror import URI_VARIABLE, tracking_uri
from goemo_core.integrations.mlflow_pull import parse_since, pull_runs, pull_summary
from goemo_core.results.run_tables import trained_where
from goemo_core.runs.folder import Run
from goemo_core.settings import mask_text
from views.common import user_errors


def _pull(key: str) -> None:
    """Runs before the rerun, so the tables below are drawn with the pulled runs."""
    state = st.session_state
    uri = state.get(f"{key}-uri") or None
    experiment = (state.get(f"{key}-experiment") or "").strip()
    since = (state.get(f"{key}-since") or "").strip()
    try:
        report = pull_runs(uri, [experiment] if experiment else None, parse_since(since) if since else None)
        state[f"{key}-report"] = report
    except Exception as exc:  # shown above the button, never a traceback
        state[f"{key}-report"] = {"error": str(exc)}


def pull_action(key: str) -> None:
    """An expander that pulls the completed runs mirrored to MLflow (by workers anywhere) into this GOEMO_HOME."""
    configured = tracking_uri()
    with st.expander("Pull runs from MLflow", icon=":material/cloud_download:"):
        st.caption("Imports the completed runs mirrored to an MLflow tracking server (by `goemo worker`s or any run "
                   "trained with " + f"`{URI_VARIABLE}` set) as ordinary runs here, checked against their checksums; "
                   "runs already here are skipped. `python -m goemo_core runs pull` does the same.")
        left, middle, right = st.columns([2, 1, 1])
        left.text_input("tracking URI", key=f"{key}-uri", type="password",
                        placeholder=mask_text(configured, configured) if configured else "http://host:5000",
                        help=f"Empty: {URI_VARIABLE}" + (" (set)" if configured else " (not set)"))
        middle.text_input("experiment", key=f"{key}-experiment", placeholder="every one")
        right.text_input("since", key=f"{key}-since", placeholder="e.g. 7d or 2026-12-01")
        st.button("Pull", key=f"{key}-pull", icon=":material/cloud_download:", on_click=_pull, args=(key,))
        report = st.session_state.get(f"{key}-report")
        if report and "error" in report:
            st.error(report["error"], icon=":material/error:")
        elif report:
            st.success(pull_summary(report), icon=":material/check_circle:")
            for row in report["refused"]:
                st.warning(f"refused `{row['run_id']}`: {row['reason']}", icon=":material/warning:")


def trained_on_table(runs: Sequence[Run], key: str) -> None:
    """Where the runs were trained: one row per host and device (a line when they all come from one)."""
    with user_errors(stop=False):
        table = trained_where(runs)
        if table.empty:
            return
        if len(table) == 1 and not table.loc[0, "pulled"]:
            row = table.loc[0]
            st.caption(f"All {row['runs']} run(s) were trained on `{row['host']}` ({row['device']}).")
            return
        st.dataframe(table, hide_index=True, key=key, column_config={
            "pulled": st.column_config.NumberColumn("pulled", help="Runs imported from MLflow (runs pull)"),
            "latest": st.column_config.TextColumn("newest run")})
