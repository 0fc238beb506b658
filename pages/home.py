"""Home: what the app is, the state of things, and where to go."""

import streamlit as st

from goemo_core.report import NOTEBOOK_BEST_ACCURACY, leaderboard
from goemo_core.runs import RunStore
from views.common import interrupted_runs, job_manager, page_link, page_setup, unreadable_runs_note

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
right.metric("Running jobs", len(jobs))
if interrupted_runs():
    st.info(f"{len(interrupted_runs())} run(s) left running by a stopped server were marked interrupted.")
unreadable_runs_note(store)

board = leaderboard(runs)
if not board.empty:
    st.subheader("Leaderboard")
    st.caption(f"Each architecture's best settings on the full data, mean ± std over their seeds (test split). "
               f"The course notebook's best run reached {NOTEBOOK_BEST_ACCURACY} %.")
    st.dataframe(board[["arch", "changes", "runs", "test_accuracy_mean", "test_accuracy_std", "test_macro_f1_mean",
                        "test_macro_f1_std", "epoch_seconds", "device"]], hide_index=True, key="leaderboard",
                 column_config={
                     "test_accuracy_mean": st.column_config.NumberColumn("test acc (%)", format="%.2f"),
                     "test_accuracy_std": st.column_config.NumberColumn("± std", format="%.2f"),
                     "test_macro_f1_mean": st.column_config.NumberColumn("macro-F1", format="%.3f"),
                     "test_macro_f1_std": st.column_config.NumberColumn("± std ", format="%.3f"),
                     "epoch_seconds": st.column_config.NumberColumn("s / epoch", format="%.1f")})

st.subheader("Where to go")
for page, what in [
    ("pages/data.py", "class balance per split, the 28 → 7 grouping, token lengths, a sample browser"),
    ("pages/augment.py", "preview EDA variants and build a balanced augmented train split"),
    ("pages/train.py", "launch training runs and watch them live"),
    ("pages/tune.py", "Optuna studies and the Optuna dashboard"),
    ("pages/compare.py", "curves, per-class metrics and confusion matrices side by side"),
    ("pages/classify.py", "type a sentence and see what each model thinks"),
]:
    page_link(page, f"{page.split('/')[1][:-3].capitalize()}: {what}")
