"""What a run stored about its evaluation, ready for analysis: the validation and test probabilities
(probabilities.safetensors), the targets they are scored against (rebuilt from the data the run was evaluated on,
checked against the run's recorded fingerprint), the test texts, ids and raw GoEmotions labels, and the run's
decision thresholds. A run that lacks any of it is a MissingResource naming what is missing, never a crash."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.goemotions import evaluation_fingerprint, limit_split, load_goemotions
from ..data.tasks import Task, get_task
from ..errors import MissingResource
from ..runs.folder import Run
from ..settings import get_settings

SPLITS = ("validation", "test")


@dataclass(frozen=True)
class StoredOutputs:
    """A run's stored probabilities [N, C] per split (float64; a multi-label run's are one sigmoid per label), the
    targets they answer (class ids, or 0/1 flags [N, C] for a multi-label task), and the test examples."""

    task: Task
    probabilities: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    thresholds: list[float] | None
    test_ids: list[str]
    test_texts: list[str]
    test_raw_labels: list[list[int]]


def probabilities_stamp(run: Run) -> str | None:
    """The stored probabilities' modification time and size: what a derived figure was computed from (None when the
    run has none)."""
    try:
        stat = os.stat(run.probabilities_path)
    except OSError:
        return None
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def run_thresholds(run: Run, task: Task) -> list[float] | None:
    """A multi-label run's decision thresholds as metrics.json recorded them (else its config's threshold for every
    label); None for a single-label task (the most probable class)."""
    if not task.multi_label:
        return None
    recorded = ((run.metrics or {}).get("decision") or {}).get("thresholds") or {}
    default = float(run.config.get("threshold") or 0.3)
    return [float(recorded.get(name, default)) for name in task.labels]


def evaluation_examples(config: dict) -> dict:
    """The validation and test splits a run was evaluated on (its limit), after checking that the data on disk is
    what the run recorded (its `eval_fingerprint`): otherwise its stored probabilities belong to other examples."""
    settings = get_settings()
    data = load_goemotions(settings)
    limit = config.get("limit")
    recorded = config.get("eval_fingerprint")
    if recorded is not None and recorded != evaluation_fingerprint(settings, limit):
        raise MissingResource(f"Run {config.get('run_id')} was evaluated on other validation/test data than there is "
                              "now (the data changed since it was trained): its stored probabilities cannot be "
                              "scored. Point GOEMO_DATA_DIR at the data it was trained on, or train it again.")
    return {name: limit_split(data[name], limit) for name in SPLITS}


def stored_outputs(run: Run) -> StoredOutputs:
    """The run's stored evaluation (see StoredOutputs). MissingResource when the run has no stored probabilities,
    when they do not fit its task, or when the data it was evaluated on is gone."""
    if run.problem:
        raise MissingResource(f"Run {run.run_id} cannot be analysed: {run.problem}.")
    task = get_task(run.config.get("task"))
    stored = run.load_probabilities()
    if stored is None or any(name not in stored for name in SPLITS):
        raise MissingResource(f"Run {run.run_id} has no stored probabilities (probabilities.safetensors: status "
                              f"{run.status}; runs store them at the end of training). Train it again to analyse it.")
    splits = evaluation_examples(run.config)
    probabilities, targets = {}, {}
    for name in SPLITS:
        values = stored[name].double().numpy()
        if values.shape != (len(splits[name]), task.num_labels) or not np.isfinite(values).all():
            raise MissingResource(f"Run {run.run_id}: the stored {name} probabilities are not finite "
                                  f"[{len(splits[name])}, {task.num_labels}] rows for its examples; train it again.")
        probabilities[name] = np.clip(values, 0.0, 1.0)
        targets[name] = np.asarray(task.targets(splits[name]["labels"]))
    test = splits["test"]
    return StoredOutputs(task, probabilities, targets, run_thresholds(run, task), list(test["id"]),
                         list(test["text"]), [list(ids) for ids in test["labels"]])


def predicted(outputs: StoredOutputs, probabilities: np.ndarray | None = None) -> np.ndarray:
    """Test predictions: class ids [N], or 0/1 flags [N, C] under the run's thresholds."""
    probabilities = outputs.probabilities["test"] if probabilities is None else probabilities
    if outputs.thresholds is None:
        return probabilities.argmax(-1)
    return (probabilities >= np.asarray(outputs.thresholds)[None, :]).astype(int)


def label_names(task: Task, flags: Sequence[int]) -> str:
    """A multi-label row of 0/1 flags as the comma-separated names of its labels ('' for none)."""
    return ", ".join(name for name, on in zip(task.labels, flags) if on)
