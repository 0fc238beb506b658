"""An attack's figures with TextAttack's definitions, from its results (TextAttack's own metrics) and again from the
stored records (the same arithmetic), so the examples file can be checked against the figures it stands beside:

- accuracy under attack: examples still classified right after the attack (failed attacks) / all examples, in %;
- attack success rate: successful / (successful + failed) attacks, in % (0 when nothing was attacked);
- skipped: examples already misclassified, not attacked (also as a % of all); original accuracy = 100 − that;
- average perturbed-word percentage: over successful attacks, changed words / words of the original, in %;
- average queries: model queries per attacked (not skipped) example.
TextAttack rounds each to two decimals; none where no example qualifies (no successful attack, say)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

FIGURES = ("accuracy_under_attack", "attack_success_rate", "skipped", "avg_perturbed_word_percent", "avg_queries")


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def figures_from_results(results: Sequence[Any]) -> dict:
    """The figures of TextAttack's AttackResults, computed by textattack.metrics."""
    from textattack.metrics import AttackQueries, AttackSuccessRate, WordsPerturbed

    with warnings.catch_warnings():  # the mean of no value (no successful attack) is NaN: reported as None
        warnings.simplefilter("ignore", RuntimeWarning)
        rates = AttackSuccessRate().calculate(results)
        words = WordsPerturbed().calculate(results)
        queries = AttackQueries().calculate(results)
    total = len(results)
    return {"examples": total, "successful": int(rates["successful_attacks"]), "failed": int(rates["failed_attacks"]),
            "skipped": int(rates["skipped_attacks"]), "original_accuracy": float(rates["original_accuracy"]),
            "accuracy_under_attack": float(rates["attack_accuracy_perc"]),
            "attack_success_rate": float(rates["attack_success_rate"]),
            "skipped_percent": round(rates["skipped_attacks"] * 100.0 / total, 2),
            "avg_perturbed_word_percent": _number(words["avg_word_perturbed_perc"]),
            "avg_queries": _number(queries["avg_num_queries"])}


def figures_from_records(records: Sequence[dict]) -> dict:
    """The same figures from the records of an examples file (see goemo_core.attacks.adapter.describe_result)."""
    import numpy as np

    total = len(records)
    count = {kind: sum(r["result"] == kind for r in records) for kind in ("successful", "failed", "skipped")}
    attacked = count["successful"] + count["failed"]
    percentages = np.array([len(r["changed"]) * 100.0 / r["words"] for r in records
                            if r["result"] == "successful" and r["words"] > 0 and r["changed"]])
    queries = np.array([r["queries"] for r in records if r["result"] != "skipped"])
    return {"examples": total, **count,
            "original_accuracy": round((total - count["skipped"]) * 100.0 / total, 2),
            "accuracy_under_attack": round(count["failed"] * 100.0 / total, 2),
            "attack_success_rate": round(count["successful"] * 100.0 / attacked, 2) if attacked else 0.0,
            "skipped_percent": round(count["skipped"] * 100.0 / total, 2),
            "avg_perturbed_word_percent": _number(round(percentages.mean(), 2)) if len(percentages) else None,
            "avg_queries": _number(round(queries.mean(), 2)) if len(queries) else None}
