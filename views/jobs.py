"""Job cards: status, progress, live curves, cancel, and the error of a failed job. Updated by a fragment."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from goemo_core.errors import GoEmoError
from goemo_core.jobs.manager import Job, live_runs_elsewhere
from goemo_core.jobs.work import TrainJob
from goemo_core.runs.store import RunStore
from goemo_core.training.checkpoint import resumable_runs
from goemo_core.training.config import stored_config

from .charts import live_curves
from .common import job_manager
from .forms import job_title
from .tables import blank_missing

STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:",
                "completed": ":green[:material/check_circle:]", "failed": ":red[:material/error:]",
                "cancelled": ":orange[:material/stop_circle:]", "cancelling": ":orange[:material/hourglass_top:]"}
HISTORY_ROWS = 20  # earlier runs listed under the cards


def _eta(job: Job) -> str:
    eta = job.eta_seconds
    if eta is None:
        return ""
    return f" · ETA {int(eta // 60)} min {int(eta % 60)} s" if eta >= 60 else f" · ETA {eta:.0f} s"


def shown_status(job: Job) -> str:
    """The status a card shows: a running job whose Cancel was pressed is 'cancelling…' until its worker stops."""
    return "cancelling" if job.cancelling else job.status


def job_card(job: Job) -> None:
    manager = job_manager()
    with st.container(border=True, key=f"job-card-{job.id}"):
        head, action = st.columns([5, 1])
        if not job.done:  # a callback: it runs before the card is drawn, so the card shows 'cancelling…' at once
            action.button("Cancel", key=f"cancel-{job.id}", icon=":material/stop_circle:", on_click=manager.cancel,
                          args=(job.id,), disabled=job.cancelling)
        elif action.button("Dismiss", key=f"dismiss-{job.id}", help="Remove the card (the run directory stays)"):
            manager.remove(job.id)
            st.rerun()
        status = shown_status(job)
        run = f" · run `{job.run_id}`" if job.run_id else ""
        head.markdown(f"{STATUS_ICONS.get(status, '')} **{job.title}** · `{status}`{run} · {job.elapsed:.0f} s")
        if job.cancelling:
            st.warning(f"Cancelling… {job.progress_text}", icon=":material/hourglass_top:")
        elif job.status in ("queued", "running"):
            st.progress(job.progress, text=job.progress_text + _eta(job))
        if job.status == "failed":
            st.error(job.error or "failed", icon=":material/error:")
            if job.traceback:
                with st.expander("Traceback"):
                    st.code(job.traceback, language="text")
        elif job.status == "cancelled":
            tested = bool(job.result) and job.result.get("test_accuracy") is not None
            st.warning("Cancelled: the best epoch so far is kept" + (" and was tested (below)." if tested else ".")
                       if job.ever_ran else "Cancelled before it started: nothing was trained.",
                       icon=":material/stop_circle:")
        spec = curves_spec(job.id, job.history) if job.history else None
        if spec is not None:
            st.vega_lite_chart(spec, width="content")
        if job.status in ("completed", "cancelled") and job.result:  # a cancelled run keeps its tested best epoch
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
    """All jobs of `kind` (running, then queued, then finished; newest first within each), refreshed every
    `every` seconds while any is active (an idle page does not poll)."""
    manager = job_manager()
    interval = every if manager.active(kind) else None

    @st.fragment(run_every=interval)
    def cards() -> None:
        jobs = manager.jobs(kind)
        if interval is not None and not any(not j.done for j in jobs):
            st.rerun()  # everything finished: one full rerun refreshes the page and stops the polling
        if not jobs:
            st.caption(empty_text)
        finished = [job for job in jobs if job.done]
        if len(finished) > 1 and st.button("Dismiss finished", key=f"dismiss-all-{kind}",
                                           icon=":material/clear_all:"):
            for job in finished:
                manager.remove(job.id)
            st.rerun()
        for job in jobs:
            job_card(job)

    cards()


def live_runs_note(jobs: list[Job]) -> int:
    """Runs trained by another process (the command line, another server) listed as running; returns how many."""
    live = live_runs_elsewhere(RunStore(), jobs)
    for run in live:
        epochs = len(run.history)
        st.markdown(f"{STATUS_ICONS['running']} **{run.display_name}** · `running` elsewhere (process "
                    f"{run.owner.get('pid', '?')}) · {run.config.get('arch')} · {epochs} epoch(s) so far · "
                    f"started {run.config.get('created', '?')}")
    return len(live)


def run_history(jobs: list[Job], rows: int = HISTORY_ROWS) -> None:
    """The latest runs in the run folders that no card above shows: what earlier servers and the command line
    trained, so the history survives a restart."""
    shown = {job.run_id for job in jobs if job.run_id}
    runs = [run for run in RunStore().list() if run.run_id not in shown][:rows]
    if not runs:
        return
    with st.expander(f"Earlier runs ({len(runs)} latest, from the run folders)"):
        table = pd.DataFrame([{key: value for key, value in run.summary().items()
                               if key in ("created", "run_id", "name", "arch", "status", "epochs",
                                          "test_accuracy")} for run in runs])
        shown, config = blank_missing(table, {"test_accuracy": st.column_config.NumberColumn(
            "test_accuracy", format="%.2f")})
        st.dataframe(shown, hide_index=True, width="stretch", key="run-history", column_config=config)


def stopped_runs(jobs: list[Job]) -> None:
    """The runs stopped part-way (cancelled, or left running by a server that stopped) that can go on from their
    last finished epoch, each with a Resume button; a run a job is already resuming is not offered twice."""
    taken = {getattr(job.config, "resume", None) for job in jobs if not job.done}
    runs = [run for run in resumable_runs(RunStore()) if run.run_id not in taken]
    if not runs:
        return
    st.markdown(f"**Stopped part-way** ({len(runs)}): each goes on from its last finished epoch, in its own folder.")
    for run in runs[:HISTORY_ROWS]:
        config = run.config
        text, button = st.columns([5, 1], vertical_alignment="center")
        text.markdown(f"`{run.run_id}` · {run.status} after {len(run.history)} of {config.get('epochs', '?')} "
                      f"epochs · {config.get('task', 'ekman')} · seed {config.get('seed', '?')}")
        if button.button("Resume", key=f"resume_{run.run_id}", icon=":material/play_arrow:"):
            try:
                train_config = stored_config(config)
            except GoEmoError as exc:
                st.error(f"{run.run_id} cannot resume: {exc}", icon=":material/error:")
                continue
            job_manager().submit("train", TrainJob(train_config, resume=run.run_id),
                                 title=f"resume {run.run_id} · {job_title(train_config)}")
            st.session_state["train_launched"] = f"Resuming {run.run_id}: its job is listed under Jobs."
            st.rerun()
