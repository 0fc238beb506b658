"""Job cards: status, progress, live curves, cancel, and the error of a failed job. Updated by a fragment."""

from __future__ import annotations

import streamlit as st

from goemo_core.jobs import Job

from .charts import live_curves
from .common import job_manager

STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:",
                "completed": ":green[:material/check_circle:]", "failed": ":red[:material/error:]",
                "cancelled": ":orange[:material/stop_circle:]"}


def _eta(job: Job) -> str:
    eta = job.eta_seconds
    if eta is None:
        return ""
    return f" · ETA {int(eta // 60)} min {int(eta % 60)} s" if eta >= 60 else f" · ETA {eta:.0f} s"


def job_card(job: Job) -> None:
    manager = job_manager()
    with st.container(border=True, key=f"job-card-{job.id}"):
        head, action = st.columns([5, 1])
        run = f" · run `{job.run_id}`" if job.run_id else ""
        head.markdown(f"{STATUS_ICONS.get(job.status, '')} **{job.title}** · `{job.status}`{run} · "
                      f"{job.elapsed:.0f} s")
        if not job.done:
            if action.button("Cancel", key=f"cancel-{job.id}", icon=":material/stop_circle:"):
                manager.cancel(job.id)
                st.toast(f"Cancelling {job.title}…")
        elif action.button("Dismiss", key=f"dismiss-{job.id}", help="Remove the card (the run directory stays)"):
            manager.remove(job.id)
            st.rerun()
        if job.status in ("queued", "running"):
            st.progress(job.progress, text=job.progress_text + _eta(job))
        if job.status == "failed":
            st.error(job.error or "failed", icon=":material/error:")
            if job.traceback:
                with st.expander("Traceback"):
                    st.code(job.traceback, language="text")
        elif job.status == "cancelled":
            st.warning("Cancelled: what was finished is kept.", icon=":material/stop_circle:")
        spec = curves_spec(job.id, job.history) if job.history else None
        if spec is not None:
            st.vega_lite_chart(spec, width="content")
        if job.status == "completed" and job.result:
            summary = {k: v for k, v in job.result.items() if v is not None and not isinstance(v, (dict, list))}
            if summary:
                st.caption(" · ".join(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}"
                                      for k, v in summary.items()))
        if job.logs:
            with st.expander("Log"):
                st.code("\n".join(list(job.logs)[-60:]), language="text")


_SPECS: dict[tuple[str, int], dict] = {}


def curves_spec(job_id: str, history: list[dict]) -> dict | None:
    """The live curves as a Vega-Lite spec, built once per new epoch: the card redraws every few seconds, and
    building an Altair chart each time would cost the server more than the redraw itself."""
    key = (job_id, len(history))
    if key not in _SPECS:
        chart = live_curves(history)
        _SPECS[key] = chart.to_dict() if chart is not None else None
        for old in [k for k in _SPECS if k[0] == job_id and k[1] < len(history)]:
            del _SPECS[old]
    return _SPECS[key]


def job_list(kind: str | None = None, empty_text: str = "No jobs yet.", every: float = 2.0) -> None:
    """All jobs of `kind`, newest first, refreshed every `every` seconds while any is active (an idle page does
    not poll)."""
    manager = job_manager()
    interval = every if manager.active(kind) else None

    @st.fragment(run_every=interval)
    def cards() -> None:
        jobs = manager.jobs(kind)
        if interval is not None and not any(not j.done for j in jobs):
            st.rerun()  # everything finished: one full rerun refreshes the page and stops the polling
        if not jobs:
            st.caption(empty_text)
        for job in jobs:
            job_card(job)

    cards()
