"""Pages with a multi-label run beside a single-label one (AppTest): Classify shows each label's probability and the
labels over the threshold, per task; Compare and Data keep tasks apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DATA_DIR, page_file
from streamlit.testing.v1 import AppTest

from goemo_core.data.tasks import get_task
from goemo_core.runs.store import RunStore

TIMEOUT = 90
TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16}


def page(name: str) -> AppTest:
    return AppTest.from_file(str(page_file(name)), default_timeout=TIMEOUT)


def assert_rendered(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def task_home(tmp_path_factory) -> Path:
    """An artifacts folder with a tiny ekman run and a tiny goemotions (28 labels, multi-label) run."""
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    home = tmp_path_factory.mktemp("tasks") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOEMO_HOME", str(home))
        mp.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        mp.setenv("GOEMO_DEVICE", "cpu")
        mp.delenv("GOEMO_PRETRAINED", raising=False)
        for task in ("ekman", "goemotions"):
            config = make_config("gru", {"limit": 200, "epochs": 1, "device": "cpu", "pretrained": None,
                                         "task": task, "threshold": 0.05}, params=TINY)
            assert train_run(config).status == "completed"
    return home


@pytest.fixture
def task_runs(task_home: Path, goemo_env: Path, fresh_manager) -> dict:
    shutil.copytree(task_home / "runs", goemo_env / "runs")
    return {run.config.get("task"): run for run in RunStore().list()}


def test_classify_shows_every_label_over_the_threshold_of_a_multi_label_run(task_runs):
    at = page("classify.py").run()
    assert_rendered(at)
    assert at.selectbox(key="classify_task").options == [get_task("ekman").description,
                                                         get_task("goemotions").description]
    at.selectbox(key="classify_task").set_value("goemotions").run()
    assert at.multiselect(key="classify_runs-goemotions").value == [task_runs["goemotions"].run_id]
    at.text_area(key="classify_text").set_value("Thank you so much, what a wonderful surprise!").run()
    assert_rendered(at)
    [metric] = at.metric
    labels = [name.strip() for name in metric.value.split(",")]
    assert len(labels) > 1 and set(labels) <= set(get_task("goemotions").labels)  # threshold 0.05: several labels
    table = next(df.value for df in at.dataframe if len(df.value.index) == 28)
    assert list(table.index) == list(get_task("goemotions").labels)
    over = [name for name, p in table.iloc[:, 0].items() if p >= 0.05]
    assert sorted(over) == sorted(labels)
    at.text_area(key="batch_lines").set_value("I love it\nthis is awful\n").run()
    batch = at.dataframe[-1].value
    assert len(batch) == 2 and batch["over threshold"].str.len().gt(0).all()
    at.selectbox(key="classify_task").set_value("ekman").run()  # switching back drops the other task's runs
    assert_rendered(at)
    assert at.multiselect(key="classify_runs-ekman").value == [task_runs["ekman"].run_id]


def test_compare_keeps_tasks_apart_and_shows_per_label_f1_and_the_published_rows(task_runs):
    at = page("compare.py").run()
    assert_rendered(at)
    runs_table = at.dataframe[0].value
    assert list(runs_table["run_id"]) == [task_runs["ekman"].run_id]  # the default task first, alone
    at.selectbox(key="compare_task").set_value("goemotions").run()
    assert_rendered(at)
    assert list(at.dataframe[0].value["run_id"]) == [task_runs["goemotions"].run_id]
    specs = [chart.proto.spec for chart in at.get("vega_lite_chart")]
    assert any('"test F1"' in spec for spec in specs)  # the per-label F1 bars
    assert not any('"predicted"' in spec for spec in specs)  # and no 28 × 28 confusion matrix
    f1 = next(df.value for df in at.dataframe if "macro avg" in getattr(df.value, "columns", []))
    assert list(f1.columns) == [*get_task("goemotions").labels, "macro avg", "std"]
    published = next(df.value for df in at.dataframe if {"source", "macro_f1"} <= set(getattr(df.value, "columns", [])))
    assert list(published["source"]) == ["run here", "published, not run here"]
    assert published["macro_f1"].iloc[1] == 0.46
    counts = next(df.value for df in at.dataframe if list(getattr(df.value, "columns", [])) == ["tp", "fp", "fn",
                                                                                                   "tn"])
    assert list(counts.index) == list(get_task("goemotions").labels)
    assert (counts.sum(axis=1) == task_runs["goemotions"].metrics["examples"]).all()


def test_home_shows_the_published_reference_for_the_matching_task(task_runs):
    at = page("home.py").run()
    assert_rendered(at)
    assert not any(df.key == "home_published" for df in at.dataframe if hasattr(df, "key"))
    at.selectbox(key="home_task").set_value("ekman-multilabel").run()
    assert_rendered(at)
    published = at.dataframe[-1].value
    assert list(published["source"]) == ["published, not run here"] and published["macro_f1"].iloc[0] == 0.64
    assert published["f1_joy"].iloc[0] == 0.82


def test_train_page_launches_a_multi_label_run(fresh_manager):
    at = page("train.py").run()
    at.selectbox(key="train_task").set_value("sentiment").run()
    assert at.selectbox(key="r-monitor").value == "val_macro_f1"  # the task's recipe shows before launch
    at.multiselect(key="train_archs").set_value(["gru"]).run()
    for name, value in TINY.items():
        at.number_input(key=f"p-gru-{name}").set_value(value)
    at.number_input(key="train_limit").set_value(150)
    at.number_input(key="r-epochs").set_value(1)
    at.number_input(key="train_threshold").set_value(0.25)
    at.selectbox(key="train_device").set_value("cpu")
    at.button(key="train_launch").click().run()
    assert_rendered(at)
    assert not at.error, [e.value for e in at.error]
    manager = fresh_manager()
    [job] = manager.jobs("train")
    manager.wait(job.id, timeout=180)
    assert job.status == "completed", job.error
    run = RunStore().get(job.run_id)
    assert run.config["task"] == "sentiment" and run.config["threshold"] == 0.25
    assert set(run.metrics["decision"]["thresholds"].values()) == {0.25}


def test_data_page_shows_each_tasks_distribution_and_co_occurrence(fresh_manager):
    at = page("data.py").run()
    assert_rendered(at)
    at.selectbox(key="data_task").set_value("sentiment").run()
    assert_rendered(at)
    specs = [chart.proto.spec for chart in at.get("vega_lite_chart")]
    assert any("also labelled" in spec for spec in specs)  # the co-occurrence heatmap of a multi-label task
    assert any("positive" in spec and "ambiguous" in spec for spec in specs)


def test_is_a_better_than_b_on_a_multi_label_task_compares_over_seeds_and_says_why_not_paired(task_runs):
    from goemo_core.results.comparison import compare_recipes, significance_frame
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    config = make_config("gru", {"limit": 200, "epochs": 1, "device": "cpu", "pretrained": None, "task": "goemotions",
                                 "threshold": 0.05, "lr": 1e-3}, params=TINY)
    other = RunStore().get(train_run(config).run.run_id)
    document = compare_recipes(task_runs["goemotions"], other, RunStore().list())
    assert document["multi_label"] is True and document["paired"] is None
    frame = significance_frame(document)
    paired = frame[frame["comparison"] == "paired, test set"]
    assert list(paired["metric"]) == ["macro_f1", "exact-match accuracy"]  # the task's headline first
    assert paired["note"].str.startswith("not for a multi-label task").all()
    assert list(frame[frame["comparison"] == "over seeds"]["metric"]) == ["macro_f1", "exact-match accuracy (points)"]


def test_a_multi_label_task_starts_at_its_recipe_and_every_refusal_shows_at_once(fresh_manager):
    at = page("train.py").run()
    assert at.number_input(key="r-soft_labels").value == 1.0  # ekman's recipe
    at.selectbox(key="train_task").set_value("goemotions").run()
    assert at.number_input(key="r-soft_labels").value == 0.0 and at.selectbox(key="r-monitor").value == "val_macro_f1"
    at.number_input(key="r-soft_labels").set_value(0.5)
    at.selectbox(key="r-monitor").set_value("val_accuracy")
    at.button(key="train_launch").click().run()
    assert_rendered(at)
    shown = " ".join(error.value for error in at.error)
    assert "soft_labels: not for the multi-label task goemotions" in shown
    assert "monitor: not for the multi-label task goemotions" in shown  # both at once, not one launch each
    assert not fresh_manager().jobs("train")
