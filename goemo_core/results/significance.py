"""Is recipe A better than recipe B? Two tests, each suited to what it compares:

- over seeds (is the recipe better, whatever the seed): Welch's t-test on the per-seed test metrics, with the 95 %
  confidence interval of the difference of the means; below MIN_SEEDS seeds a side the comparison is underpowered
  and no p-value is given;
- paired, on the test set (are these two models' predictions different, example by example): each recipe's
  predictions pooled over its seeds (the mean of their probabilities), McNemar's exact test for accuracy and a paired
  bootstrap over the test examples for the confidence intervals and for macro-F1 (its p-value floored at 1/(B + 1):
  B resamples cannot show less);
- many recipes against one best: the p-values of the family are Holm-adjusted (`holm`).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from ..runs.schemas import is_number

MIN_SEEDS = 3
CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 211


def seed_spread(values: Sequence[float]) -> float | None:
    """The sample standard deviation of per-seed figures (what every ± over seeds shows); None below two seeds."""
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def seed_difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """mean(a) − mean(b) with Welch's t-test over the seeds: {"difference", "ci", "p_value", "n", "test",
    "underpowered", "note"}. Only the seeds that have the figure count (a missing value is left out). `ci` and
    `p_value` are None when a side has fewer than MIN_SEEDS seeds, or when the seeds barely vary (a t-test has
    nothing to weigh the difference against, and scipy's answer would be noise)."""
    from scipy import stats

    a, b = (np.asarray([float(v) for v in values if is_number(v)], dtype=float) for values in (a, b))
    result = {"difference": float(a.mean() - b.mean()) if len(a) and len(b) else None, "ci": None,
              "p_value": None, "n": [int(len(a)), int(len(b))], "test": "Welch's t-test over seeds",
              "underpowered": min(len(a), len(b)) < MIN_SEEDS, "note": None}
    if result["underpowered"]:
        result["note"] = f"underpowered: fewer than {MIN_SEEDS} seeds on a side ({len(a)} and {len(b)})"
        return result
    scale = max(1.0, float(np.abs(np.concatenate([a, b])).max()))
    if max(np.ptp(a), np.ptp(b)) <= 1e-9 * scale:
        result["note"] = "no spread on either side: the t-test is undefined"
        return result
    with warnings.catch_warnings(record=True) as caught:  # e.g. precision loss on nearly identical seeds
        warnings.simplefilter("always")
        test = stats.ttest_ind(a, b, equal_var=False)
        interval = test.confidence_interval(confidence)
    if any(issubclass(w.category, RuntimeWarning) for w in caught) or not math.isfinite(float(test.pvalue)):
        result["note"] = "the seeds barely vary: the t-test is undefined"
        return result
    result.update(ci=[float(interval.low), float(interval.high)], p_value=float(test.pvalue))
    return result


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values, for when every recipe is tested against the best one:
    the k-th smallest of m is multiplied by m − k + 1, then made non-decreasing in that order and capped at 1 (what
    statsmodels' multipletests(method="holm") returns, without the garbage collection it forces on every call).
    None (no test) stays None and is not counted in the family."""
    tested = [i for i, p in enumerate(p_values) if p is not None and p == p]
    adjusted: list[float | None] = [None] * len(p_values)
    order = sorted(tested, key=lambda i: p_values[i])
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, float(p_values[i]) * (len(order) - rank)))
        adjusted[i] = running
    return adjusted


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: int) -> float:
    """Macro-F1 over `classes` (a class absent from both counts as 0, as sklearn's zero_division=0)."""
    hits = np.bincount(truth[truth == predicted], minlength=classes)
    true_counts, predicted_counts = np.bincount(truth, minlength=classes), np.bincount(predicted, minlength=classes)
    denominator = true_counts + predicted_counts
    f1 = np.divide(2 * hits, denominator, out=np.zeros(classes), where=denominator > 0)
    return float(f1.mean())


def paired_difference(truth: Sequence[int], predicted_a: Sequence[int], predicted_b: Sequence[int], classes: int,
                      samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                      confidence: float = CONFIDENCE) -> dict:
    """A − B on the same test examples: accuracy (percentage points) with McNemar's exact p-value, macro-F1 with a
    paired-bootstrap p-value, both with bootstrap percentile confidence intervals."""
    from scipy import stats

    truth, a, b = (np.asarray(x, dtype=np.int64) for x in (truth, predicted_a, predicted_b))
    right_a, right_b = a == truth, b == truth
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    mcnemar = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    rng = np.random.default_rng(seed)
    accuracy_diffs, f1_diffs = np.empty(samples), np.empty(samples)
    for i in range(samples):
        pick = rng.integers(0, len(truth), len(truth))
        accuracy_diffs[i] = (right_a[pick].mean() - right_b[pick].mean()) * 100
        f1_diffs[i] = macro_f1(truth[pick], a[pick], classes) - macro_f1(truth[pick], b[pick], classes)
    tail = (1 - confidence) / 2 * 100

    def interval(diffs: np.ndarray) -> list[float]:
        return [float(np.percentile(diffs, tail)), float(np.percentile(diffs, 100 - tail))]

    f1_p = bootstrap_p(f1_diffs)
    return {
        "examples": int(len(truth)),
        "accuracy": {"difference": float((right_a.mean() - right_b.mean()) * 100), "ci": interval(accuracy_diffs),
                     "p_value": float(mcnemar), "test": "McNemar's exact test",
                     "only_a_right": only_a, "only_b_right": only_b},
        "macro_f1": {"difference": macro_f1(truth, a, classes) - macro_f1(truth, b, classes), "ci": interval(f1_diffs),
                     "p_value": f1_p, "test": f"paired bootstrap ({samples} resamples)",
                     "p_floor": 1 / (samples + 1)},
    }


def bootstrap_p(differences: np.ndarray) -> float:
    """The two-sided bootstrap p-value of a difference being 0: the resampled differences on the far side of 0,
    counted on both sides, with the observed sample counted as one more of B + 1, so it is never below 1/(B + 1)
    (B resamples cannot show a smaller p; none on the far side is not p = 0)."""
    samples = len(differences)
    below, above = int((differences <= 0).sum()), int((differences >= 0).sum())
    return min(1.0, (2 * min(below, above) + 1) / (samples + 1))


def format_p(p_value: float | None, named: bool = True) -> str:
    """A p-value as a table shows it: 'p = 0.012', or 'p < 0.001' below what three decimals can say (never
    'p = 0.000'); without `named`, '0.012' and '< 0.001'."""
    if p_value is None or p_value != p_value:
        return "no test" if named else ""
    if p_value < 0.001:
        return "p < 0.001" if named else "< 0.001"
    return f"p = {p_value:.3f}" if named else f"{p_value:.3f}"


def significance_mark(p_value: float | None, underpowered: bool, note: str | None = None,
                      alpha: float = 1 - CONFIDENCE) -> str:
    """How a table says a difference: 'p = 0.012 *', 'n.s. (p = 0.41)', or why there is no test."""
    if underpowered:
        return f"underpowered (< {MIN_SEEDS} seeds)"
    if p_value is None or (isinstance(p_value, float) and math.isnan(p_value)):
        return "no test (seeds barely vary)" if note and "barely" in note else "no test (no spread)"
    return f"{format_p(p_value)} *" if p_value < alpha else f"n.s. (p = {p_value:.2f})"
