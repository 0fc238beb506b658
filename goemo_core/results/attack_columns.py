"""Accuracy under attack as columns of the summary over seeds: per TextAttack recipe, the mean ± std of the runs'
accuracy under attack and how many seeds were attacked. Only attacks of one sample pool (the sample most of the
runs' attacks were made on), so every figure of a table counts the same texts."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from ..attacks.recipes import RECIPE_NAMES
from ..runs.attack_files import run_attacks
from ..runs.folder import Run
from .significance import seed_spread

ATTACK_COLUMNS = [f"{recipe}_{part}" for recipe in RECIPE_NAMES for part in ("under_attack_mean",
                                                                            "under_attack_std", "attacked")]


def common_sample(runs: Sequence[Run]) -> dict | None:
    """The sample (split, n, seed, ids digest) most of these runs' attacks were made on (ties: the larger n), or None
    when none was attacked."""
    samples = {}
    counts: Counter = Counter()
    for run in runs:
        for document in run_attacks(run)[0].values():
            key = document["sample"]["ids_sha256"]
            samples[key] = document["sample"]
            counts[key] += 1
    if not counts:
        return None
    best = max(counts, key=lambda key: (counts[key], samples[key]["n"]))
    return samples[best]


def attacks_on(run: Run, sample: dict | None) -> dict[str, dict]:
    """The run's readable attacks made on `sample`, by recipe."""
    if sample is None:
        return {}
    return {recipe: document for recipe, document in run_attacks(run)[0].items()
            if document["sample"]["ids_sha256"] == sample["ids_sha256"]}


def per_seed_under_attack(runs: Sequence[Run], recipe: str, sample: dict | None) -> list[float]:
    """The accuracy under attack of each run attacked by `recipe` on `sample` (runs without one are left out)."""
    return [found[recipe]["figures"]["accuracy_under_attack"] for run in runs
            if recipe in (found := attacks_on(run, sample))]


def attack_columns(runs: Sequence[Run], sample: dict | None) -> dict:
    """The columns of one recipe row (its pooled seeds `runs`): mean and sample std (None below two seeds) of the
    accuracy under attack per TextAttack recipe, and the number of seeds attacked."""
    columns = {}
    for recipe in RECIPE_NAMES:
        values = per_seed_under_attack(runs, recipe, sample)
        columns.update({f"{recipe}_under_attack_mean": float(np.mean(values)) if values else None,
                        f"{recipe}_under_attack_std": seed_spread(values),
                        f"{recipe}_attacked": len(values)})
    return columns
