"""From probabilities to predicted labels, per task: the most probable class for a single-label task; for a
multi-label task every label whose probability reaches its threshold (the paper's 0.3 for all, or per-label thresholds
chosen on the validation split, never on test)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..data.tasks import DEFAULT_THRESHOLD, Task
from ..runs.schemas import is_number
from .metrics import classification_metrics, multilabel_metrics

THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 … 0.95


def probabilities(task: Task, logits: torch.Tensor) -> torch.Tensor:
    """A sigmoid per label for a multi-label task (each in [0, 1]); a softmax over the classes otherwise."""
    return torch.sigmoid(logits) if task.multi_label else torch.softmax(logits, -1)


def predict(probabilities: np.ndarray, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Class ids [N] (argmax) without thresholds; 0/1 flags [N, C] (probability ≥ threshold) with them."""
    probabilities = np.asarray(probabilities)
    if thresholds is None:
        return probabilities.argmax(-1)
    return (probabilities >= np.asarray(thresholds, dtype=probabilities.dtype)[None, :]).astype(int)


def task_metrics(task: Task, targets: np.ndarray, probabilities: np.ndarray,
                 thresholds: Sequence[float] | None = None) -> dict:
    """The task's metrics of `probabilities` against `targets` (class ids, or 0/1 flags for a multi-label task)."""
    if not task.multi_label:
        return classification_metrics(targets, predict(probabilities), task.labels)
    return multilabel_metrics(targets, predict(probabilities, thresholds), task.labels)


def validation_headline(task: Task, targets: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float] | None,
                        fixed: float) -> dict:
    """What metrics.json records of the validation split: accuracy and macro-F1 under the run's decision rule and,
    for a multi-label task, both at the fixed threshold too (`accuracy_fixed`, `macro_f1_fixed`): thresholds tuned
    on this split flatter it, so choosing between runs looks at the fixed-threshold figures."""
    scores = task_metrics(task, targets, probabilities, thresholds)
    headline = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}
    if task.multi_label:
        at_fixed = task_metrics(task, targets, probabilities, [fixed] * task.num_labels)
        headline.update(accuracy_fixed=at_fixed["accuracy"], macro_f1_fixed=at_fixed["macro_f1"])
    return headline


def tune_thresholds(validation_probabilities: np.ndarray, validation_targets: np.ndarray,
                    grid: Sequence[float] = THRESHOLD_GRID, default: float = DEFAULT_THRESHOLD) -> list[float]:
    """Per label, the threshold of `grid` with the best F1 on the validation split (ties: the one nearest
    `default`; a label without a positive keeps `default`). Only validation arrays come in: test stays unseen."""
    probs = np.asarray(validation_probabilities, dtype=float)
    truth = np.asarray(validation_targets, dtype=int)
    chosen = []
    for label in range(probs.shape[1]):
        positives = truth[:, label].sum()
        if positives == 0:
            chosen.append(default)
            continue
        scores = []
        for threshold in grid:
            flagged = probs[:, label] >= threshold
            hits = int((flagged & (truth[:, label] == 1)).sum())
            scores.append((2 * hits / (flagged.sum() + positives), -abs(threshold - default), threshold))
        chosen.append(float(max(scores)[2]))
    return chosen


def fixed_threshold(config: dict) -> float:
    """The fixed threshold a run's config records (runs from before thresholds existed: the paper's default)."""
    value = config.get("threshold")
    return float(value) if is_number(value) and 0 < value < 1 else DEFAULT_THRESHOLD


def decision_rule(task: Task, thresholds: Sequence[float] | None, tuned: bool) -> dict:
    """What a run records about how it turns probabilities into labels."""
    if not task.multi_label:
        return {"rule": "argmax"}
    return {"rule": "threshold", "tuned_on": "validation" if tuned else None,
            "thresholds": {name: float(t) for name, t in zip(task.labels, thresholds)}}
