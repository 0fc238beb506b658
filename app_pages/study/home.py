"""Home: what the app is, the state of things, and where to go."""

import streamlit as st

from goemo_core.data.tasks import TASK_NAMES, get_task
from goemo_core.results.choice import NOTEBOOK_BEST_ACCURACY
from goemo_core.results.published import MARK, published_frame
from goemo_core.results.summary import leaderboard
from goemo_core.runs.store import RunStore
from views.common import interrupted_runs, job_manager, page_link, page_setup, unreadable_runs_note
from views.jobs import live_runs_note
from views.mlflow_views import pull_action, trained_on_table
from views.tables import cost_notes, pooled_table, reference_results

page_setup("GoEmotions RNN Benchmark Studio", ":material/psychology:")
st.markdown(
    "Benchmark recurrent architectures (BiLSTM, BiGRU, xLSTM, RWKV, with a fine-tuned transformer for reference) "
    "on **GoEmotions reduced to Ekman's 7 classes**: inspect the class balance, build augmentations, train in the "
    "background, tune with Optuna, compare runs and try sentences."
)

store = RunStore()
runs = store.list()
jobs = job_manager().active()
left, middle, right = st.columns(3)
left.metric("Runs", len(runs))
middle.metric("Completed runs", sum(r.status == "completed" for r in runs))
right.metric("Running jobs", len(jobs) + live_runs_note(job_manager().jobs()))  # CLI runs listed below
if interrupted_runs():
    st.info(f"{len(interrupted_runs())} run(s) left running by a stopped server were marked interrupted.")
unreadable_runs_note(store)

st.subheader("Leaderboard")
task = st.selectbox("Task", TASK_NAMES, key="home_task", format_func=lambda n: f"{n}: {get_task(n).description}",
                    help="Each task has its own leaderboard; runs of different tasks are never ranked together.")
board = leaderboard(runs, task)
if board.empty:
    limited = sum(r.config.get("limit") is not None and r.status == "completed" for r in runs)
    st.info("No full-data run with test metrics yet: the leaderboard counts only runs trained on the whole data "
            "(runs with a `limit` are quick checks on the first examples of every split, test included)"
            + (f"; {limited} limited run(s) so far." if limited else ".")
            + " Train without a limit on the **Train** page or with `python -m goemo_core bench accuracy`.",
            icon=":material/leaderboard:")
else:
    st.caption(f"Each architecture's settings **chosen on validation** (the full-data recipe with the best mean "
               f"validation accuracy; test metrics are reported, never used to choose), mean ± std over their "
               f"completed seeds, with what it costs to use and to train. *vs best*: whether its test accuracy "
               f"differs from the first row's beyond the seeds' noise (Welch's t-test; 3 seeds or more). The course "
               f"notebook's best run reached {NOTEBOOK_BEST_ACCURACY} %.")
    pooled_table(board, ["arch", "changes", "runs", "val_accuracy_mean", "test_accuracy", "test_macro_f1", "vs_best",
                         "warning", "cpu_latency_ms", "cpu_sentences_per_s", "parameters", "trainable_parameters",
                         "train_seconds", "epoch_seconds", "device"], key="leaderboard")
    degenerate_rows = board[board["warning"] != ""]
    if not degenerate_rows.empty:
        st.warning(f"{len(degenerate_rows)} architecture(s) have only degenerate models so far ("
                   + "; ".join(f"{row.arch}: {row.warning}" for row in degenerate_rows.itertuples())
                   + "): they learnt next to nothing; their row is no result.", icon=":material/warning:")
    cost_notes(board, {run.run_id: run for run in runs})

reference_results(task)  # the benchmark's own answer, from the committed results files

published = published_frame(task)
if not published.empty:
    st.markdown(f"**Published reference** for `{task}` ({MARK}): the GoEmotions paper's BERT-base test results "
                "under the same protocol (a label predicted at probability ≥ 0.3, macro over labels).")
    st.dataframe(published.drop(columns=["task"]), hide_index=True, key="home_published")

st.subheader("Where runs were trained")
trained_on_table(runs, "home_trained_on")
pull_action("home_pull")

st.subheader("Where to go")
for page, what in [
    ("app_pages/study/data.py", "class balance per split, the 28 → 7 grouping, token lengths, a sample browser"),
    ("app_pages/study/augment.py", "preview EDA variants and build a balanced augmented train split"),
    ("app_pages/experiments/train.py", "launch training runs and watch them live"),
    ("app_pages/experiments/tune.py", "Optuna studies and the Optuna dashboard"),
    ("app_pages/experiments/compare.py", "curves, per-class metrics and confusion matrices side by side"),
    ("app_pages/experiments/classify.py", "type a sentence and see what each model thinks"),
]:
    page_link(page, f"{page.rsplit('/', 1)[1][:-3].capitalize()}: {what}")
