"""Ensembles as runs: the mean of member runs' class probabilities, written as a run of kind "ensemble" (members,
validation and test metrics, test predictions, probabilities), listed, compared, predicted with and used as a
teacher like any other run. Members share one task. A multi-label ensemble averages the per-label probabilities and
applies, per label, the mean of its members' own thresholds (tuned or fixed, as each member decides)."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from ..data.goemotions import evaluation_fingerprint, limit_split, load_goemotions
from ..data.tasks import Task, get_task
from ..errors import InvalidConfig, MissingResource
from ..evaluation.calibration import calibration_report, write_calibration
from ..evaluation.thresholds import decision_rule, fixed_threshold, task_metrics, validation_headline
from ..runs.folder import Run, RunLabel
from ..runs.store import RunStore
from ..settings import get_settings
from .predict import load_predictor, run_decision

SPLITS = ("validation", "test")


def check_compatible(runs: Sequence[Run], what: str = "ensemble member", task: str | None = None) -> None:
    """Runs can be combined when each is completed, can predict, and saw the same data (source and limit) and task
    (`task`, when given, or the first run's)."""
    for run in runs:
        if run.problem:
            raise InvalidConfig(f"{what} {run.run_id}: {run.problem}.")
        if run.status != "completed" or not run.metrics:
            raise InvalidConfig(f"{what} {run.run_id} is {run.status}, not completed with test metrics.")
        missing = run.missing_files()
        if missing:
            raise InvalidConfig(f"{what} {run.run_id} cannot predict: {', '.join(missing)} missing.")
    first = runs[0].config
    wanted = get_task(task if task is not None else first.get("task")).name
    for run in runs:
        if get_task(run.config.get("task")).name != wanted:
            raise InvalidConfig(f"{what} {run.run_id} was trained on task {get_task(run.config.get('task')).name}, "
                                f"not {wanted}; runs of different tasks are never combined.")
    for run in runs[1:]:
        for key in ("data_source", "limit"):
            if run.config.get(key) != first.get(key):
                raise InvalidConfig(f"{what} {run.run_id} was trained on other data than {runs[0].run_id} "
                                    f"({key}: {run.config.get(key)!r} vs {first.get(key)!r}).")


def check_evaluated_on(runs: Sequence[Run], fingerprint: str, what: str = "ensemble member") -> None:
    """Each run that recorded the validation and test data it was evaluated on must have seen `fingerprint`
    (today's data at its limit); otherwise its stored probabilities belong to other examples."""
    for run in runs:
        recorded = run.config.get("eval_fingerprint")
        if recorded is not None and recorded != fingerprint:
            raise InvalidConfig(f"{what} {run.run_id} was evaluated on other validation/test data than there is now "
                                "(the data changed since it was trained); train it again on the current data.")


def split_probabilities(run: Run, texts_by_split: dict[str, list[str]]) -> dict[str, torch.Tensor]:
    """A run's stored validation and test probabilities, computed through its predictor when it has none stored
    (runs trained before they were kept)."""
    task = get_task(run.config.get("task"))
    stored = run.load_probabilities() if run.config.get("eval_fingerprint") else None
    if stored is not None and all(fits(stored.get(name), len(texts), task) for name, texts in texts_by_split.items()):
        return {name: stored[name].double() for name in texts_by_split}
    predictor = load_predictor(run)
    computed = {name: predictor.probabilities(texts) for name, texts in texts_by_split.items()}
    if not all(fits(computed[name], len(texts), task) for name, texts in texts_by_split.items()):
        rows = "per-label probabilities" if task.multi_label else "rows summing to 1"
        raise InvalidConfig(f"ensemble member {run.run_id} gives probabilities that are not finite "
                            f"[examples, {task.num_labels}] {rows}; it cannot be combined.")
    return computed


def fits(probabilities: torch.Tensor | None, examples: int, task: Task | None = None) -> bool:
    """Probabilities of the task's shape [examples, labels]: finite, in [0, 1], and for a single-label task rows
    summing to 1."""
    task = task or get_task(None)
    return (isinstance(probabilities, torch.Tensor) and tuple(probabilities.shape) == (examples, task.num_labels)
            and bool(torch.isfinite(probabilities).all()) and bool(((probabilities >= 0) & (probabilities <= 1)).all())
            and (task.multi_label or bool(torch.allclose(probabilities.double().sum(-1),
                                                         torch.ones(examples, dtype=torch.float64), atol=1e-3))))


def evaluation_splits(config: dict) -> tuple[dict[str, list[str]], dict[str, np.ndarray], list[str]]:
    """The validation and test texts and task targets a run was evaluated on (its limit), and the test ids."""
    data, task = load_goemotions(get_settings()), get_task(config.get("task"))
    splits = {name: limit_split(data[name], config.get("limit")) for name in SPLITS}
    return ({name: list(split["text"]) for name, split in splits.items()},
            {name: np.asarray(task.targets(split["labels"])) for name, split in splits.items()},
            list(splits["test"]["id"]))


def make_ensemble(run_ids: Sequence[str], name: str = "", store: RunStore | None = None) -> Run:
    """Average the members' probabilities on the validation and test splits and write the ensemble run."""
    store = store or RunStore()
    run_ids = list(dict.fromkeys(run_ids))
    if len(run_ids) < 2:
        raise InvalidConfig("--runs: an ensemble needs at least two different runs.")
    members = [store.get(run_id) for run_id in run_ids]
    check_compatible(members)
    for member in members:
        if member.is_ensemble:
            store.members(member)  # gone, unreadable or looping members are refused here, not mid-way
    label = RunLabel.clean(name or f"ensemble of {len(members)}")
    texts, labels, test_ids = evaluation_splits(members[0].config)
    fingerprint = evaluation_fingerprint(get_settings(), members[0].config.get("limit"))
    check_evaluated_on(members, fingerprint)
    probabilities = [split_probabilities(member, texts) for member in members]
    mean = {split: torch.stack([p[split] for p in probabilities]).mean(0) for split in SPLITS}
    first = members[0].config
    task = get_task(first.get("task"))
    run = store.create({
        "arch": "ensemble", "kind": "ensemble", "members": run_ids,
        "member_archs": [member.config.get("arch") for member in members],
        "limit": first.get("limit"), "data_source": first.get("data_source"), "classes": list(task.labels),
        "task": task.name, "threshold": float(np.mean([fixed_threshold(member.config) for member in members])),
        "eval_fingerprint": fingerprint,
        "max_length": max(int(member.config.get("max_length") or 0) for member in members) or None,
        "pretrained": None, "seed": None, "device": "cpu",
    })
    try:
        write_ensemble(run, label, run_ids, members, mean, texts, labels, test_ids, member_thresholds(members))
        run.refresh()
        if run.problem:
            raise OSError(f"the run folder does not read back: {run.problem}")
    except (OSError, ValueError) as exc:  # e.g. a full disk: never a completed ensemble with missing files
        with contextlib.suppress(OSError):
            run.set_status("failed")
        raise MissingResource(f"Ensemble {run.run_id} could not be written ({exc}); it is marked failed.") from None
    run.set_status("completed")
    return run


def member_thresholds(members: Sequence[Run]) -> tuple[list[float] | None, bool]:
    """Per label, the mean of the members' own thresholds (each as its metrics.json decided: tuned or fixed), and
    whether any member tuned them on validation; (None, False) for a single-label task."""
    decisions = [run_decision(member) for member in members]
    if decisions[0][1] is None:
        return None, False
    tuned = any(((member.metrics or {}).get("decision") or {}).get("tuned_on") for member in members)
    return [float(t) for t in np.mean([thresholds for _, thresholds in decisions], axis=0)], bool(tuned)


def write_ensemble(run: Run, label: RunLabel, run_ids: list[str], members: list[Run], mean: dict,
                   texts: dict, labels: dict, test_ids: list[str],
                   decided: tuple[list[float] | None, bool] = (None, False)) -> None:
    run.set_label(label)
    task = get_task(run.config.get("task"))
    thresholds, tuned = decided
    if task.multi_label and thresholds is None:
        thresholds = [fixed_threshold(run.config)] * task.num_labels
    validation = validation_headline(task, labels["validation"], mean["validation"].numpy(), thresholds,
                                     fixed_threshold(run.config))
    metrics = task_metrics(task, labels["test"], mean["test"].numpy(), thresholds)
    metrics.update({"split": "test", "task": task.name, "examples": len(labels["test"]), "members": run_ids,
                    "decision": decision_rule(task, thresholds, tuned=tuned), "validation": validation})
    if task.multi_label:
        metrics["decision"]["combined"] = "per label, the mean of the members' thresholds"
    run.save_probabilities({split: mean[split].float() for split in SPLITS})
    run.save_test_predictions(test_ids, texts["test"], labels["test"], mean["test"].numpy(), task.labels, thresholds)
    member_costs = [(member.metrics or {}).get("cost") or {} for member in members]
    metrics["cost"] = ensemble_cost(member_costs)
    run.write_json("metrics.json", metrics)
    run.write_json("info.json", {"members": run_ids, "parameters": metrics["cost"].get("parameters")})
    write_calibration(run, {"task": task.name, **calibration_report(
        mean["validation"].numpy(), labels["validation"], mean["test"].numpy(), labels["test"], task.labels,
        task.multi_label, thresholds)})


def ensemble_cost(member_costs: list[dict]) -> dict:
    """An ensemble costs the sum of its members (each reads every sentence)."""
    def total(key: str) -> float | None:
        values = [cost.get(key) for cost in member_costs]
        return sum(values) if values and all(isinstance(v, (int, float)) for v in values) else None

    rates = [cost.get("cpu_sentences_per_s") for cost in member_costs]
    rate = (1 / sum(1 / r for r in rates)) if rates and all(isinstance(r, (int, float)) and r > 0 for r in rates) \
        else None
    return {"parameters": total("parameters"), "trainable_parameters": total("trainable_parameters"),
            "train_seconds": total("train_seconds"), "cpu_latency_ms": total("cpu_latency_ms"),
            "cpu_sentences_per_s": None if rate is None else round(rate, 1)}
