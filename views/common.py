"""Shared view helpers: the process-wide job manager, cached data, the sidebar, and error display."""

from __future__ import annotations

import contextlib
from typing import Iterator

import streamlit as st

from goemo_core.errors import GoEmoError
from goemo_core.jobs.manager import JobManager, get_manager
from goemo_core.runs.store import RunStore
from goemo_core.settings import describe_device, get_settings, mask_url


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    """One JobManager per server process: jobs survive page changes and browser reloads."""
    return get_manager()


@st.cache_resource(show_spinner=False)
def interrupted_runs() -> list[str]:
    """Runs left 'running' by a stopped server, marked 'interrupted' once when this server process starts."""
    try:
        return RunStore().mark_interrupted()
    except OSError:
        return []


@st.cache_resource(show_spinner="Loading GoEmotions…")
def dataset(data_source_key: str):
    from goemo_core.data.goemotions import load_goemotions

    return load_goemotions()


def load_dataset():
    """The DatasetDict, loaded once per process and data source (errors are raised, not cached)."""
    settings = get_settings()
    return dataset(str(settings.data_dir))


@st.cache_data(show_spinner=False, ttl=600)
def available_devices() -> list[str]:
    """The devices a job can be sent to on this server: auto and cpu, and each GPU it has."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["auto", "cpu", *(["cuda"] if gpus else []), *([f"cuda:{i}" for i in range(gpus)] if gpus > 1 else [])]


@st.cache_data(show_spinner=False, ttl=60)
def device_text(device: str) -> str:
    return describe_device(device)


def sidebar() -> None:
    interrupted_runs()
    settings = get_settings()
    with st.sidebar:
        st.caption("**Data** · " + settings.data_source)
        st.caption("**Device** · " + device_text(settings.device))
        st.caption(f"**Artifacts** · `{settings.home}`")
        st.caption(f"**Optuna storage** · `{mask_url(settings.optuna_storage)}`")
        if settings.pretrained:
            st.caption(f"**Pretrained encoder** · `{settings.pretrained}`")


@contextlib.contextmanager
def user_errors(stop: bool = True) -> Iterator[None]:
    """Show a GoEmoError's message (what is wrong, what to set) instead of a traceback."""
    try:
        yield
    except GoEmoError as exc:
        st.error(str(exc), icon=":material/error:")
        if stop:
            st.stop()


def unreadable_runs_note(store: RunStore) -> list[str]:
    """A caption naming the run folders left out because their files are damaged; returns their ids."""
    skipped = store.unreadable()
    if skipped:
        st.caption(f"Left out {len(skipped)} unreadable run folder(s): "
                   + "; ".join(f"`{run_id}` ({reason})" for run_id, reason in skipped)
                   + ". Delete them on the Compare page or with `python -m goemo_core runs delete`.")
    return [run_id for run_id, _ in skipped]


def page_setup(title: str, icon: str | None = None) -> None:
    """Every page calls this first, so it also renders alone (AppTest.from_file) with the same sidebar."""
    with contextlib.suppress(st.errors.StreamlitAPIException):
        st.set_page_config(page_title=f"{title} · GoEmotions RNN Benchmark Studio", layout="wide")
    st.title(f"{icon} {title}" if icon else title)
    sidebar()


def page_link(page: str, label: str) -> None:
    """A link to another page, or its label as text where that page is not registered (a page rendered alone,
    e.g. by AppTest.from_file, has no navigation to link into)."""
    try:
        st.page_link(page, label=label)
    except st.errors.StreamlitAPIException:
        st.markdown(f"- {label}")


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _predictor(run_dir: str, weights_stamp: float):
    from pathlib import Path

    from goemo_core.runs.folder import Run
    from goemo_core.serving.predict import load_predictor

    path = Path(run_dir)
    return load_predictor(Run(path.name, path))


def predictor(run):
    """A run's Predictor, loaded once per process and kept across reruns; keyed by the run folder and the weights'
    modification time, so a retrained run is reloaded. Load errors are raised (and not cached)."""
    from goemo_core.runs.folder import weights_stamp

    return _predictor(str(run.path), weights_stamp(run))


@st.cache_resource(show_spinner="Loading the ONNX model…", max_entries=8)
def _onnx_predictor(run_dir: str, metrics_stamp: float):
    from pathlib import Path

    from goemo_core.runs.folder import Run
    from goemo_core.serving.onnx_predictor import load_onnx_predictor

    path = Path(run_dir)
    return load_onnx_predictor(Run(path.name, path))


def onnx_predictor(run):
    """A run served from its verified ONNX export through ONNX Runtime, loaded once per process; keyed by the
    metrics file's modification time, which a new export changes. Load errors are raised (and not cached)."""
    try:
        stamp = (run.path / "metrics.json").stat().st_mtime
    except OSError:
        stamp = 0.0
    return _onnx_predictor(str(run.path), stamp)
