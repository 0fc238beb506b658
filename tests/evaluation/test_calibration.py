"""Calibration of stored probabilities: ECE equal to torchmetrics', Brier and NLL equal to sklearn's, temperature
fitted on validation alone, calibration.json as a run file (written once, refreshed when the probabilities change,
a damaged one computed again), the summary's ECE pooled over seeds and the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from scored_runs import scored_run
from sklearn.metrics import brier_score_loss, log_loss
from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

from goemo_core.cli import main
from goemo_core.errors import MissingResource
from goemo_core.evaluation.calibration import (CALIBRATION_FILE, apply_temperature, calibration_figures,
                                               compute_calibration, ensure_calibration, fit_temperature,
                                               reliability_bins, scaled_thresholds, stored_calibration)
from goemo_core.runs.schemas import RunCalibration
from goemo_core.runs.store import RunStore


@pytest.fixture
def store():
    return RunStore()


def test_ece_brier_and_nll_equal_torchmetrics_and_sklearn_on_stored_probabilities(store):
    run, targets, _ = scored_run(store, skill=1.5, scale=2.0)
    stored = run.load_probabilities()["test"]  # what the run folder holds (float32)
    truth = targets["test"]
    figures = calibration_figures(stored.numpy(), truth, run.config["classes"], multi_label=False)

    ece = MulticlassCalibrationError(num_classes=7, n_bins=15, norm="l1")(stored, torch.from_numpy(truth))
    assert figures["ece"] == pytest.approx(float(ece), abs=1e-6)
    classwise = [float(BinaryCalibrationError(n_bins=15, norm="l1")(stored[:, c], torch.from_numpy(truth == c)))
                 for c in range(7)]
    assert figures["classwise_ece"] == pytest.approx(np.mean(classwise), abs=1e-6)
    # Brier: sklearn's multi-class formulation, Σ over classes averaged over examples (0 to 2), not halved
    assert figures["brier"] == pytest.approx(
        brier_score_loss(truth, stored.numpy(), labels=list(range(7)), scale_by_half=False), abs=1e-6)
    assert figures["nll"] == pytest.approx(log_loss(truth, stored.numpy(), labels=list(range(7))), abs=1e-5)
    assert figures["accuracy"] == pytest.approx(run.metrics["accuracy"])
    bins = figures["reliability"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == len(truth)
    assert all(b["lower"] <= b["confidence"] <= b["upper"] for b in bins if b["count"])


def test_multi_label_ece_is_per_label_and_brier_the_binary_mean(store):
    run, targets, _ = scored_run(store, task="ekman-multilabel", skill=3.0, scale=1.5)
    stored = run.load_probabilities()["test"]
    flags = targets["test"]
    figures = calibration_figures(stored.numpy(), flags, run.config["classes"], multi_label=True)
    per_label = [float(BinaryCalibrationError(n_bins=15, norm="l1")(stored[:, c], torch.from_numpy(flags[:, c])))
                 for c in range(7)]
    assert list(figures["per_label_ece"].values()) == pytest.approx(per_label, abs=1e-6)
    assert figures["ece"] == pytest.approx(np.mean(per_label), abs=1e-6)
    assert figures["brier"] == pytest.approx(np.mean([brier_score_loss(flags[:, c], stored[:, c].numpy())
                                                      for c in range(7)]), abs=1e-6)
    assert sum(b["count"] for b in figures["reliability"]) == flags.size  # every (example, label) pair
    assert figures["accuracy"] == pytest.approx(run.metrics["accuracy"])


def test_the_last_bin_is_closed_at_one():
    bins = reliability_bins([0.0, 0.5, 1.0, 14 / 15], [0, 1, 1, 1])
    assert [b["count"] for b in bins if b["count"]] == [1, 1, 2] and bins[-1]["confidence"] == pytest.approx(
        (1 + 14 / 15) / 2)


def test_an_overconfident_run_gets_a_temperature_above_one_that_lowers_its_test_ece(store):
    run, _, _ = scored_run(store, skill=1.0, scale=3.0)  # the logits of a calibrated model, times 3
    document = ensure_calibration(run)
    assert document["fitted_on"] == "validation"
    assert 2.2 < document["temperature"] < 3.8
    assert document["test_calibrated"]["ece"] < document["test"]["ece"]
    assert document["test_calibrated"]["nll"] < document["test"]["nll"]
    assert document["validation_nll_calibrated"] <= document["validation_nll"]
    assert document["test_calibrated"]["accuracy"] == document["test"]["accuracy"]  # argmax unchanged


def test_temperature_fitting_never_reads_the_test_split(store):
    run, _, probabilities = scored_run(store, skill=1.0, scale=2.0)
    original = compute_calibration(run)
    fitted = original["temperature"]
    rng = np.random.default_rng(1)
    noise = rng.dirichlet(np.ones(7), size=probabilities["test"].shape[0]).astype(np.float32)
    run.save_probabilities({"validation": torch.from_numpy(probabilities["validation"]),
                            "test": torch.from_numpy(noise)})  # test replaced by noise
    after = compute_calibration(run)
    assert after["temperature"] == fitted  # exactly: nothing of test went into it
    assert after["test"]["ece"] != pytest.approx(original["test"]["ece"])  # the noise was scored, not fitted on
    run.save_probabilities({"validation": torch.from_numpy(noise[:len(probabilities["validation"])]),
                            "test": torch.from_numpy(probabilities["test"])})
    assert compute_calibration(run)["temperature"] != pytest.approx(fitted, rel=1e-3)  # validation alone moves it


def test_temperature_keeps_the_argmax_and_a_multi_label_runs_decisions():
    rng = np.random.default_rng(0)
    single = rng.dirichlet(np.ones(7) * 0.3, size=500)
    for temperature in (0.5, 1.7, 4.0):
        scaled = apply_temperature(single, temperature, False)
        assert np.array_equal(scaled.argmax(-1), single.argmax(-1))
        np.testing.assert_allclose(scaled.sum(-1), 1.0, atol=1e-12)
    multi = rng.uniform(size=(500, 7))
    thresholds = [0.3, 0.5, 0.2, 0.3, 0.7, 0.3, 0.45]
    scaled = apply_temperature(multi, 2.5, True)
    moved = scaled_thresholds(thresholds, 2.5)
    assert np.array_equal(scaled >= np.array(moved), multi >= np.array(thresholds))
    assert fit_temperature(single, single.argmax(-1), False) < 1  # always right: sharpen


def test_calibration_json_is_written_once_refreshed_when_probabilities_change_and_damage_is_recomputed(store):
    run, _, probabilities = scored_run(store)
    path = run.path / CALIBRATION_FILE
    assert stored_calibration(run) is None and not path.exists()
    first = ensure_calibration(run)
    RunCalibration.model_validate(json.loads(path.read_text()))  # its schema, strictly
    stamp = path.stat().st_mtime_ns
    assert ensure_calibration(run) == first and path.stat().st_mtime_ns == stamp  # kept, not recomputed
    run.save_probabilities({name: torch.from_numpy(p ** 2 / (p ** 2).sum(-1, keepdims=True))
                            for name, p in probabilities.items()})
    os.utime(run.probabilities_path, ns=(stamp + 10**9, stamp + 10**9))
    assert stored_calibration(run.refresh()) is None  # out of date
    assert ensure_calibration(run)["temperature"] != first["temperature"]
    path.write_text('{"temperature": "hot"}')
    fresh = store.get(run.run_id)
    assert fresh.problem is None  # a derived file never hides the run
    assert stored_calibration(fresh) is None and ensure_calibration(fresh)["temperature"] > 0


def test_a_run_without_stored_probabilities_is_said_to_have_none(store, capsys):
    from conftest import fake_run

    run = fake_run(store, "gru", 211, 60.0)
    with pytest.raises(MissingResource, match="no stored probabilities"):
        ensure_calibration(run)
    assert main(["runs", "calibrate", run.run_id]) == 3
    assert "no stored probabilities" in capsys.readouterr().err
    assert main(["runs", "calibrate", "--all", "--json"]) == 3  # nothing could be calibrated
    assert json.loads(capsys.readouterr().out) == []


def test_runs_summary_pools_the_ece_over_seeds_and_the_comparison_table_shows_it(store, capsys):
    from goemo_core.results.run_tables import comparison_table

    runs = [scored_run(store, seed=seed, draw=seed, scale=2.0)[0] for seed in (211, 212, 213)]
    assert main(["runs", "summary", "--json"]) == 0  # computes each seed's calibration.json first
    (row,) = json.loads(capsys.readouterr().out)
    eces = [json.loads((run.path / CALIBRATION_FILE).read_text())["test"]["ece"] for run in runs]
    after = [json.loads((run.path / CALIBRATION_FILE).read_text())["test_calibrated"]["ece"] for run in runs]
    assert row["runs"] == 3 and row["test_ece_mean"] == pytest.approx(np.mean(eces))
    assert row["test_ece_std"] == pytest.approx(np.std(eces, ddof=1))
    assert row["test_ece_calibrated_mean"] == pytest.approx(np.mean(after))
    table = comparison_table(store.list())
    assert sorted(table["test_ece"]) == pytest.approx(sorted(eces))
    assert main(["runs", "calibrate", runs[0].run_id, "--json"]) == 0
    (calibrated,) = json.loads(capsys.readouterr().out)
    assert calibrated["test"]["ece"] == pytest.approx(eces[0]) and calibrated["run_id"] == runs[0].run_id


def test_runs_read_from_a_results_file_carry_their_calibration(store, tmp_path):
    from goemo_core.results.reference import export_results, reference_runs, write_results
    from goemo_core.results.summary import seed_summary

    runs = [scored_run(store, seed=seed, draw=seed, limit=None, scale=2.0)[0] for seed in (211, 212)]
    eces = [ensure_calibration(run)["test"]["ece"] for run in runs]
    path = write_results(tmp_path / "ekman-cpu.json", export_results(store.list(), "ekman"))
    (row,) = seed_summary(reference_runs(path)).to_dict(orient="records")
    assert row["test_ece_mean"] == pytest.approx(np.mean(eces)) and row["test_ece_std"] == pytest.approx(np.std(eces, ddof=1))
