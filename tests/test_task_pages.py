"""Pages with a multi-label run beside a single-label one (AppTest): Classify shows each label's probability and the
labels over the threshold, per task; Compare and Data keep tasks apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from goemo_core.runs import RunStore
from goemo_core.tasks import get_task

from conftest import DATA_DIR, page_file

TIMEOUT = 90
TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16}


def page(name: str) -> AppTest:
    return AppTest.from_file(str(page_file(name)), default_timeout=TIMEOUT)


def assert_rendered(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def task_home(tmp_path_factory) -> Path:
    """An artifacts folder with a tiny ekman run and a tiny goemotions (28 labels, multi-label) run."""
    from goemo_core.config import make_config
    from goemo_core.train import train_run

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
    assert at.multiselect(key="classify_runs").value == [task_runs["goemotions"].run_id]
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
    assert at.multiselect(key="classify_runs").value == [task_runs["ekman"].run_id]
