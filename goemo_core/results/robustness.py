"""Robustness over runs, for the Compare page: accuracy under each TextAttack recipe pooled over the completed seeds
of each training recipe (mean ± std, n), Welch's t-test over seeds between two training recipes under each attack,
one point per attacked run (clean accuracy on the sample against accuracy under attack), and the adversarial
examples of a run as text segments with the changed words marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..attacks.recipes import RECIPE_NAMES, RECIPES
from ..runs.attack_files import read_attack_examples, run_attacks
from ..runs.folder import Run
from .attack_columns import attacks_on, common_sample, per_seed_under_attack
from .recipes import readable, recipe_changes, recipe_groups, task_of
from .significance import seed_difference, seed_spread, significance_mark
from .summary import mean_std, pooled

if TYPE_CHECKING:
    import pandas as pd


def _clean_accuracy(run: Run, sample: dict | None) -> float | None:
    """The run's accuracy on the attacked sample before any attack (every recipe sees the same predictions)."""
    found = attacks_on(run, sample)
    return next(iter(found.values()))["figures"]["original_accuracy"] if found else None


def robustness_table(runs: Sequence[Run]) -> tuple[pd.DataFrame, dict | None]:
    """One row per training recipe with attacked completed seeds: clean accuracy on the sample and accuracy under
    each attack recipe as 'mean ± std (n)' text, with the numbers and per-seed values beside; and the sample."""
    import pandas as pd

    sample = common_sample(readable(runs))
    rows = []
    for members in recipe_groups(runs).values():
        used = pooled(members)
        clean = [value for run in used if (value := _clean_accuracy(run, sample)) is not None]
        if not clean:
            continue
        config = used[0].config
        row = {"arch": config.get("arch"), "changes": recipe_changes(config) or "defaults", "task": task_of(config),
               "limit": config.get("limit"), "seeds": len(clean),
               "clean": mean_std(float(np.mean(clean)), seed_spread(clean), 2),
               "clean_per_seed": clean}
        for recipe in RECIPE_NAMES:
            values = per_seed_under_attack(used, recipe, sample)
            spread = seed_spread(values)
            row.update({recipe: (mean_std(float(np.mean(values)), spread, 2)
                                 + (f" (n={len(values)})" if len(values) > 1 else "")) if values else "–", f"{recipe}_mean": float(np.mean(values)) if values else None,
                        f"{recipe}_std": spread, f"{recipe}_per_seed": values})
        row["run_ids"] = [run.run_id for run in used]
        rows.append(row)
    return pd.DataFrame(rows), sample


def robustness_difference(row_a: dict, row_b: dict) -> pd.DataFrame:
    """Training recipe A − B under each attack (and clean, on the sample): Welch's t-test over seeds with its 95 %
    interval (results.significance), one row per attack recipe."""
    import pandas as pd

    rows = []
    for key, title in [("clean", "no attack (the sample)"), *((r, RECIPES[r].title) for r in RECIPE_NAMES)]:
        a, b = row_a.get(f"{key}_per_seed") or [], row_b.get(f"{key}_per_seed") or []
        if not a or not b:
            continue
        test = seed_difference(a, b)
        rows.append({"attack": title, "A (%)": float(np.mean(a)), "B (%)": float(np.mean(b)),
                     "A − B (points)": test["difference"],
                     "95 % CI": "–" if test["ci"] is None else f"[{test['ci'][0]:+.2f}, {test['ci'][1]:+.2f}]",
                     "seeds": f"{len(a)} vs {len(b)}", "test": significance_mark(test["p_value"],
                                                                                  test["underpowered"])})
    return pd.DataFrame(rows)


def attack_points(runs: Sequence[Run], names: dict[str, str], sample: dict | None) -> pd.DataFrame:
    """One point per completed run and attack recipe on `sample`: clean accuracy on the sample, accuracy under
    attack, the attack success rate and the run's test accuracy."""
    import pandas as pd

    rows = []
    for run in readable(runs):
        if run.status != "completed":
            continue
        for recipe, document in attacks_on(run, sample).items():
            figures = document["figures"]
            rows.append({"run_id": run.run_id, "run": names.get(run.run_id, run.run_id), "arch": run.config.get("arch"),
                         "recipe": recipe, "clean": figures["original_accuracy"],
                         "under_attack": figures["accuracy_under_attack"],
                         "success_rate": figures["attack_success_rate"],
                         "test_accuracy": (run.metrics or {}).get("accuracy")})
    return pd.DataFrame(rows, columns=["run_id", "run", "arch", "recipe", "clean", "under_attack", "success_rate",
                                       "test_accuracy"])


def attack_problems(runs: Sequence[Run]) -> list[str]:
    """'run: reason' for every attack file of these runs that could not be read."""
    return [f"{run.run_id} {recipe}: {reason}" for run in readable(runs)
            for recipe, reason in run_attacks(run)[1].items()]


def marked_segments(text: str, spans: Sequence[Sequence[int]]) -> list[tuple[str, bool]]:
    """`text` cut at the spans: (segment, changed) pairs in order, for highlighting the changed words."""
    segments, position = [], 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if start < position or end > len(text):
            continue  # an overlapping or out-of-range span: left unmarked rather than cut wrongly
        if start > position:
            segments.append((text[position:start], False))
        segments.append((text[start:end], True))
        position = end
    if position < len(text):
        segments.append((text[position:], False))
    return segments


def adversarial_examples(run: Run, recipe: str, kinds: Sequence[str] = ("successful",)) -> list[dict]:
    """The run's stored attacked examples of `recipe` whose result is one of `kinds`, in the order attacked."""
    return [record for record in read_attack_examples(run, recipe) if record["result"] in kinds]
