"""Train: choose architectures and hyperparameters, launch background jobs, watch them live."""

import streamlit as st

from goemo_core.data.tasks import DEFAULT_THRESHOLD, TASK_NAMES, get_task
from goemo_core.bench.grid import enqueue_grid
from goemo_core.jobs.manager import gpu_slots
from goemo_core.models import architectures
from goemo_core.results.choice import best_marks
from goemo_core.results.run_tables import describe_run
from goemo_core.runs.store import RunStore
from goemo_core.settings import get_settings
from goemo_core.training.config import MAX_TRANSFER_VARIANTS, USE_ENV, TrainConfig
from views import forms
from views.common import available_devices, job_manager, page_setup, user_errors
from views.jobs import job_list, live_runs_note, run_history, stopped_runs

page_setup("Train", ":material/model_training:")
settings = get_settings()
registry = architectures()

st.caption("Each job trains in a worker process of its own: leaving this page or reloading the browser does not "
           f"stop it. {gpu_slots()} jobs run at once per GPU and one on the CPU; the others wait in the queue.")

launched = st.session_state.pop("train_launched", None)
if launched:
    st.success(launched, icon=":material/check_circle:")
st.subheader("Jobs")
job_list("train", empty_text="No training jobs in this server process yet.")
live_runs_note(job_manager().jobs())
stopped_runs(job_manager().jobs())
run_history(job_manager().jobs())

st.subheader("New training run")
arch_column, device_column = st.columns([3, 1])
archs = arch_column.multiselect("Architectures", list(registry), default=["lstm"], key="train_archs",
                                format_func=lambda name: f"{registry[name].title} ({name})",
                                help="One job per architecture, all with the recipe below.")
devices = available_devices()
device = device_column.selectbox("device", devices, key="train_device",
                                 index=devices.index(settings.device) if settings.device in devices else 0,
                                 help="The devices this server has; auto: the GPU when there is one. The recipe "
                                      "below starts at what each architecture trains with there.")
task = get_task(st.selectbox("Task", TASK_NAMES, key="train_task",
                             format_func=lambda n: f"{n}: {get_task(n).description}",
                             help="What the models learn: ekman (the default) is one primary class per example; "
                                  "the multi-label tasks predict every label whose probability reaches the "
                                  "threshold and select epochs on validation macro-F1."))
if forms.NEEDS_ENCODER & set(archs) or not archs:
    st.info("**Transformer** is the reference model: the pretrained encoder named by `GOEMO_PRETRAINED` fine-tuned "
            "end to end. It only makes sense with that encoder, so it needs `GOEMO_PRETRAINED` and "
            "*pretrained embeddings* on (data options).", icon=":material/info:")

# Keyed and tracked: its open state belongs to it, not to its place below the job cards that come and go.
with st.expander("Hyperparameters", expanded=False, key="train_hyperparameters", on_change="rerun"):
    params = {}
    if archs:
        for arch, tab in zip(archs, st.tabs([registry[a].title for a in archs])):
            with tab:
                params[arch] = forms.model_params(arch)
    st.markdown("**Training recipe** (all chosen architectures)")
    recipe_shown = forms.recipe_defaults(archs, device, task.name)
    st.caption("Inputs start at what the chosen architectures train with on this device (a GPU has its own "
               "recipe); a value you change is used as you set it. " + forms.differing_note(archs, device, task.name))
    recipe = forms.recipe_inputs(recipe_shown, device, task.name)

st.markdown("**Data and run**")
left, middle, right = st.columns(3)
with left:
    limit = st.number_input(f"limit (examples per split, {forms.LIMIT_RULE})", value=0, step=100,
                            key="train_limit",
                            help="Caps every split at its first N examples: quick trial runs.")
    augmented = forms.augmented_splits()
    augment = st.selectbox("augmented train split", ["none", *augmented], key="train_augment",
                           help="Built on the Augment page." if augmented else "None built yet (Augment page).",
                           disabled=not augmented)
    finished = [run for run in RunStore().list()
                if run.status == "completed" and run.metrics and not run.missing_files()]
    marks = best_marks(finished)
    candidates = {run.run_id: describe_run(run) + (f" · ★ {marks[run.run_id]}" if run.run_id in marks else "")
                  for run in sorted(finished, key=lambda run: run.run_id not in marks)}
    teachers = st.multiselect("teachers (distillation)", list(candidates), key="train_teachers",
                              format_func=candidates.get,
                              help="Runs or ensemble runs whose class probabilities the new run learns from, as "
                                   "well as from the labels (distill_weight, distill_temperature in the recipe). "
                                   "They must have been trained on the same data. ★ marks each architecture's run "
                                   "best on validation (on its task and data), listed first: the teacher to choose.")
    transfer = st.number_input("transfer variants per sentence (with teachers)", value=0, min_value=0,
                               max_value=MAX_TRANSFER_VARIANTS, step=1, key="train_transfer", disabled=not teachers,
                               help="Adds N EDA variants of each train sentence, learnt from the teachers' "
                                    "probabilities alone (no label of their own); built once and cached. 0: off.")
with middle:
    use_pretrained = settings.pretrained is not None and st.toggle(
        "pretrained embeddings", value=True, key="train_pretrained",
        help=f"Tokenizer and input embeddings from `{settings.pretrained}` (GOEMO_PRETRAINED).")
    if settings.pretrained is None:
        st.caption("Pretrained embeddings: set `GOEMO_PRETRAINED` to an encoder to offer them.")
    freeze = st.number_input("frozen embedding epochs (-1 = always)", value=TrainConfig.freeze_embedding_epochs,
                             step=1, key="train_freeze",
                             disabled=not use_pretrained)
with right:
    decision = {}
    if task.multi_label:
        decision = {"threshold": st.number_input("decision threshold", value=DEFAULT_THRESHOLD, min_value=0.01,
                                                 max_value=0.99, step=0.05, key="train_threshold",
                                                 help="A label is predicted at this probability or above (the "
                                                      "GoEmotions paper's rule: 0.3)."),
                    "tune_thresholds": st.checkbox("tune per-label thresholds on validation", key="train_tune",
                                                   help="After training, each label's threshold is chosen for its "
                                                        "best validation F1; test is never used to choose.")}
    seed = st.number_input("seed", value=211, step=1, key="train_seed")
    repeats = st.number_input("seeds per architecture", value=1, min_value=1, max_value=10, step=1,
                              key="train_repeats",
                              help="Repeats with seeds seed, seed+1, …; Compare pools them into mean ± std.")

st.markdown("**Name, tags and note** (optional; editable later on Compare)")
name_col, tags_col = st.columns([2, 3])
name = name_col.text_input("name", key="train_name", max_chars=80,
                           help="What legends and pickers call the run (with several jobs, each gets its "
                                "architecture and seed added).")
tags = tags_col.text_input("tags (comma-separated)", key="train_tags")
note = st.text_area("note", key="train_note", height=68)

options = {"task": task.name, **decision, "limit": int(limit) or None,
           "augment": None if augment == "none" else augment, "pretrained": USE_ENV if use_pretrained else None,
           "device": device, "seed": int(seed), "teachers": teachers,
           "transfer_augment": int(transfer) if teachers else 0,
           **({"freeze_embedding_epochs": int(freeze)} if use_pretrained else {})}

on_workers = st.toggle("run on workers", key="train_on_workers",
                       help="Do not train here: add one cell per architecture and seed to a benchmark grid on a "
                            "shared Optuna storage; `goemo worker` processes on any machine train them "
                            "(docs/multi-machine.md). Their runs come back with Pull runs from MLflow.")
if on_workers:
    storage_col, grid_col = st.columns(2)
    grid_storage = storage_col.text_input("storage URL", key="train_grid_storage", type="password",
                                          placeholder="empty: GOEMO_OPTUNA_STORAGE",
                                          help="postgresql+psycopg://user:password@host:5432/db for workers on "
                                               "several machines")
    grid_name = grid_col.text_input("grid (study name)", key="train_grid_name", max_chars=200,
                                    value=f"grid-{'-'.join(archs)}"[:200])

if on_workers and st.button("Add to the grid", type="primary", icon=":material/playlist_add:",
                            key="train_enqueue", disabled=not (archs and grid_name.strip())):
    cells, errors = forms.cells_for_workers(archs, params, recipe, options, recipe_shown, repeats=int(repeats))
    for error in errors:
        st.error(error, icon=":material/error:")
    if not errors:
        with user_errors(stop=False):
            added = enqueue_grid(grid_name.strip(), cells, grid_storage or None)
            st.success(f"Added {added['added']} of {added['cells']} cells to grid `{added['study']}` "
                       f"({added['kept']} already there). Start workers with `python -m goemo_core worker "
                       f"--storage URL --study {added['study']}`; follow the grid on the Tune page.",
                       icon=":material/check_circle:")
if not on_workers and st.button("Launch", type="primary", icon=":material/rocket_launch:", key="train_launch",
                                disabled=not archs):
    configs, errors = forms.build_configs(archs, params, recipe, options, recipe_shown, repeats=int(repeats))
    jobs, label_errors = forms.labelled_jobs(configs, name, tags, note)
    for error in [*errors, *label_errors]:
        st.error(error, icon=":material/error:")
    if not errors and not label_errors:  # all or nothing: one bad setting launches no job
        for job in jobs:
            job_manager().submit("train", job, title=forms.job_title(job.config, name))
        st.session_state["train_launched"] = f"Launched {len(jobs)} job(s): they are listed under Jobs."
        st.rerun()
