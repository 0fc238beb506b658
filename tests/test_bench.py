"""Benchmarks run end to end on tiny budgets (speed itself is measured by the commands, never by tests)."""

import json

import pytest

from goemo_core.bench import accuracy_table, bench_accuracy
from goemo_core.cli import main


def test_bench_pipeline_reports_both_rates(capsys):
    assert main(["bench", "pipeline", "--batches", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["device"] == "CPU"
    assert result["seed_style_samples_per_s"] > 0 and result["ours_samples_per_s"] > 0 and result["speedup"] > 0
    # what was measured: the requested batches, on the CPU in fp32, at the notebook's batch size
    assert result["batches"] == 2 and result["ours_precision"] == "fp32"
    assert result["seed_style_batch_size"] == result["ours_batch_size"] == 64
    assert result["ours_length_buckets"]  # the recurrent recipe's batches of similar lengths


def test_bench_accuracy_table_with_seeds_and_baseline():
    document = bench_accuracy(["gru"], seeds=2, baseline=True, limit=150, epochs=1)
    (row,) = document["rows"]
    assert row["arch"] == "gru" and len(row["per_seed"]) == 2 and len(set(row["runs"])) == 2
    assert 0 <= row["accuracy_mean"] <= 100 and row["accuracy_std"] >= 0
    assert document["baseline"]["arch"] == "tfidf-logreg"
    table = accuracy_table(document)
    assert "| gru |" in table and "TF-IDF" in table


def test_bench_accuracy_resumes_from_completed_runs_unless_fresh():
    from goemo_core.runs import RunStore

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
    from goemo_core.runs import RunStore

    with pytest.raises(InvalidConfig, match="pretrained"):
        bench_accuracy(["gru", "transformer"], seeds=1, limit=100, epochs=1)
    assert RunStore().list() == []  # nothing was trained
