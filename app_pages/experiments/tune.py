"""Tune: Optuna studies as background jobs, their trials live, the best configuration trained in one click, and the
Optuna dashboard on the same storage."""

import math

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core import tune
from goemo_core.data.tasks import DEFAULT_TASK, TASK_NAMES, get_task
from goemo_core.jobs.work import TrainJob
from goemo_core.models import architectures
from goemo_core.runs.folder import RunLabel
from goemo_core.runs.schemas import MAX_NAME, MAX_TAG
from goemo_core.settings import get_settings, mask_url
from goemo_core.tune.dashboard import ensure_dashboard, study_url
from goemo_core.tune.queries import (PARAM_DIGITS, RELIABLE_IMPORTANCE_TRIALS, TRIAL_COLUMNS, TRIAL_DECIMALS,
                                     rounded_trials)
from views.common import job_manager, page_setup, user_errors
from views.grids import folder_grid_section, grids_section
from views.jobs import job_list

page_setup("Tune", ":material/tune:")
settings = get_settings()
registry = architectures()
storage_text = mask_url(settings.optuna_storage)
st.caption(f"Studies live in `{storage_text}` (`GOEMO_OPTUNA_STORAGE`): the dashboard and any number of "
           "`python -m goemo_core tune --study NAME` workers share them. Each trial trains on a budget "
           "(batches per epoch × epochs) and reports validation accuracy every epoch, so the pruner can stop "
           "poor trials early.")


# -- search-space widgets ------------------------------------------------------------------------------------------
def _numeric_range(arch: str, key: str, entry: tuple):
    """A slider over the registry's range; returns (low, high) when narrowed, else None."""
    kind, low, high = entry
    widget_key = f"tune_space_{arch}_{key}"
    if kind == "int":
        picked = st.slider(key, int(low), int(high), (int(low), int(high)), key=widget_key)
    elif kind == "float":
        picked = st.slider(key, float(low), float(high), (float(low), float(high)), step=(high - low) / 100,
                           key=widget_key)
    else:  # log scale: slide over the exponent
        lo_exp, hi_exp = math.log10(low), math.log10(high)
        exps = st.slider(f"{key} (log₁₀)", lo_exp, hi_exp, (lo_exp, hi_exp), step=0.1, format="%.1f",
                         key=widget_key)
        picked = tuple(bound if math.isclose(e, ref) else 10 ** e for e, ref, bound in
                       zip(exps, (lo_exp, hi_exp), (low, high)))
    return None if tuple(picked) == (low, high) else list(picked)


def _choices(arch: str, key: str, entry: tuple):
    """A multiselect of the choices; returns the kept list when narrowed, else None."""
    options = list(entry[1])
    labels = {False: "off", True: "on"} if key in tune.DATA_CHOICES else {}
    picked = st.multiselect(key, options, default=options, key=f"tune_space_{arch}_{key}",
                            format_func=lambda choice: labels.get(choice, str(choice)))
    return None if picked == options else picked


def search_space_inputs(arch: str, space: dict) -> tuple[dict, list[str]]:
    overrides, problems = {}, []
    columns = st.columns(3)
    for index, (key, entry) in enumerate(space.items()):
        with columns[index % 3]:
            value = _choices(arch, key, entry) if entry[0] == "categorical" else _numeric_range(arch, key, entry)
        if value is not None:
            if not value:
                problems.append(f"{key}: keep at least one choice.")
            overrides[key] = value
    return overrides, problems


# -- new study --------------------------------------------------------------------------------------------------------
st.subheader("New study")
arch_col, task_col = st.columns(2)
arch = arch_col.selectbox("Architecture", list(registry), key="tune_arch",
                          format_func=lambda name: f"{registry[name].title} ({name})")
task = task_col.selectbox("Task", TASK_NAMES, key="tune_task", format_func=lambda n: f"{n}: {get_task(n).description}",
                          help="Every trial trains this task; a multi-label task's trials maximise validation "
                               "macro-F1 (the objective is named so in optuna-dashboard), the others validation "
                               "accuracy.")
left, middle, right = st.columns(3)
with left:
    n_trials = st.number_input("trials", min_value=1, value=100, step=10, key="tune_trials",
                               help="The notebook ran 100 trials or 90 minutes per study.")
    timeout_min = st.number_input("timeout (minutes, 0 = none)", min_value=0, value=90, step=10, key="tune_timeout")
    study_name = st.text_input("study name (blank: a new one)", key="tune_name",
                               help="An existing name continues that study with its own settings.").strip()
with middle:
    epochs = st.number_input("epochs per trial", min_value=1, value=tune.DEFAULT_EPOCHS, key="tune_epochs")
    batches = st.number_input("batches per epoch (0 = whole split)", min_value=0,
                              value=tune.DEFAULT_BATCHES_PER_EPOCH, step=10, key="tune_batches")
    val_examples = st.number_input("validation examples (0 = all)", min_value=0,
                                   value=tune.DEFAULT_VAL_EXAMPLES or 0, step=500, key="tune_val_examples")
with right:
    limit = st.number_input("limit (examples per split, 0 = all)", min_value=0, value=0, step=100, key="tune_limit")
    pruner = st.selectbox("pruner", tune.PRUNERS, key="tune_pruner",
                          help="median: stop a trial below the median of earlier trials at the same epoch; "
                               "hyperband: successive halving over epochs; none: every trial runs its budget.")
    seed_col, device_col = st.columns(2)
    seed = seed_col.number_input("seed", value=tune.DEFAULT_SEED, step=1, key="tune_seed")
    device = device_col.selectbox("device", ["auto", "cpu", "cuda"], key="tune_device")

with user_errors():
    choices = tune.data_choices(settings)
    space = tune.base_space(arch, choices)
with st.expander("Search space", expanded=False):
    st.caption("The notebook's ranges. Narrow a range or drop choices; a range of one value or a single choice "
               "is fixed instead of searched.")
    overrides, problems = search_space_inputs(arch, space)
    if not choices.pretrained:
        st.caption("Pretrained embeddings on/off: set `GOEMO_PRETRAINED` to an encoder to search it.")
    if not choices.augment:
        st.caption("Augmentation on/off: build an augmented split (Augment page) to search it.")

for problem in problems:
    st.error(problem, icon=":material/error:")
if st.button("Start study", type="primary", icon=":material/play_arrow:", key="tune_start", disabled=bool(problems)):
    with user_errors(stop=False):
        name = study_name or tune.new_study_name(arch)
        config = tune.TuneConfig(arch=arch, n_trials=int(n_trials), timeout=timeout_min * 60.0 or None, study=name,
                                 limit=int(limit) or None, epochs=int(epochs), batches_per_epoch=int(batches),
                                 val_examples=int(val_examples), pruner=pruner, seed=int(seed), space=overrides,
                                 device=device, fixed={"task": task} if task != DEFAULT_TASK else {})
        tune.plan_study(config, choices=choices)  # refuse bad settings here, not on the job card
        job_manager().submit("tune", config, title=f"Tune {registry[arch].title} · {name}")
        st.session_state["tune_study"] = name
        st.success(f"Study `{name}` launched in the background.", icon=":material/check_circle:")

st.subheader("Jobs")
job_list("tune", empty_text="No tuning jobs in this server process yet.")


# -- studies in the storage --------------------------------------------------------------------------------
def history_chart(trials: pd.DataFrame) -> alt.LayerChart | None:
    history = tune.history_frame(trials)
    if history.empty:
        return None
    points = alt.Chart(history).mark_circle(size=60).encode(
        x=alt.X("number:Q", title="trial", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", title="validation accuracy (%)", scale=alt.Scale(zero=False)),
        color=alt.Color("state:N", legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["number", "state", alt.Tooltip("value:Q", format=".2f")],
    )
    best = alt.Chart(history.dropna(subset=["best_so_far"])).mark_line(interpolate="step-after").encode(
        x="number:Q", y="best_so_far:Q", tooltip=[alt.Tooltip("best_so_far:Q", title="best so far", format=".2f")],
    )
    # no fixed height: Streamlit fits title, axes and legend into a declared height and squeezes the plot
    return (points + best).properties(title="Optimisation history (line: best so far)")


def importance_chart(importances: dict) -> alt.Chart:
    frame = pd.DataFrame({"parameter": list(importances), "importance": list(importances.values())})
    return alt.Chart(frame, title="Parameter importances").mark_bar().encode(
        x=alt.X("importance:Q", axis=alt.Axis(format="%")),
        y=alt.Y("parameter:N", sort="-x", title=None),
        tooltip=["parameter", alt.Tooltip("importance:Q", format=".1%")],
    )


TRIAL_LABELS = {"value": "val accuracy (%)", "val_macro_f1": "val macro-F1", "duration_s": "duration (s)"}


def trial_columns(table: pd.DataFrame) -> dict:
    """Formats matching the rounding, so Streamlit neither pads nor cuts digits; float parameters keep their
    significant digits (a learning rate of 0.0001995 must not read 0.0002)."""
    columns = {column: st.column_config.NumberColumn(TRIAL_LABELS[column], format=f"%.{decimals}f")
               for column, decimals in TRIAL_DECIMALS.items()}
    for column in table.columns:
        if column not in TRIAL_COLUMNS and pd.api.types.is_float_dtype(table[column]):
            columns[column] = st.column_config.NumberColumn(format=f"%.{PARAM_DIGITS}g")
    return columns


def study_panel(name: str) -> None:
    with user_errors(stop=False):
        trials = tune.trials_frame(name)
        if trials.empty:
            st.caption("No trial yet: the first one is training (or waiting for a free slot).")
            return
        counts = trials["state"].value_counts().to_dict()
        complete = trials[trials["state"] == "complete"]["value"]
        a, b = st.columns(2)
        a.metric("Trials", len(trials))
        b.metric("Best validation accuracy", f"{complete.max():.2f} %" if not complete.empty else "–")
        st.caption("States: " + " · ".join(f"{k} {v}" for k, v in counts.items()))  # a metric would cut it off
        chart_col, importance_col = st.columns([3, 2])
        chart = history_chart(trials)
        if chart is not None:
            chart_col.altair_chart(chart, width="stretch")
        importances = tune.param_importances(name)
        if importances:
            importance_col.altair_chart(importance_chart(importances), width="stretch")
            if len(complete) < RELIABLE_IMPORTANCE_TRIALS:
                importance_col.caption(f"From {len(complete)} completed trials these importances are mostly noise: "
                                       f"read them after about {RELIABLE_IMPORTANCE_TRIALS}.")
        else:
            importance_col.caption(f"Parameter importances appear after {tune.MIN_IMPORTANCE_TRIALS} completed "
                                   "trials with some variation.")
        table = rounded_trials(trials).dropna(axis=1, how="all")
        st.dataframe(table, hide_index=True, width="stretch", column_config=trial_columns(table))


st.subheader("Studies")
studies: list[dict] = []
storage_ok = False
with user_errors(stop=False):
    studies = [study for study in tune.list_studies() if study["kind"] != "grid"]  # grids: their own section
    storage_ok = True
pending = [j.config.study for j in job_manager().active("tune") if j.config.study]
names = list(dict.fromkeys([*(s["study"] for s in studies), *pending]))
if studies:
    st.dataframe(pd.DataFrame(studies).drop(columns=["study_id", "kind"]), hide_index=True, width="stretch")
if not names:
    st.caption(f"No study in `{storage_text}` yet: start one above or with `python -m goemo_core tune`.")
selected = st.selectbox("Study", names, key="tune_study") if names else None

waiting = selected if selected in pending and selected not in {s["study"] for s in studies} else None
if waiting:  # its job has not created the study yet: nothing to show, and nothing wrong
    state = next((j.status for j in job_manager().active("tune") if j.config.study == waiting), "queued")
    st.info(f"`{waiting}` is {state}: its trials show here once its job has created the study.",
            icon=":material/schedule:")
elif selected:
    live = bool(job_manager().active("tune"))
    st.fragment(run_every=2 if live else None)(study_panel)(selected)

    st.markdown("**Next steps**")
    train_col, more_col = st.columns(2)
    with train_col:
        keep_limit = st.checkbox("keep the study's data limit", value=False, key="tune_keep_limit",
                                 help="Off: the full splits. The epochs come from the architecture's recipe and "
                                      "there is no per-trial batch cap.")
        if st.button("Train best", icon=":material/model_training:", key="tune_train_best"):
            with user_errors(stop=False):
                config = tune.best_train_config(selected, keep_limit=keep_limit)
                label = RunLabel.clean(f"best of {selected}"[:MAX_NAME], ("tuned", selected[:MAX_TAG]),
                                       f"The best trial of study {selected}.")
                job_manager().submit("train", TrainJob(config, label), title=f"{config.arch} · best of {selected}")
                st.success("Training job launched: follow it on the Train page; it appears on Compare when done.",
                           icon=":material/check_circle:")
    with more_col:
        more = st.number_input("more trials", min_value=1, value=10, step=5, key="tune_more")
        if st.button("Continue this study", icon=":material/playlist_add:", key="tune_continue"):
            with user_errors(stop=False):
                config = tune.resume_config(selected, n_trials=int(more))
                job_manager().submit("tune", config, title=f"Tune · {selected} (+{int(more)})")
                st.success(f"{int(more)} more trials of `{selected}` queued.", icon=":material/check_circle:")

st.subheader("Benchmark grids")
if storage_ok:
    grids_section()
st.markdown("**The benchmark grid in this artifacts folder**")
folder_grid_section()

st.subheader("Optuna dashboard")
if storage_ok:
    with user_errors(stop=False):
        base_url = ensure_dashboard()  # once per server process, on 127.0.0.1; later calls only return its URL
        study_id = next((s["study_id"] for s in studies if s["study"] == selected), None)
        if study_id is not None:
            target, label = study_url(base_url, study_id), f"Open {selected} in Optuna Dashboard"
        else:  # no study yet, or one still waiting for its first trial
            target, label = f"{base_url}/dashboard", "Open Optuna Dashboard"
        st.link_button(label, target, icon=":material/open_in_new:", key="tune_dashboard")
        st.caption(f"Running at [{target}]({target}) on the server's 127.0.0.1: open it from a browser on the same "
                   "machine (or through an SSH tunnel). From a shell: `python -m goemo_core dashboard`.")
