"""What a recipe is: the settings that make runs repeats of one another (`recipe_key`, answered here and only
here), what a run changes from its architecture's defaults, and the task and encoder it belongs to."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import Sequence

from ..errors import InvalidConfig
from ..models import get_architecture, resolve_params
from ..runs.folder import Run
from ..training.config import ABSENT_MEANS, RECIPE_KEYS, TrainConfig, make_config


def readable(runs: Sequence[Run]) -> list[Run]:
    """The runs whose files can be read (a damaged run folder is left out of every table, not fatal to it)."""
    return [run for run in runs if run.problem is None]


# Config entries that differ between repeats of one recipe (or describe where it ran, not what was trained).
RUN_SPECIFIC = {"seed", "device", "device_name", "code_version", "run_id", "created", "precision", "eval_batch_size",
                "recipe"}


# Besides the recipe fields: what a run trained and on which data.
IDENTITY_KEYS = {"arch", "params", "pretrained", "data_source"}


def normalised_config(config: dict) -> dict:
    """A run's config with the settings added since it was trained filled in as they were then (a recipe field at
    the value that means "not used", a hyperparameter at its architecture's default)."""
    filled = dict(config)
    if "val_batches" in filled:  # counted in training batches before it counted examples
        batches = filled.pop("val_batches")
        filled.setdefault("val_examples", batches * int(filled.get("batch_size") or 64) if batches else None)
    for f in fields(TrainConfig):
        if f.name in RECIPE_KEYS and f.name not in filled:
            default = f.default if f.default_factory is MISSING else f.default_factory()
            filled[f.name] = ABSENT_MEANS.get(f.name, default)
    try:
        filled["params"] = {**get_architecture(config.get("arch", "")).defaults, **(config.get("params") or {})}
    except InvalidConfig:  # an architecture no longer registered: keep what was recorded
        pass
    return filled


def recipe_key(config: dict) -> str:
    """Identifies what a run trained, whatever its seed or device: the architecture and its hyperparameters, the
    recipe, the encoder and the data source. Runs with the same key are repeats of one recipe."""
    if config.get("kind") == "ensemble":  # an ensemble is what it averages
        return json.dumps({"kind": "ensemble", "members": sorted(map(str, config.get("members") or []))})
    filled = normalised_config(config)
    kept = {k: filled.get(k) for k in sorted((RECIPE_KEYS | IDENTITY_KEYS) - RUN_SPECIFIC)}
    return json.dumps(kept, sort_keys=True, default=str)


def recipe_changes(config: dict) -> str:
    """What a run's settings change from its architecture's defaults for its task, e.g. 'hidden_size=256, lr=0.001'
    ('' for the default recipe). A task's own recipe (a multi-label task's soft_labels=0 and monitor) is no change,
    and the task itself is shown apart."""
    if config.get("kind") == "ensemble":
        return "members: " + ", ".join(map(str, config.get("members") or []))
    try:
        spec = get_architecture(config.get("arch", ""))
        default = make_config(spec.name, {"pretrained": config.get("pretrained"), "task": task_of(config)}).to_dict()
        default_params = resolve_params(spec, {})
    except InvalidConfig:  # an architecture or task no longer registered: nothing to compare with
        return ""
    config = normalised_config(config)
    shown = sorted(RECIPE_KEYS - RUN_SPECIFIC - {"pretrained", "augment", "limit", "task"})
    params = config.get("params") or {}
    changes = [f"{k}={params[k]}" for k in default_params if k in params and params[k] != default_params[k]]
    changes += [f"{k}={config[k]}" for k in shown if k in config and config[k] != default[k]]
    return ", ".join(changes)


def task_of(config: dict) -> str:
    """The task a run was trained and evaluated on (runs from before tasks existed: the seed's 'ekman')."""
    return str(config.get("task") or "ekman")


def pretrained_name(config: dict) -> str:
    """The encoder a run starts from, by its folder's or hub id's last part; "none" for learnt embeddings, "members"
    for an ensemble (it trains nothing: its members each have their own)."""
    if config.get("kind") == "ensemble":
        return "members"
    pretrained = config.get("pretrained")
    return str(pretrained).rstrip("/").rsplit("/", 1)[-1] if pretrained else "none"


def recipe_groups(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Readable runs grouped by recipe (see recipe_key), every status included."""
    groups: dict[str, list[Run]] = {}
    for run in readable(runs):
        groups.setdefault(recipe_key(run.config), []).append(run)
    return groups
