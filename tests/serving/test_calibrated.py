"""Calibrated predictions of a trained run: its calibration.json written at the end of training (equal to what is
computed later from its stored files), `predict --calibrated` rescaling the probabilities without changing one
predicted label, on the run's whole test split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from goemo_core.cli import main
from goemo_core.evaluation.calibration import CALIBRATION_FILE, apply_temperature, compute_calibration
from goemo_core.evaluation.stored import stored_outputs
from goemo_core.runs.store import RunStore
from goemo_core.serving.calibrated import CalibratedPredictor, calibrated
from goemo_core.serving.predict import load_predictor

pytestmark = pytest.mark.slow
TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16}


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """An artifacts folder with one tiny trained GRU, trained once for this module."""
    from conftest import DATA_DIR

    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    home = tmp_path_factory.mktemp("calibrated") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOEMO_HOME", str(home))
        mp.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        config = make_config("gru", {"limit": 150, "epochs": 1, "device": "cpu", "pretrained": None}, params=TINY)
        assert train_run(config).status == "completed"
    return home


@pytest.fixture
def trained(trained_home, monkeypatch):
    monkeypatch.setenv("GOEMO_HOME", str(trained_home))
    return RunStore().list()[0]


def test_training_leaves_the_calibration_that_the_stored_files_give(trained):
    written = json.loads((trained.path / CALIBRATION_FILE).read_text())
    again = compute_calibration(trained)
    assert written["temperature"] == pytest.approx(again["temperature"], rel=1e-6)
    assert written["test"]["ece"] == pytest.approx(again["test"]["ece"], abs=1e-9)
    assert written["test"]["accuracy"] == pytest.approx(trained.metrics["accuracy"])


def test_predict_calibrated_rescales_probabilities_and_keeps_every_label(trained, capsys):
    texts = ["I am so angry right now", "What a lovely surprise!", "ok"]
    args = ["predict", "--run", trained.run_id, *(part for text in texts for part in ("--text", text)), "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)["predictions"]
    assert main([*args, "--calibrated"]) == 0
    scaled = json.loads(capsys.readouterr().out)["predictions"]
    temperature = json.loads((trained.path / CALIBRATION_FILE).read_text())["temperature"]
    for before, after in zip(plain, scaled):
        assert after["label"] == before["label"] and after["temperature"] == pytest.approx(temperature)
        assert sum(after["probabilities"].values()) == pytest.approx(1.0)
        expected = apply_temperature(np.array([list(before["probabilities"].values())]), temperature, False)[0]
        assert list(after["probabilities"].values()) == pytest.approx(expected.tolist(), abs=1e-6)


def test_calibration_leaves_the_test_accuracy_unchanged(trained):
    outputs = stored_outputs(trained)
    model = calibrated(load_predictor(trained), trained)
    assert isinstance(model, CalibratedPredictor)
    probabilities = model.probabilities(outputs.test_texts).numpy()
    accuracy = float((probabilities.argmax(-1) == outputs.targets["test"]).mean() * 100)
    assert accuracy == pytest.approx(trained.metrics["accuracy"])
    raw = load_predictor(trained).probabilities(outputs.test_texts)
    assert not torch.allclose(raw, torch.from_numpy(probabilities))  # the confidence did change
    assert RunStore().get(trained.run_id).problem is None
