"""A home of six runs as training leaves them (2 architectures × 3 seeds), with predictions drawn at random so that
every file agrees with the others (metrics from the predictions), one run named like a script, and analysis files
(calibration, attacks) in some folders."""

from __future__ import annotations

import json

import numpy as np

from goemo_core.data.goemotions import EKMAN_CLASSES
from goemo_core.evaluation.metrics import classification_metrics
from goemo_core.runs.folder import Run, RunLabel
from goemo_core.runs.store import RunStore

SCRIPT_NAME = "<script>alert(1)</script>"
HOSTILE_TAG = "<b>bold</b>"
HOSTILE_NOTE = "<img src=x onerror=alert(2)> & more"
TEXTS = ["I can't believe they did that again.", "Thank you so much, this made my day!", "Why would anyone do this?",
         "I'm scared of what happens next.", "That's disgusting.", "Oh wow, I did not expect that.", "Okay."]


def predictions(rng: np.random.Generator, skill: float, examples: int = 400) -> tuple[np.ndarray, np.ndarray]:
    truth = rng.integers(0, len(EKMAN_CLASSES), size=examples)
    guess = rng.integers(0, len(EKMAN_CLASSES), size=examples)
    return truth, np.where(rng.random(examples) < skill, truth, guess)


def trained_run(store: RunStore, arch: str, seed: int, skill: float, epochs: int = 3) -> Run:
    """A completed run folder with every file training writes except the weights."""
    from goemo_core.models import get_architecture, resolve_params
    from goemo_core.training.config import make_config

    config = make_config(arch, {"seed": seed}).to_dict()
    config["params"] = resolve_params(get_architecture(arch), config["params"])
    run = store.create({**config, "device": "cpu", "device_name": "CPU", "code_version": "0.1.0+abc1234",
                        "classes": list(EKMAN_CLASSES), "eval_fingerprint": "0123456789abcdef",
                        "train_fingerprint": "fedcba9876543210", "data_source": "local folder /data"})
    fill_run(run, seed, skill, epochs)
    run.write_json("info.json", {"best_epoch": epochs, "parameters": 20_000, "seconds": 6.0, "precision": "fp32"})
    run.set_status("completed")
    return run


def fill_run(run: Run, seed: int, skill: float, epochs: int = 3) -> None:
    """History, test and validation metrics, cost and test predictions of a run that is `skill` good (the share of
    predictions that are right beyond chance), drawn from `seed`."""
    arch = run.config["arch"]
    rng = np.random.default_rng(seed * 7 + len(arch))
    noise = rng.normal(0, 1, size=(epochs, 5)) * [0.03, 0.03, 1.0, 1.0, 0.01]
    run.write_history([{"epoch": e, "train_loss": 1.9 - 0.3 * e * skill + noise[e - 1, 0],
                        "val_loss": 1.8 - 0.2 * e * skill + noise[e - 1, 1],
                        "train_accuracy": 30 + 12 * e * skill + noise[e - 1, 2],
                        "val_accuracy": 28 + 11 * e * skill + noise[e - 1, 3],
                        "val_macro_f1": 0.2 + 0.1 * e * skill + noise[e - 1, 4], "lr": 1e-3, "seconds": 2.0}
                       for e in range(1, epochs + 1)])
    truth, guess = predictions(rng, skill)
    metrics = classification_metrics(truth, guess)
    validation = classification_metrics(*predictions(rng, skill))
    metrics.update(validation={"accuracy": validation["accuracy"], "macro_f1": validation["macro_f1"]},
                   cost={"parameters": 20_000 + 1_000 * len(arch), "trainable_parameters": 20_000,
                         "train_seconds": 6.0, "cpu_latency_ms": 2.0 + len(arch) * 0.5 + seed % 3 * 0.1,
                         "cpu_sentences_per_s": 1500.0 - 100 * len(arch)})
    run.write_json("metrics.json", metrics)
    confidence = rng.uniform(0.35, 0.95, size=len(guess))
    probabilities = np.zeros((len(guess), len(EKMAN_CLASSES)))
    probabilities[:] = ((1 - confidence) / (len(EKMAN_CLASSES) - 1))[:, None]
    probabilities[np.arange(len(guess)), guess] = confidence
    run.save_test_predictions([str(i) for i in range(len(truth))], [TEXTS[i % len(TEXTS)] for i in range(len(truth))],
                              truth, probabilities, EKMAN_CLASSES)


def report_home(store: RunStore) -> dict[str, Run]:
    """gru-1..3 (better), lstm-1..3; lstm-1 is called like a script and carries hostile tags and notes; gru-1 has a
    calibration file and two attack files (one damaged)."""
    runs = {f"{arch}-{i}": trained_run(store, arch, 210 + i, skill)
            for arch, skill in (("gru", 0.6), ("lstm", 0.45)) for i in (1, 2, 3)}
    runs["lstm-1"].set_label(RunLabel.clean(SCRIPT_NAME, [HOSTILE_TAG], HOSTILE_NOTE))
    gru = runs["gru-1"]
    (gru.path / "calibration.json").write_text(json.dumps({
        "ece": 0.081, "brier": 0.52, "nll": 1.31, "after": {"temperature": 1.4, "ece": 0.032},
        "bins": [{"confidence": c, "accuracy": a, "count": 40} for c, a in ((0.2, 0.15), (0.5, 0.42), (0.8, 0.7))]}))
    (gru.path / "attacks").mkdir()
    (gru.path / "attacks" / "pwws.json").write_text(json.dumps({
        "recipe": "pwws", "examples": 50, "accuracy_under_attack": 12.0, "attack_success_rate": 0.78}))
    (gru.path / "attacks" / "deepwordbug.json").write_text("{not json")
    return runs
