"""Run folders with stored probabilities and predictions, as training leaves them, without training: probabilities
drawn around the true targets of the examples the run is evaluated on (its limit), written through the run folder's
own writers. For tests of what analysis reads (calibration, errors, disagreements)."""

from __future__ import annotations

import shutil

import numpy as np
import torch
from conftest import PRETRAINED_DIR, fake_run

from goemo_core.data.goemotions import evaluation_fingerprint
from goemo_core.data.tasks import get_task
from goemo_core.evaluation.stored import evaluation_examples
from goemo_core.evaluation.thresholds import decision_rule, task_metrics

SPLITS = ("validation", "test")


def draw_probabilities(targets: np.ndarray, multi_label: bool, num_labels: int, skill: float, scale: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Logits of standard noise plus `skill` on the true classes, times `scale` (above 1: overconfident)."""
    flags = targets if multi_label else np.eye(num_labels)[targets]
    logits = (rng.normal(size=(len(targets), num_labels)) + skill * (flags - (0.5 if multi_label else 0))) * scale
    if multi_label:
        return 1 / (1 + np.exp(-logits))
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def scored_run(store, arch: str = "gru", seed: int = 211, task: str = "ekman", limit: int = 300,
               skill: float = 2.0, scale: float = 1.0, draw: int = 0, with_tokenizer: bool = True, **settings):
    """A completed run of `arch` on the first `limit` examples, whose stored probabilities (and the predictions,
    metrics and test_predictions.csv made from them) come from `draw_probabilities`."""
    task_spec = get_task(task)
    run = fake_run(store, arch, seed, 50.0, 0.5, limit=limit, task=task, **settings)
    config = {**run.config, "classes": list(task_spec.labels), "eval_fingerprint": evaluation_fingerprint(None, limit)}
    run.write_json("config.json", config)
    splits = evaluation_examples(config)
    rng = np.random.default_rng(draw)
    targets = {name: np.asarray(task_spec.targets(splits[name]["labels"])) for name in SPLITS}
    probabilities = {name: draw_probabilities(targets[name], task_spec.multi_label, task_spec.num_labels, skill,
                                              scale, rng).astype(np.float32) for name in SPLITS}
    thresholds = [0.3] * task_spec.num_labels if task_spec.multi_label else None
    run.save_probabilities({name: torch.from_numpy(p) for name, p in probabilities.items()})
    test = splits["test"]
    run.save_test_predictions(list(test["id"]), list(test["text"]), targets["test"], probabilities["test"],
                              task_spec.labels, thresholds)
    metrics = task_metrics(task_spec, targets["test"], probabilities["test"], thresholds)
    validation = task_metrics(task_spec, targets["validation"], probabilities["validation"], thresholds)
    metrics.update({"task": task_spec.name, "decision": decision_rule(task_spec, thresholds, False),
                    "validation": {"accuracy": validation["accuracy"], "macro_f1": validation["macro_f1"]}})
    run.write_json("metrics.json", metrics)
    if with_tokenizer:
        shutil.copy(PRETRAINED_DIR / "tokenizer.json", run.tokenizer_path)
    run.refresh()
    assert run.problem is None, run.problem
    return run, targets, probabilities
