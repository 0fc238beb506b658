"""Benchmarks run end to end on tiny budgets (speed itself is measured by the commands, never by tests)."""

import json

import pytest

from goemo_core.bench.accuracy import accuracy_table, bench_accuracy
from goemo_core.bench.pipeline import BENCH_PARAMS
from goemo_core.cli import main
from goemo_core.training.config import make_config


def test_bench_pipeline_reports_both_rates(capsys):
    assert main(["bench", "pipeline", "--batches", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["device"] == "CPU"
    assert result["seed_style_samples_per_s"] > 0 and result["ours_samples_per_s"] > 0 and result["speedup"] > 0
    # what was measured: the requested batches, the notebook's batch size against the CPU's recipe for a BiLSTM
    # (fp32 and batches of 64, or bf16 and 128 on a CPU with native bf16)
    recipe = make_config("lstm", {**BENCH_PARAMS, "device": "cpu", "pretrained": None})
    assert result["batches"] == 2 and result["seed_style_batch_size"] == 64
    assert (result["ours_recipe"], result["ours_batch_size"]) == (recipe.recipe, recipe.batch_size)
    assert result["ours_precision"] == ("bf16" if recipe.precision == "bf16" else "fp32")
    assert result["ours_length_buckets"]  # the recurrent recipe's batches of similar lengths


def test_bench_accuracy_table_with_seeds_and_baseline():
    document = bench_accuracy(["gru"], seeds=2, baseline=True, limit=150, epochs=1)
    (row,) = document["rows"]
    assert row["arch"] == "gru" and len(row["per_seed"]) == 2 and len(set(row["runs"])) == 2
    assert 0 <= row["accuracy_mean"] <= 100 and row["accuracy_std"] >= 0
    assert document["baseline"]["arch"] == "tfidf-logreg"
    table = accuracy_table(document)
    assert "| gru |" in table and "TF-IDF" in table and "| test accuracy (%) |" in table
    multi_label = accuracy_table({**document, "task": "goemotions", "rows": document["rows"]})
    assert "| test exact-match accuracy (%) |" in multi_label  # all labels right, not the primary one


def test_bench_accuracy_resumes_from_completed_runs_unless_fresh():
    from goemo_core.runs.store import RunStore

    first = bench_accuracy(["gru"], seeds=2, limit=120, epochs=1)["rows"][0]
    messages = []
    again = bench_accuracy(["gru"], seeds=2, limit=120, epochs=1, log=messages.append)["rows"][0]
    assert again["runs"] == first["runs"] and again["accuracy_mean"] == first["accuracy_mean"]
    assert sum("reusing completed run" in m for m in messages) == 2 and len(RunStore().list()) == 2
    other = bench_accuracy(["gru"], seeds=1, limit=120, epochs=2)["rows"][0]  # other settings: trained anew
    fresh = bench_accuracy(["gru"], seeds=1, limit=120, epochs=1, fresh=True)["rows"][0]
    assert not {*other["runs"], *fresh["runs"]} & set(first["runs"]) and len(RunStore().list()) == 4


def test_bench_refuses_bad_arguments(capsys):
    assert main(["bench", "accuracy", "--archs", "cnn"]) == 2
    assert main(["bench", "pipeline", "--batches", "0"]) == 2


def test_bench_accuracy_refuses_the_transformer_without_an_encoder_before_training():
    from goemo_core.errors import InvalidConfig
    from goemo_core.runs.store import RunStore

    with pytest.raises(InvalidConfig, match="pretrained"):
        bench_accuracy(["gru", "transformer"], seeds=1, limit=100, epochs=1)
    assert RunStore().list() == []  # nothing was trained


# --- bench cost ----------------------------------------------------------------------------------------------------


class SteadyPredictor:
    """A predictor whose every call takes about the same time."""

    def predict(self, texts):
        import time

        time.sleep(0.001 + 0.00001 * len(texts))
        return [None] * len(texts)


def test_inference_cost_is_the_median_of_repeats_with_its_spread():
    from goemo_core.serving.cost import inference_cost, measured_with, measurement

    figures = inference_cost(SteadyPredictor(), ["a text"] * 300, budget_s=0.3, repeats=3)
    assert set(figures) == {"sentences_per_s", "sentences_per_s_spread", "latency_ms", "latency_ms_spread"}
    assert figures["latency_ms"] >= 1.0 and 0 <= figures["latency_ms_spread"] < figures["latency_ms"]
    assert figures["sentences_per_s"] > 0 and figures["sentences_per_s_spread"] >= 0
    about = measurement("bench", 5, "seq-1", 3)
    assert about["repeats"] == 5 and len(about["load"]) == 3 and about["sequence"] == "seq-1"
    assert measured_with({"measurement": about}) == "bench cost seq-1 (3 runs together)"
    assert measured_with({"cpu_latency_ms": 3.0}) == "end of training (one timing)"


def test_bench_cost_measures_runs_again_together_and_records_the_measurement(capsys):
    from conftest import fake_run

    from goemo_core.runs.store import RunStore
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    runs = [train_run(make_config(arch, {"limit": 150, "epochs": 1, "device": "cpu", "pretrained": None},
                                  params={"embedding_dim": 16, "hidden_size": 16, "head_units": 16})).run
            for arch in ("lstm", "gru")]
    assert all("measurement" in run.metrics["cost"] for run in runs)  # training records how it measured
    failed = fake_run(RunStore(), "gru", 5, None)
    before = {run.run_id: run.metrics for run in runs}
    assert main(["bench", "cost", "--all", "--repeats", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert sorted(row["run_id"] for row in document["runs"]) == sorted(run.run_id for run in runs)
    assert any(failed.run_id in why for why in document["skipped"])
    for run in runs:
        cost = RunStore().get(run.run_id).metrics["cost"]
        assert cost["measurement"]["sequence"] == document["sequence"] and cost["measurement"]["runs"] == 2
        assert cost["measurement"]["repeats"] == 2 and cost["inference"]["cpu"]["latency_ms_spread"] >= 0
        assert cost["cpu_latency_ms"] == cost["inference"]["cpu"]["latency_ms"] > 0
        rest = {k: v for k, v in RunStore().get(run.run_id).metrics.items() if k != "cost"}
        assert rest == {k: v for k, v in before[run.run_id].items() if k != "cost"}  # the rest is kept
    assert main(["bench", "cost", "--runs", runs[0].run_id, "--repeats", "0"]) == 2
    assert main(["bench", "cost", "--runs", "lstm-20000101-000000-dead"]) == 3
    with pytest.raises(SystemExit) as refused:  # argparse: --runs or --all
        main(["bench", "cost"])
    assert refused.value.code == 2


@pytest.mark.parametrize("task", ["ekman", "sentiment", "sentiment-single"])
def test_the_tfidf_baseline_predicts_the_task_it_is_given(task):
    from goemo_core.bench.baseline import tfidf_baseline
    from goemo_core.data.tasks import get_task

    result = tfidf_baseline(limit=300, task=task)
    assert result["task"] == task and result["accuracy_name"] == get_task(task).accuracy_name
    assert 0 <= result["accuracy"] <= 100 and 0 <= result["macro_f1"] <= 1
    if task == "sentiment":  # one-vs-rest at the threshold: exact match is far below the single-label accuracy
        single = tfidf_baseline(limit=300, task="sentiment-single")
        assert result["accuracy"] < single["accuracy"]


def test_bench_accuracy_applies_settings_to_every_run_and_reuses_them(monkeypatch):
    from goemo_core.bench import accuracy

    first = bench_accuracy(["gru", "lstm"], seeds=1, limit=120, epochs=1, settings={"adversarial": 0.05,
                                                                                   "hidden_size": 16})
    for row in first["rows"]:
        assert len(row["runs"]) == 1
    from goemo_core.runs.store import RunStore

    configs = [run.config for run in RunStore().list()]
    assert all(c["adversarial"] == 0.05 and c["params"]["hidden_size"] == 16 for c in configs)

    def no_training(*args, **kwargs):
        raise AssertionError("a finished grid trains nothing when it is run again")

    monkeypatch.setattr(accuracy, "train_all", lambda configs, *rest: no_training() if configs else [])
    again = bench_accuracy(["gru", "lstm"], seeds=1, limit=120, epochs=1, settings={"adversarial": 0.05,
                                                                                   "hidden_size": 16})
    assert [r["runs"] for r in again["rows"]] == [r["runs"] for r in first["rows"]]


def test_bench_accuracy_refuses_settings_it_sets_itself(capsys):
    assert main(["bench", "accuracy", "--archs", "gru", "--set", "seed=3"]) == 2
    assert "--set seed" in capsys.readouterr().err


def test_bench_speed_times_architectures_side_by_side(capsys):
    assert main(["bench", "speed", "--archs", "gru", "rwkv", "--batches", "3", "--rounds", "2", "--limit", "300",
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {r["arch"]: r for r in document["rows"]}
    assert set(rows) == {"gru", "rwkv"} and rows["gru"]["relative"] == 1.0
    for row in rows.values():
        assert len(row["rates"]) == 2 and row["examples_per_s"] > 0 and row["epoch_seconds"] > 0
    assert main(["bench", "speed", "--archs", "gru", "--rounds", "0"]) == 2


@pytest.mark.parametrize("other_process", ["completes it", "dies"])
def test_a_grid_leaves_a_cell_another_process_is_training_to_it(monkeypatch, other_process):
    """Two workers on one grid: the cell the other is training is waited for, then reused when it completes, or
    trained here when its process dies with nothing to resume."""
    import subprocess
    import sys
    import threading
    import time

    from goemo_core.bench import accuracy
    from goemo_core.runs.processes import process_start_time
    from goemo_core.runs.store import RunStore
    from goemo_core.training.run import train_run

    taken = train_run(make_config("gru", {"seed": 212, "limit": 120, "epochs": 1})).run
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        taken.set_status("running")  # as the other worker's run looks while it trains
        taken.write_json("owner.json", {"pid": other.pid, "host": taken.owner["host"],
                                        "started": process_start_time(other.pid)})
        monkeypatch.setattr(accuracy, "WAIT_SECONDS", 0.05)
        messages, document = [], {}
        worker = threading.Thread(target=lambda: document.update(
            bench_accuracy(["gru"], seeds=2, limit=120, epochs=1, log=messages.append)))
        worker.start()
        deadline = time.time() + 300
        while not any("being trained by another process" in m for m in messages) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # several looks at the cell while it is taken
        assert any(f"gru seed 212: run {taken.run_id} is being trained by another process" in m for m in messages)
        assert len(RunStore().list()) == 2  # seed 211 trained here, nothing started for seed 212
        if other_process == "completes it":
            taken.set_status("completed")
        other.kill()
        other.wait()
        worker.join(300)
    finally:
        other.kill()
    seed_212 = document["rows"][0]["runs"][1]
    assert sum("being trained by another process" in m for m in messages) == 1  # said once, not at every look
    if other_process == "completes it":
        assert seed_212 == taken.run_id and len(RunStore().list()) == 2
    else:
        assert seed_212 != taken.run_id and RunStore().get(seed_212).status == "completed"
        assert len(RunStore().list()) == 3


def test_bench_plan_says_what_a_restart_would_do_and_trains_nothing(capsys):
    import threading

    from goemo_core.runs.store import RunStore
    from goemo_core.training.run import train_run

    done = train_run(make_config("gru", {"seed": 211, "limit": 120, "epochs": 2})).run
    cancel = threading.Event()
    stopped = train_run(make_config("gru", {"seed": 212, "limit": 120, "epochs": 2}),
                        on_epoch=lambda record: cancel.set(), cancel=cancel).run
    assert main(["bench", "accuracy", "--archs", "gru", "--seeds", "3", "--limit", "120", "--epochs", "2", "--plan",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["seed"], r["state"], r["run"], r["epochs_done"]) for r in rows] == [
        (211, "completed", done.run_id, 2), (212, "stopped", stopped.run_id, 1), (213, "new", None, 0)]
    assert main(["bench", "accuracy", "--archs", "gru", "--seeds", "3", "--limit", "120", "--epochs", "2",
                 "--plan"]) == 0
    text = capsys.readouterr().out
    assert "| gru | 212 | stopped part-way: resumed |" in text and "1 done, 1 stopped part-way, 1 to train" in text
    assert main(["bench", "accuracy", "--archs", "gru", "--seeds", "2", "--limit", "120", "--epochs", "2", "--plan",
                 "--fresh", "--json"]) == 0
    assert {r["state"] for r in json.loads(capsys.readouterr().out)["rows"]} == {"new"}
    assert len(RunStore().list()) == 2  # planning trained nothing
    assert main(["bench", "accuracy", "--archs", "gru", "--plan", "--study", "g"]) == 2
