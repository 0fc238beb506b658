"""Pages with streamlit's AppTest: every page renders on its own; a tiny job launched from the Train page
completes, shows on Compare with its confusion matrix and classifies on Classify; failures, invalid settings
and cancels show on the job cards without breaking the page. Tiny models on CPU."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from conftest import DATA_DIR, PAGES_DIR, fake_run, page_file
from streamlit.testing.v1 import AppTest

from goemo_core.cli import main
from goemo_core.data.goemotions import EKMAN_CLASSES
from goemo_core.runs.store import RunStore

PAGES = sorted(PAGES_DIR.rglob("*.py"))  # whatever pages exist now (some are written by others)
TIMEOUT = 90  # the first run of a page imports torch
TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16}


def page(name: str) -> AppTest:
    return AppTest.from_file(str(page_file(name)), default_timeout=TIMEOUT)


def assert_rendered(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def launch_tiny(at: AppTest, archs: tuple[str, ...] = ("lstm",), epochs: int = 1, limit: int = 200,
                **recipe: float) -> AppTest:
    """Fill the Train page's widgets for a tiny run and press Launch."""
    at.multiselect(key="train_archs").set_value(list(archs)).run()  # one tab of model inputs per architecture
    for arch in archs:
        for name, value in TINY.items():
            at.number_input(key=f"p-{arch}-{name}").set_value(value)
    at.number_input(key="train_limit").set_value(limit)
    at.number_input(key="r-epochs").set_value(epochs)
    for name, value in recipe.items():
        at.number_input(key=f"r-{name}").set_value(value)
    at.selectbox(key="train_device").set_value("cpu")
    return at.button(key="train_launch").click().run()


def card_texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def table_with_index(at: AppTest, index: list[str]):
    return next(df.value for df in at.dataframe if list(df.value.index) == index)


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """An artifacts folder with two tiny completed runs (lstm, gru), trained once for this module."""
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    home = tmp_path_factory.mktemp("trained") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOEMO_HOME", str(home))
        mp.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        mp.setenv("GOEMO_DEVICE", "cpu")
        mp.delenv("GOEMO_PRETRAINED", raising=False)
        for arch in ("lstm", "gru"):
            config = make_config(arch, {"limit": 250, "epochs": 2, "device": "cpu", "pretrained": None}, params=TINY)
            assert train_run(config).status == "completed"
    return home


@pytest.fixture
def two_runs(trained_home: Path, goemo_env: Path, fresh_manager) -> list:
    """This test's own copy of the two trained runs (so deleting one leaves the module's copy alone)."""
    shutil.copytree(trained_home / "runs", goemo_env / "runs")
    return RunStore().list()


# --- every page on its own ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=[p.name for p in PAGES])
def test_every_page_renders_on_its_own(path: Path, fresh_manager):
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT).run()
    assert_rendered(at)
    assert at.title, "page_setup() gives every page a title"


def test_home_leaderboard_shows_each_architectures_best_recipe(fresh_manager):
    from conftest import fake_run

    empty = page("home.py").run()
    assert not empty.dataframe  # no runs: no board, but why
    assert any("full-data" in info.value for info in empty.info)
    store = RunStore()
    fake_run(store, "gru", 211, 90.0, 0.9, limit=100)  # a quick run on 100 examples is no result
    limited = page("home.py").run()
    assert not limited.dataframe and any("1 limited run" in info.value for info in limited.info)
    for seed, accuracy in ((211, 66.0), (212, 68.0)):
        fake_run(store, "gru", seed, accuracy, 0.6)
    fake_run(store, "lstm", 211, 65.0, 0.55)
    at = page("home.py").run()
    assert_rendered(at)
    board = next(df.value for df in at.dataframe if "changes" in df.value.columns)
    assert list(board["arch"]) == ["gru", "lstm"] and list(board["runs"]) == [2, 1]
    # ± the sample standard deviation: 66 and 68 give 1.41 (the population's would be 1.00)
    assert board.loc[0, "test_accuracy"] == "67.00 ± 1.41" and board.loc[1, "test_accuracy"] == "65.00 (one seed)"
    assert {"cpu_latency_ms", "parameters", "train_seconds"} <= set(board.columns)


def test_compare_shows_a_student_next_to_its_unselected_teacher(fresh_manager):
    from conftest import fake_run

    store = RunStore()
    teacher = fake_run(store, "lstm", 211, 68.0, 0.61)
    time.sleep(1.01)  # run ids sort by their creation second
    for seed in (212, 213, 214):
        fake_run(store, "gru", seed, 66.0, 0.58)
    time.sleep(1.01)
    student = fake_run(store, "gru", 211, 67.5, 0.60, teachers=[teacher.run_id])
    at = page("compare.py")
    at.query_params["run"] = student.run_id  # the student alone is selected: its teacher is not
    at.run()
    assert_rendered(at)
    assert "Students and their teachers" in [header.value for header in at.subheader]
    [pairs] = [df.value for df in at.dataframe if "teacher" in df.value.columns and "student" in df.value.columns]
    assert list(pairs["student"]) == [student.run_id] and list(pairs["teacher"]) == [teacher.run_id]
    assert pairs.loc[0, "accuracy_gap"] == -0.5


def many_runs(count: int) -> list:
    """`count` fake completed runs with loss curves, alternately gru (tagged baseline) and lstm (tagged trial)."""
    from conftest import fake_run

    from goemo_core.runs.folder import RunLabel

    store, made = RunStore(), []
    for i in range(count):
        run = fake_run(store, ("gru", "lstm")[i % 2], 300 + i, 60.0 + i, 0.5)
        run.write_history([{"epoch": e, "train_loss": 1.0 / e + i, "val_loss": 1.2 / e, "val_accuracy": 50.0 + e}
                           for e in (1, 2)])
        run.set_label(RunLabel.clean(f"run {i}", ("baseline",) if i % 2 == 0 else ("trial",)))
        made.append(run)
    return made


def curves_chart(at: AppTest) -> dict:
    """The Vega-Lite spec of Compare's training curves: one chart, a plot per metric, one legend."""
    return next(spec for spec in (json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart"))
                if spec.get("concat"))


def curve_spec(at: AppTest, metric: str) -> dict:
    """The Vega-Lite spec of one curve plot on Compare, found by its title."""
    from views.charts import CURVE_METRICS

    return next(plot for plot in curves_chart(at)["concat"] if plot.get("title", {}).get("text")
                == CURVE_METRICS[metric])


def test_compare_filters_keep_the_selection_in_the_url_and_a_link_reopens_it(fresh_manager):
    runs = many_runs(6)
    at = page("compare.py")
    at.query_params.update({"tag": "baseline", "run": [runs[0].run_id, runs[4].run_id]})
    at.run()
    assert_rendered(at)
    table = next(df.value for df in at.dataframe if "run_id" in df.value.columns)
    assert sorted(table["run_id"]) == sorted(r.run_id for r in runs[0::2])  # only the baseline-tagged runs
    assert at.multiselect(key="compare-filter-tag").value == ["baseline"]
    assert sorted(at.query_params["run"]) == sorted([runs[0].run_id, runs[4].run_id])  # the link's selection
    spec = curve_spec(at, "train_loss")
    assert sorted(spec["layer"][0]["encoding"]["color"]["scale"]["domain"]) == ["run 0", "run 4"]
    # one legend for every plot: a click on it picks a run (declared on one plot, read by all of them)
    [legend_pick] = [p for p in curves_chart(at)["params"] if p.get("bind") == "legend"]
    assert len(legend_pick["views"]) == 1 and len(curves_chart(at)["concat"]) >= 2
    assert all(layer["encoding"]["opacity"]["condition"][0]["param"] == "legend_pick"
               for plot in curves_chart(at)["concat"] for layer in plot["layer"])

    at.multiselect(key="compare-filter-tag").set_value([]).run()
    at.multiselect(key="compare-filter-arch").set_value(["lstm"]).run()
    assert at.query_params["arch"] == "lstm" and "tag" not in at.query_params
    table = next(df.value for df in at.dataframe if "run_id" in df.value.columns)
    assert sorted(table["run_id"]) == sorted(r.run_id for r in runs[1::2])
    at.text_input(key="compare-filter-name").set_value("run 3").run()
    table = next(df.value for df in at.dataframe if "run_id" in df.value.columns)
    assert list(table["run_id"]) == [runs[3].run_id] and at.query_params["name"] == "run 3"


def test_compare_curves_for_many_runs_group_by_architecture_and_leave_runs_without_curves_out(fresh_manager):
    from conftest import fake_run

    runs = many_runs(22)
    teacher = runs[0]
    student = fake_run(RunStore(), "gru", 400, 70.0, 0.6, teachers=[teacher.run_id])
    student.write_history([{"epoch": 1, "train_loss": 40.0}, {"epoch": 2, "train_loss": 30.0}])
    empty = fake_run(RunStore(), "lstm", 401, 50.0, 0.6)
    empty.write_history([])
    few = page("compare.py")
    few.query_params["run"] = [student.run_id, empty.run_id, runs[1].run_id]
    few.run()
    assert_rendered(few)
    assert curve_spec(few, "distill_loss")  # the student's mixed loss is plotted apart (see test_views)
    legend = curve_spec(few, "train_loss")["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert sorted(legend) == sorted(["run 1", student.display_name])  # the run without curves is not in the legend

    at = page("compare.py")
    at.query_params["run"] = [run.run_id for run in runs]
    at.run()
    assert_rendered(at)
    domain = curve_spec(at, "val_loss")["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert sorted(domain) == ["gru", "lstm"]  # 22 runs: a colour per architecture


def test_compare_and_classify_without_runs_point_to_train(fresh_manager):
    for name in ("compare.py", "classify.py"):
        at = page(name).run()
        assert_rendered(at)
        assert any("Train" in info.value for info in at.info)


# --- the whole loop: Train → Compare → Classify ------------------------------------------------------------------


def test_job_launched_from_train_page_completes_and_shows_on_compare_and_classify(fresh_manager):
    at = launch_tiny(page("train.py").run())
    assert_rendered(at)
    assert not at.error, [e.value for e in at.error]
    assert "Launched 1 job" in at.success[0].value

    manager = fresh_manager()
    [job] = manager.jobs("train")
    config = job.config.config  # a TrainJob: the config and the run's label
    assert config.limit == 200 and config.epochs == 1 and config.params["hidden_size"] == 16
    manager.wait(job.id, timeout=180)
    assert job.status == "completed", job.error
    assert len(job.history) == 1

    at.run()  # what a reload shows: the card of the finished job (the manager is process-wide)
    assert_rendered(at)
    assert f"`completed` · run `{job.run_id}`" in card_texts(at)

    compare = page("compare.py").run()
    assert_rendered(compare)
    runs_table = compare.dataframe[0].value
    assert list(runs_table["run_id"]) == [job.run_id] and list(runs_table["status"]) == ["completed"]
    charts = {chart.key for chart in compare.get("vega_lite_chart")}
    assert f"cm-{job.run_id}" in charts  # its confusion matrix
    f1 = table_with_index(compare, [job.run_id])
    assert list(f1.columns) == [*EKMAN_CLASSES, "macro avg", "std"]
    examples = compare.dataframe[-1].value
    assert list(examples.columns) == ["text", "true", "predicted", "confidence"] and len(examples) > 0

    classify = page("classify.py").run()
    assert_rendered(classify)
    classify.text_area(key="classify_text").set_value("I am so happy and grateful today!").run()
    assert_rendered(classify)
    probabilities = table_with_index(classify, list(EKMAN_CLASSES))[job.run_id]
    assert len(probabilities) == 7 and probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert (probabilities >= 0).all()
    assert classify.metric[0].value == probabilities.idxmax()  # the predicted emotion


def test_text_hyperparameters_are_chosen_from_their_list(fresh_manager):
    at = page("train.py").run()
    at.multiselect(key="train_archs").set_value(["gru"]).run()
    pooling = at.selectbox(key="p-gru-pooling")
    assert pooling.options == ["last", "max", "meanmax"] and pooling.value == "last"


def test_recipe_inputs_start_at_the_architecture_recipe_and_can_turn_it_off(fresh_manager):
    at = page("train.py").run()
    at.multiselect(key="train_archs").set_value(["gru"]).run()
    assert at.number_input(key="r-ema_decay").value == 0.999 and at.number_input(key="r-epochs").value == 10
    at.number_input(key="r-ema_decay").set_value(0.0)
    at = launch_tiny(at, archs=("gru",), limit=100)
    assert_rendered(at)
    [job] = fresh_manager().jobs("train")
    assert job.config.config.ema_decay == 0.0 and job.config.config.epochs == 1
    fresh_manager().cancel(job.id)


def test_the_train_form_chooses_the_precision_and_the_gru_shows_its_cpu_recipe(fresh_manager):
    from goemo_core.serving.inference import cpu_has_bf16

    at = page("train.py").run()
    at.multiselect(key="train_archs").set_value(["gru"]).run()
    precision = at.selectbox(key="r-precision")
    assert precision.options == ["auto", "fp32", "bf16"]
    native = cpu_has_bf16()  # the BiGRU's bf16 recipe on such a CPU (GOEMO_DEVICE=cpu here)
    assert precision.value == ("bf16" if native else "auto") and at.number_input(key="r-batch_size").value == (
        128 if native else 64)
    precision.set_value("fp32")
    at = launch_tiny(at, archs=("gru",), limit=100)
    assert_rendered(at)
    [job] = fresh_manager().jobs("train")
    assert job.config.config.precision == "fp32" and job.config.config.batch_size == (128 if native else 64)
    fresh_manager().cancel(job.id)


def test_the_recipe_inputs_follow_the_chosen_architecture_and_keep_an_edit(fresh_manager):
    from goemo_core.training.config import make_config

    at = page("train.py").run()
    lstm_lr = make_config("lstm", {"device": "cpu"}).lr  # 2e-3, or 2.8e-3 on a CPU with native bf16
    assert at.multiselect(key="train_archs").value == ["lstm"] and at.number_input(key="r-lr").value == lstm_lr
    at.multiselect(key="train_archs").set_value(["transformer"]).run()  # its own recipe, not the BiLSTM's left over
    assert (at.number_input(key="r-lr").value, at.number_input(key="r-batch_size").value) == (5e-5, 32)
    at.number_input(key="r-lr").set_value(1e-4).run()
    at.number_input(key="train_limit").set_value(100).run()  # another input: the edit stays
    assert at.number_input(key="r-lr").value == 1e-4


def test_seeds_per_architecture_launch_repeats_that_compare_pools(fresh_manager):
    at = page("train.py").run()
    at.number_input(key="train_repeats").set_value(2)
    at = launch_tiny(at, limit=120)
    assert_rendered(at)
    assert "Launched 2 job" in at.success[0].value
    manager = fresh_manager()
    jobs = manager.jobs("train")
    assert sorted(job.config.config.seed for job in jobs) == [211, 212]
    for job in jobs:
        manager.wait(job.id, timeout=180)
        assert job.status == "completed", job.error

    compare = page("compare.py").run()
    assert_rendered(compare)
    summary = next(df.value for df in compare.dataframe if "seeds" in df.value.columns)
    assert len(summary) == 1 and summary.loc[0, "runs"] == 2 and list(summary.loc[0, "seeds"]) == [211, 212]
    accuracies = [run.metrics["accuracy"] for run in RunStore().list()]
    spread = abs(accuracies[0] - accuracies[1]) / 2 ** 0.5  # the sample std of two values
    assert summary.loc[0, "test_accuracy"] == f"{sum(accuracies) / 2:.2f} ± {spread:.2f}"


def test_train_page_offers_only_devices_this_machine_has_and_names_runs(fresh_manager):
    import torch

    from views import forms

    at = page("train.py").run()
    assert_rendered(at)
    options = at.selectbox(key="train_device").options
    assert options[:2] == ["auto", "cpu"] and (("cuda" in options) == torch.cuda.is_available())
    if not torch.cuda.is_available():  # asked for anyway (e.g. an old bookmark): refused before any job exists
        configs, errors = forms.build_configs(["gru"], {}, {}, {"device": "cuda", "pretrained": None}, {})
        assert not configs and "device" in errors[0] and "cuda" in errors[0]

    at.text_input(key="train_name").set_value("tiny baseline")
    at.text_input(key="train_tags").set_value("quick, smoke")
    at = launch_tiny(at)
    assert_rendered(at)
    assert "Launched 1 job" in at.success[0].value
    manager = fresh_manager()
    [job] = manager.jobs("train")
    assert job.title.startswith("tiny baseline · BiLSTM (lstm) · 1 epochs · limit 200 · seed 211")
    assert manager.wait(job.id, timeout=180).status == "completed", job.error
    run = RunStore().get(job.run_id)
    assert run.label.name == "tiny baseline" and run.label.tags == ["quick", "smoke"]
    assert run.display_name == "tiny baseline"
    cost = run.metrics["cost"]  # every run records what it costs to use
    assert cost["cpu_latency_ms"] > 0 and cost["cpu_sentences_per_s"] > 0
    assert cost["parameters"] >= cost["trainable_parameters"] > 0 and cost["train_seconds"] > 0


# --- failures, invalid settings, cancel --------------------------------------------------------------------------


def test_invalid_setting_names_the_parameter_and_launches_nothing(fresh_manager):
    at = launch_tiny(page("train.py").run(), lr=0.0)
    assert_rendered(at)
    assert any("lr" in error.value for error in at.error)
    assert fresh_manager().jobs() == []


def test_every_bad_value_is_reported_at_once_and_the_limit_says_its_own_rule(fresh_manager):
    at = page("train.py").run()
    at.number_input(key="p-lstm-hidden_size").set_value(10 ** 6)
    at.number_input(key="r-epochs").set_value(100000)
    at.number_input(key="r-lr").set_value(0.0)
    at.number_input(key="train_limit").set_value(-5)
    at.button(key="train_launch").click().run()
    assert_rendered(at)
    errors = " ".join(error.value for error in at.error)
    for name in ("hidden_size", "epochs", "lr:", "limit: -5 must be ≥ 0 (0 = all)"):
        assert name in errors, errors
    assert "limit (examples per split, 0 = all)" in [n.label for n in at.number_input]
    assert fresh_manager().jobs() == []


def test_a_run_trained_by_another_process_shows_on_home_and_train_as_running(fresh_manager):
    import subprocess
    import sys

    script = ("import time; from goemo_core.runs.store import RunStore; "
              "run = RunStore().create({'arch': 'gru'}); print(run.run_id, flush=True); time.sleep(120)")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        run_id = process.stdout.readline().strip()
        home = page("home.py").run()
        assert_rendered(home)
        assert any(m.label == "Running jobs" and m.value == "1" for m in home.metric)
        assert run_id in card_texts(home) and "`running` elsewhere" in card_texts(home)
        train = page("train.py").run()
        assert run_id in card_texts(train)
        assert any(run_id in list(df.value["run_id"]) for df in train.dataframe)  # and in the history
    finally:
        process.kill()
        process.wait()
    home = page("home.py").run()
    assert any(m.label == "Running jobs" and m.value == "0" for m in home.metric)


def test_transformer_without_encoder_is_explained_and_not_launched(fresh_manager):
    at = page("train.py").run()
    at.multiselect(key="train_archs").set_value(["transformer"]).run()
    assert any("pretrained encoder" in info.value for info in at.info)
    at.button(key="train_launch").click().run()
    assert_rendered(at)
    assert any("pretrained" in error.value for error in at.error)
    assert fresh_manager().jobs() == []


def boom(config, context) -> dict:
    """A train handler that fails (module-level: it runs in a worker process)."""
    raise RuntimeError("the handler blew up")


def test_failing_job_shows_its_error_on_its_card_and_the_app_keeps_rendering(fresh_manager):
    manager = fresh_manager()
    manager.handlers["train"] = boom
    at = launch_tiny(page("train.py").run())
    [job] = manager.jobs("train")
    assert manager.wait(job.id, timeout=30).status == "failed"

    at.run()
    assert_rendered(at)
    assert any("RuntimeError: the handler blew up" in error.value for error in at.error)
    assert any(expander.label == "Traceback" for expander in at.expander)
    assert at.button(key="train_launch")  # the form is still there
    for name in ("compare.py", "classify.py"):
        assert_rendered(page(name).run())


def test_missing_data_folder_fails_with_a_message_on_the_card(fresh_manager, monkeypatch, tmp_path):
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "no-such-folder"))
    at = launch_tiny(page("train.py").run())
    [job] = fresh_manager().jobs("train")
    assert fresh_manager().wait(job.id, timeout=60).status == "failed"
    at.run()
    assert_rendered(at)
    assert any("GOEMO_DATA_DIR" in error.value for error in at.error)


def test_cancel_button_stops_a_running_job(fresh_manager):
    at = launch_tiny(page("train.py").run(), epochs=50, patience=50)
    manager = fresh_manager()
    [job] = manager.jobs("train")
    deadline = time.time() + 120
    while not job.history and not job.done and time.time() < deadline:
        time.sleep(0.05)
    assert job.status == "running", job.error

    at.run()
    at.button(key=f"cancel-{job.id}").click().run()
    assert_rendered(at)
    assert manager.wait(job.id, timeout=10).status == "cancelled"
    assert job.history  # what was finished is kept
    at.run()
    assert any("Cancelled" in warning.value for warning in at.warning)
    assert RunStore().get(job.run_id).status == "cancelled"


def stubborn(config, context) -> dict:
    """A train handler whose batch outlasts the cancel (module-level: it runs in a worker process)."""
    while not Path(config.release).exists():
        time.sleep(0.05)
    return {}


def test_cancelling_shows_at_once_and_a_job_cancelled_in_the_queue_says_nothing_ran(fresh_manager, tmp_path):
    from types import SimpleNamespace

    manager = fresh_manager()
    manager.handlers["train"] = stubborn
    release = tmp_path / "release"
    first = manager.submit("train", SimpleNamespace(release=str(release), device="cpu"), title="first")
    second = manager.submit("train", SimpleNamespace(release=str(release), device="cpu"), title="second")
    deadline = time.time() + 60
    while manager.get(first).status != "running" and time.time() < deadline:
        time.sleep(0.05)
    try:
        at = page("train.py").run()
        at.button(key=f"cancel-{second}").click().run()
        at.button(key=f"cancel-{first}").click().run()
        assert_rendered(at)
        assert "`cancelling`" in card_texts(at)  # in the same rerun as the click
        assert any("Cancelled before it started" in w.value for w in at.warning)
        assert not any("what was finished is kept" in w.value for w in at.warning)
    finally:
        release.touch()
    manager.wait(first, 60)
    at.run()
    assert "`cancelling`" not in card_texts(at)


def test_a_queued_study_shows_queued_not_an_error(fresh_manager, tmp_path):
    from types import SimpleNamespace

    manager = fresh_manager()
    manager.handlers["train"] = manager.handlers["tune"] = stubborn
    release = tmp_path / "release"
    manager.submit("train", SimpleNamespace(release=str(release), device="cpu"))
    manager.submit("tune", SimpleNamespace(release=str(release), device="cpu", study="waiting-study"))
    try:
        at = page("tune.py").run()
        assert_rendered(at)
        assert any("`waiting-study` is queued" in info.value for info in at.info)
        assert not at.error
    finally:
        release.touch()


# --- Compare and Classify in more detail, on two trained runs -----------------------------------------------------


def test_compare_two_runs_side_by_side_cell_examples_and_delete(two_runs):
    at = page("compare.py").run()
    assert_rendered(at)
    ids = [run.run_id for run in two_runs]
    charts = {chart.key for chart in at.get("vega_lite_chart")}
    assert {f"cm-{rid}" for rid in ids} <= charts  # both confusion matrices
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    def title(chart: dict) -> str | None:
        text = chart.get("title")
        return text.get("text") if isinstance(text, dict) else text

    titles = {title(spec) for spec in specs} | {title(plot) for spec in specs for plot in spec.get("concat", [])}
    assert {"train loss", "validation loss", "validation macro-F1"} <= titles  # the curves
    assert at.get("download_button")

    run = two_runs[1]
    confusion = run.metrics["confusion"]
    i, j = max(((i, j) for i in range(7) for j in range(7)), key=lambda ij: confusion[ij[0]][ij[1]])
    at.selectbox(key="cell_run").set_value(run.run_id)
    at.selectbox(key="cell_true").set_value(EKMAN_CLASSES[i])
    at.selectbox(key="cell_predicted").set_value(EKMAN_CLASSES[j]).run()
    examples = at.dataframe[-1].value
    assert len(examples) == confusion[i][j] > 0
    assert set(examples["true"]) == {EKMAN_CLASSES[i]} and set(examples["predicted"]) == {EKMAN_CLASSES[j]}

    at.multiselect(key="delete_targets").set_value([run.run_id]).run()
    assert at.button(key="delete_button").disabled  # not without the confirmation
    at.checkbox(key="delete_confirm").check().run()
    at.button(key="delete_button").click().run()
    assert_rendered(at)
    assert [r.run_id for r in RunStore().list()] == [two_runs[0].run_id]
    assert list(at.dataframe[0].value["run_id"]) == [two_runs[0].run_id]


def test_classify_starts_at_the_run_chosen_on_validation_and_describes_every_run(two_runs):
    at = page("classify.py").run()
    assert_rendered(at)
    best = max(two_runs, key=lambda run: run.metrics["validation"]["accuracy"])
    picker = at.multiselect(key="classify_runs-ekman")
    assert picker.value == [best.run_id]  # the best on validation, not the newest, and not picked on test
    for run in two_runs:
        line = picker.format_func(run.run_id)
        assert run.run_id in line and "limit 250" in line and f"{len(run.history)} epochs" in line
        assert f"{run.metrics['accuracy']:.1f} %" in line
    at.text_area(key="classify_text").set_value("What a wonderful surprise!").run()
    [metric] = at.metric
    assert metric.label == best.run_id and metric.delta.endswith("confidence")
    from streamlit.proto.Metric_pb2 import Metric

    assert metric.proto.direction == Metric.MetricDirection.NONE  # a confidence is no increase: no arrow


def test_compare_measures_the_selected_runs_cost_again_and_says_which_measurement_a_point_uses(two_runs):
    at = page("compare.py").run()
    assert at.button(key="cost_remeasure").label == "Measure the CPU cost of these 2 runs again, together"
    at.button(key="cost_remeasure").click().run()
    assert_rendered(at)
    sequences = {RunStore().get(run.run_id).metrics["cost"]["measurement"].get("sequence") for run in two_runs}
    assert len(sequences) == 1 and None not in sequences  # measured together, in one sequence
    [scatter] = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")
                 if "cpu_latency_ms" in chart.proto.spec]
    dots = next(layer for layer in scatter["layer"] if "shape" in layer.get("encoding", {}))
    assert dots["encoding"]["shape"]["field"] == "measurement"  # the legend names each point's measurement

    two_runs[0].set_status("cancelled")  # it kept its test metrics, so it is plotted, but cannot be measured
    at = page("compare.py")
    at.query_params["run"] = [run.run_id for run in two_runs]
    at.run()
    assert at.button(key="cost_remeasure").label == "Measure the CPU cost of these 1 runs again, together"
    assert any(f"{two_runs[0].run_id} (status cancelled)" in caption.value for caption in at.caption)


def test_classify_picker_is_filtered_by_tag(two_runs):
    from goemo_core.results.run_tables import describe_run
    from goemo_core.runs.folder import RunLabel

    lstm, gru = sorted(two_runs, key=lambda run: run.config["arch"], reverse=True)
    lstm.set_label(RunLabel.clean("", ("recurrent", "long")))
    gru.set_label(RunLabel.clean("", ("recurrent",)))
    at = page("classify.py").run()
    assert_rendered(at)
    assert len(at.multiselect(key="classify_runs-ekman").options) == 2
    at.multiselect(key="classify_runs-ekman").set_value([]).run()
    at.multiselect(key="classify-filter-tag").set_value(["long"]).run()
    assert at.multiselect(key="classify_runs-ekman").options == [describe_run(lstm)]


def test_classify_odd_inputs_batch_mode_and_two_models(two_runs):
    at = page("classify.py").run()
    assert_rendered(at)
    chosen = sorted((run.run_id for run in two_runs), reverse=True)  # not alphabetical: columns follow the choice
    at.multiselect(key="classify_runs-ekman").set_value(chosen)
    at.button(key="example-0").click().run()  # an example fills the text box
    assert at.text_area(key="classify_text").value.startswith("This is the best day")
    table = table_with_index(at, list(EKMAN_CLASSES))
    assert list(table.columns) == chosen
    assert table.sum().to_numpy() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert len(at.metric) == 2

    at.text_area(key="classify_text").set_value("   \n ").run()
    assert_rendered(at)
    assert any("empty" in warning.value for warning in at.warning)
    at.text_area(key="classify_text").set_value("so much love " * 200).run()
    assert any("only the first" in info.value for info in at.info)
    for odd in ("😂😂😂🔥🔥", "Je suis tellement content de te voir !", "今日はとても嬉しい"):
        at.text_area(key="classify_text").set_value(odd).run()
        assert_rendered(at)
        assert len(at.metric) == 2  # an answer from each model, whatever the text

    at.text_area(key="batch_lines").set_value("I love it\n\nthis is awful\n").run()
    batch = at.dataframe[-1].value
    assert len(batch) == 4 and set(batch["text"]) == {"I love it", "this is awful"}  # 2 texts × 2 models
    assert batch[list(EKMAN_CLASSES)].sum(axis=1).to_numpy() == pytest.approx([1.0] * 4, abs=1e-6)
    at.text_area(key="batch_lines").set_value("so happy " * 400 + "\nI love it\n").run()
    assert any("carry a note" in info.value for info in at.info)  # e.g. a truncated text, as the CLI says
    at.text_area(key="batch_lines").set_value("😂😂😂🔥🔥\n今日はとても嬉しい\nI love it\n").run()
    [unknown] = [info.value for info in at.info if "carry a note" in info.value and "unknown" in info.value]
    assert unknown.startswith("4 result(s)") and "vocabulary" in unknown  # 2 texts × 2 models
    at.text_area(key="batch_lines").set_value("I love it\n\nthis is awful\n").run()

    at.file_uploader(key="batch_csv").set_value(("bad.csv", b"sentence,score\nhello,1\n", "text/csv")).run()
    assert_rendered(at)
    assert any("no 'text' column" in error.value for error in at.error)
    at.file_uploader(key="batch_csv").set_value(("ok.csv", b"text\nwhat a lovely day\n\"so, so sad\"\n",
                                                 "text/csv")).run()
    assert_rendered(at)
    batch = at.dataframe[-1].value
    assert set(batch["text"]) == {"what a lovely day", "so, so sad"} and batch["predicted"].notna().all()
    assert at.get("download_button")


def test_compare_answers_is_a_better_than_b_and_offers_tables_for_papers(goemo_env, fresh_manager):
    from conftest import two_recipes_that_disagree

    two_recipes_that_disagree(RunStore())
    at = page("compare.py").run()
    assert_rendered(at)
    summary = next(df.value for df in at.dataframe if "chosen" in df.value.columns)
    assert summary["chosen"].sum() == 1
    shown = json.loads(next(df for df in at.dataframe if "chosen" in df.value.columns).proto.columns)
    headers = [shown.get(column, {}).get("label", column) for column in summary.columns]
    assert len(headers) == len(set(headers)) and headers.count("seeds") == 1, headers
    assert headers.index("test acc (%)") < 6  # in view at 1,400 px, before the long settings columns
    significance = next(df.value for df in at.dataframe if "A − B" in df.value.columns)
    assert list(significance["comparison"])[:2] == ["over seeds", "over seeds"]
    assert any("validation" in caption.value for caption in at.caption)
    assert any(text.startswith("Is A better") for text in (h.value for h in at.subheader))


# --- degenerate models -------------------------------------------------------------------------------------------


def test_home_and_compare_flag_a_degenerate_model_and_never_crown_it(fresh_manager):
    from conftest import fake_run, with_predictions

    from goemo_core.data.goemotions import EKMAN_CLASSES

    store = RunStore()
    lazy = with_predictions(fake_run(store, "gru", 211, 37.8, val_accuracy=70.0), ["joy"])  # best on validation
    with_predictions(fake_run(store, "gru", 212, 55.0, val_accuracy=56.0, params={"hidden_size": 64}),
                     list(EKMAN_CLASSES))
    with_predictions(fake_run(store, "lstm", 211, 37.8, val_accuracy=37.75), ["joy", "neutral", "anger"],
                     majority=37.75)  # the only lstm: chosen, and flagged
    home = page("home.py").run()
    assert_rendered(home)
    board = next(df.value for df in home.dataframe if "vs best" in str(df.proto) or "vs_best" in df.value.columns)
    rows = {row.arch: row for row in board.itertuples()}
    assert rows["gru"].warning == "" and rows["gru"].vs_best == "best on validation"
    assert rows["lstm"].warning.startswith("degenerate: no better on validation (37.75 %) than always answering joy")
    assert any("only degenerate models" in warning.value and "lstm" in warning.value for warning in home.warning)

    compare = page("compare.py").run()
    assert_rendered(compare)
    table = next(df.value for df in compare.dataframe if "run_id" in df.value.columns).set_index("run_id")
    assert table.loc[lazy.run_id, "warning"] == "predicts only joy on test"
    summary = next(df.value for df in compare.dataframe if "seeds" in df.value.columns)
    assert sorted(summary["warning"]) == ["", "degenerate: no better on validation (37.75 %) than always answering "
                                              "joy (37.75 %)", "degenerate: predicts only joy on test"]


def test_classify_starts_at_a_model_that_is_not_degenerate_and_warns_about_one(two_runs):
    from conftest import with_predictions

    from goemo_core.data.goemotions import EKMAN_CLASSES

    lazy, other = two_runs
    lazy.write_json("metrics.json", {**lazy.metrics, "validation": {"accuracy": 99.0, "macro_f1": 0.9}})
    with_predictions(lazy, ["joy"])  # the best on validation, but it answers joy to everything
    other.write_json("metrics.json", {**other.metrics, "validation": {"accuracy": 60.0, "macro_f1": 0.5}})
    with_predictions(other, list(EKMAN_CLASSES))  # (tiny runs this small are often degenerate themselves)
    at = page("classify.py").run()
    assert_rendered(at)
    picker = at.multiselect(key="classify_runs-ekman")
    assert picker.value == [other.run_id] and "⚠ predicts only joy on test" in picker.format_func(lazy.run_id)
    picker.set_value([lazy.run_id]).run()
    assert any("degenerate model: predicts only joy on test" in warning.value for warning in at.warning)


def test_home_shows_the_committed_reference_results_beside_the_users_runs(fresh_manager, tmp_path, monkeypatch):
    import goemo_core.results.headline as headline

    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setattr(headline, "RESULTS_DIR", folder)
    assert not any("Reference results" in text.value for text in page("home.py").run().markdown)
    store = RunStore()
    for seed in (211, 212, 213):
        fake_run(store, "gru", seed, 66.0 + (seed - 211) / 10, val_accuracy=67.0)
    assert main(["results", "export", "--task", "ekman", "--out", str(folder / "ekman-cpu.json")]) == 0
    (folder / "damaged.json").write_text("{not json")
    for run in store.list():
        store.delete(run.run_id)  # the reference rows need no run folder here
    at = page("home.py").run()
    assert_rendered(at)
    table = next(frame.value for frame in at.dataframe if "vs best" in frame.value.columns)
    assert list(table["model"])[:2] == ["BiGRU", "the course notebook's best run"]
    assert table.iloc[0]["seeds"] == "3" and table.iloc[0]["test accuracy"] == "66.10 ± 0.10"
    assert any("Reference results" in text.value and "measured on" in text.value for text in at.markdown)
    at.selectbox(key="home_task").set_value("goemotions").run()
    assert not any("Reference results" in text.value for text in at.markdown)  # another task's file


def test_a_run_stopped_part_way_resumes_from_the_train_page_in_its_own_folder(fresh_manager):
    import threading

    from goemo_core.training.checkpoint import CHECKPOINT_FILE
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    cancel = threading.Event()
    config = make_config("gru", {**TINY, "limit": 150, "epochs": 3, "device": "cpu", "pretrained": None})
    stopped = train_run(config, on_epoch=lambda record: cancel.set(), cancel=cancel).run
    assert stopped.status == "cancelled" and (stopped.path / CHECKPOINT_FILE).is_file()

    at = page("train.py").run()
    assert_rendered(at)
    assert any(f"`{stopped.run_id}` · cancelled after 1 of 3 epochs" in m.value for m in at.markdown)
    at.button(key=f"resume_{stopped.run_id}").click().run()
    assert_rendered(at)
    assert f"Resuming {stopped.run_id}" in at.success[0].value
    assert not any(f"`{stopped.run_id}` · cancelled" in m.value for m in at.markdown)  # not offered twice

    manager = fresh_manager()
    [job] = manager.jobs("train")
    manager.wait(job.id, timeout=180)
    assert job.status == "completed", job.error
    assert job.run_id == stopped.run_id and len(RunStore().list()) == 1
    run = RunStore().get(stopped.run_id)
    assert run.status == "completed" and len(run.history) == 3 and not (run.path / CHECKPOINT_FILE).exists()


def test_runs_resume_goes_on_with_a_stopped_run_and_refuses_a_finished_one(capsys):
    import threading

    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    cancel = threading.Event()
    config = make_config("gru", {**TINY, "limit": 150, "epochs": 2, "device": "cpu", "pretrained": None})
    stopped = train_run(config, on_epoch=lambda record: cancel.set(), cancel=cancel).run
    assert main(["runs", "resume", stopped.run_id, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["run_id"] == stopped.run_id and document["status"] == "completed"
    assert len(document["history"]) == 2
    assert main(["runs", "resume", stopped.run_id]) == 2
    assert "is completed with no checkpoint" in capsys.readouterr().err
