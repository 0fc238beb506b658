"""Is a run's confidence worth anything? Calibration figures of stored probabilities and temperature scaling.

- Expected calibration error (ECE): equal-width confidence bins (15 by default), the count-weighted mean of
  |observed frequency − mean confidence| per bin. Bins are [k/M, (k+1)/M) as torchmetrics forms them, the last one
  closed at 1 (torchmetrics counts a confidence of exactly 1.0 in a bin of its own).
  Single-label tasks: top-label ECE (the most probable class's probability against whether it was right) and
  classwise ECE (each class's probability against whether the example is of that class, averaged over classes).
  Multi-label tasks: each label's ECE (its sigmoid against its 0/1 flag) and their mean, the headline `ece`.
- Brier score: single-label, the multi-class formulation, mean over examples of Σ_c (p_c − y_c)², in [0, 2]
  (sklearn's `brier_score_loss` with `labels` and `scale_by_half=False`); multi-label, the binary Brier score
  (p − y)² averaged over examples and labels.
- Negative log-likelihood: −log p(true class) averaged over examples; multi-label, the binary cross-entropy averaged
  over examples and labels.
- Temperature scaling (Guo et al., 2017): one scalar T fitted on the **validation** probabilities by minimising
  their NLL: softmax(log p / T) for a single-label run (log-probabilities are logits up to a constant), sigmoid(logit
  p / T) per label for a multi-label run. Test is only scored before and after; the argmax never changes, and a
  multi-label run's thresholds move through the same map, so its decisions do not change either."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from ..runs.folder import Run

CALIBRATION_FILE = "calibration.json"  # a run file (schema: runs.schemas.RunCalibration)
N_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)  # a fitted T at either end says the probabilities are degenerate
_EPS = 1e-12


def bin_index(confidences: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """The equal-width bin of each confidence in [0, 1]: [k/M, (k+1)/M), the last bin closed at 1."""
    boundaries = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(boundaries, confidences, side="right") - 1, 0, n_bins - 1)


def reliability_bins(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = N_BINS) -> list[dict]:
    """Per bin: its edges, how many predictions fall in it, their mean confidence and how often they were right
    (None for an empty bin). What a reliability diagram draws."""
    confidences, outcomes = np.asarray(confidences, dtype=float), np.asarray(outcomes, dtype=float)
    index = bin_index(confidences, n_bins)
    counts = np.bincount(index, minlength=n_bins)
    confidence_sums = np.bincount(index, weights=confidences, minlength=n_bins)
    outcome_sums = np.bincount(index, weights=outcomes, minlength=n_bins)
    bins = []
    for k in range(n_bins):
        filled = counts[k] > 0
        bins.append({"lower": k / n_bins, "upper": (k + 1) / n_bins, "count": int(counts[k]),
                     "confidence": float(confidence_sums[k] / counts[k]) if filled else None,
                     "accuracy": float(outcome_sums[k] / counts[k]) if filled else None})
    return bins


def calibration_error(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = N_BINS) -> float:
    """ECE (L1): Σ_bins (count / N) · |mean outcome − mean confidence|; 0 for no predictions."""
    bins = reliability_bins(confidences, outcomes, n_bins)
    total = sum(b["count"] for b in bins)
    if not total:
        return 0.0
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


def top_label_ece(probabilities: np.ndarray, targets: np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-label ECE of single-label probabilities [N, C] against class ids [N]."""
    probabilities = np.asarray(probabilities, dtype=float)
    return calibration_error(probabilities.max(-1), probabilities.argmax(-1) == np.asarray(targets), n_bins)


def one_hot(targets: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[np.asarray(targets, dtype=int)]


def per_class_ece(probabilities: np.ndarray, flags: np.ndarray, n_bins: int = N_BINS) -> list[float]:
    """Each column's ECE: its probability against its 0/1 flag (classwise ECE's terms; a multi-label run's labels)."""
    probabilities, flags = np.asarray(probabilities, dtype=float), np.asarray(flags, dtype=float)
    return [calibration_error(probabilities[:, c], flags[:, c], n_bins) for c in range(probabilities.shape[1])]


def brier_score(probabilities: np.ndarray, targets: np.ndarray, multi_label: bool) -> float:
    """Single-label: mean over examples of Σ_c (p_c − y_c)² (0 to 2). Multi-label: mean (p − y)² over examples and
    labels (0 to 1)."""
    probabilities = np.asarray(probabilities, dtype=float)
    flags = np.asarray(targets, dtype=float) if multi_label else one_hot(targets, probabilities.shape[1])
    squared = (probabilities - flags) ** 2
    return float(squared.mean() if multi_label else squared.sum(-1).mean()) if len(squared) else 0.0


def negative_log_likelihood(probabilities: np.ndarray, targets: np.ndarray, multi_label: bool) -> float:
    """Mean −log p(true class); multi-label: mean binary cross-entropy over examples and labels."""
    probabilities = np.asarray(probabilities, dtype=float)
    if not len(probabilities):
        return 0.0
    if multi_label:
        flags = np.asarray(targets, dtype=float)
        p = np.clip(probabilities, _EPS, 1 - _EPS)
        return float(-(flags * np.log(p) + (1 - flags) * np.log1p(-p)).mean())
    chosen = probabilities[np.arange(len(probabilities)), np.asarray(targets, dtype=int)]
    return float(-np.log(np.clip(chosen, _EPS, None)).mean())


# --- temperature scaling ---------------------------------------------------------------------------------------


def logits_of(probabilities: np.ndarray, multi_label: bool) -> np.ndarray:
    """Logits that give back `probabilities`: log p (softmax is blind to the constant it drops), or logit p per
    label."""
    probabilities = np.asarray(probabilities, dtype=float)
    if multi_label:
        p = np.clip(probabilities, 1e-7, 1 - 1e-7)  # float32 sigmoids saturate at 0 and 1
        return np.log(p) - np.log1p(-p)
    return np.log(np.clip(probabilities, _EPS, None))


def scaled(logits: np.ndarray, temperature: float, multi_label: bool) -> np.ndarray:
    """Probabilities of `logits` / T: a sigmoid per label, or a softmax over the classes."""
    z = np.asarray(logits, dtype=float) / temperature
    if multi_label:
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def apply_temperature(probabilities: np.ndarray, temperature: float, multi_label: bool) -> np.ndarray:
    """`probabilities` rescaled by a fitted temperature (T = 1: unchanged; T > 1: less confident)."""
    return scaled(logits_of(probabilities, multi_label), temperature, multi_label)


def scaled_thresholds(thresholds: Sequence[float], temperature: float) -> list[float]:
    """A multi-label run's thresholds moved through the same map as its probabilities, so a label crosses its
    threshold after temperature scaling exactly when it did before."""
    return [float(scaled(logits_of(np.array([t]), True), temperature, True)[0]) for t in thresholds]


def fit_temperature(validation_probabilities: np.ndarray, validation_targets: np.ndarray, multi_label: bool,
                    bounds: tuple[float, float] = TEMPERATURE_RANGE) -> float:
    """The T in `bounds` that minimises the validation NLL of the rescaled probabilities. The NLL is convex in 1/T,
    so a bounded one-dimensional search (Brent's, on log T) finds its minimum; only validation arrays come in."""
    from scipy.optimize import minimize_scalar

    logits = logits_of(validation_probabilities, multi_label)
    if not len(logits):
        return 1.0

    def loss(log_t: float) -> float:
        return negative_log_likelihood(scaled(logits, math.exp(log_t), multi_label), validation_targets, multi_label)

    found = minimize_scalar(loss, bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded",
                            options={"xatol": 1e-5})
    return float(math.exp(found.x))


# --- the figures ------------------------------------------------------------------------------------------------


def calibration_figures(probabilities: np.ndarray, targets: np.ndarray, labels: Sequence[str], multi_label: bool,
                        thresholds: Sequence[float] | None = None, n_bins: int = N_BINS) -> dict:
    """ECE (top-label; multi-label: the mean of the labels'), classwise ECE, Brier, NLL, accuracy (%), per-label ECE
    (multi-label) and the reliability bins: top-label confidence against correctness, or, multi-label, every
    (example, label) probability against its flag."""
    probabilities = np.asarray(probabilities, dtype=float)
    targets = np.asarray(targets)
    flags = targets if multi_label else one_hot(targets, probabilities.shape[1])
    classwise = per_class_ece(probabilities, flags, n_bins)
    figures = {"classwise_ece": float(np.mean(classwise)) if classwise else 0.0,
               "brier": brier_score(probabilities, targets, multi_label),
               "nll": negative_log_likelihood(probabilities, targets, multi_label)}
    if multi_label:
        decided = probabilities >= np.asarray(thresholds if thresholds is not None else [0.3] * len(labels))[None, :]
        figures.update({"ece": figures["classwise_ece"],
                        "per_label_ece": {name: value for name, value in zip(labels, classwise)},
                        "accuracy": float((decided == flags.astype(bool)).all(-1).mean() * 100) if len(flags) else 0.0,
                        "reliability": reliability_bins(probabilities.ravel(), flags.ravel(), n_bins)})
    else:
        correct = probabilities.argmax(-1) == targets
        figures.update({"ece": top_label_ece(probabilities, targets, n_bins),
                        "accuracy": float(correct.mean() * 100) if len(correct) else 0.0,
                        "reliability": reliability_bins(probabilities.max(-1), correct, n_bins)})
    return figures


def calibration_report(validation_probabilities: np.ndarray, validation_targets: np.ndarray,
                       test_probabilities: np.ndarray, test_targets: np.ndarray, labels: Sequence[str],
                       multi_label: bool, thresholds: Sequence[float] | None = None, n_bins: int = N_BINS) -> dict:
    """The temperature fitted on validation, and the test figures before and after it (see calibration_figures).
    The test arrays are read only after the temperature is fixed."""
    temperature = fit_temperature(validation_probabilities, validation_targets, multi_label)
    validation_logits = logits_of(validation_probabilities, multi_label)
    after = apply_temperature(test_probabilities, temperature, multi_label)
    moved = scaled_thresholds(thresholds, temperature) if thresholds is not None else None
    return {
        "bins": n_bins, "multi_label": multi_label, "ece_kind": "mean per-label" if multi_label else "top-label",
        "temperature": temperature, "fitted_on": "validation",
        "validation_nll": negative_log_likelihood(validation_probabilities, validation_targets, multi_label),
        "validation_nll_calibrated": negative_log_likelihood(scaled(validation_logits, temperature, multi_label),
                                                             validation_targets, multi_label),
        "examples": int(len(test_targets)),
        "test": calibration_figures(test_probabilities, test_targets, labels, multi_label, thresholds, n_bins),
        "test_calibrated": calibration_figures(after, test_targets, labels, multi_label, moved, n_bins),
    }


# --- a run's calibration.json -----------------------------------------------------------------------------------


def compute_calibration(run: Run) -> dict:
    """The calibration document of a run from what it stored (see evaluation.stored), stamped with the probabilities
    file it was computed from."""
    from .stored import probabilities_stamp, stored_outputs

    outputs = stored_outputs(run)
    report = calibration_report(outputs.probabilities["validation"], outputs.targets["validation"],
                                outputs.probabilities["test"], outputs.targets["test"], outputs.task.labels,
                                outputs.task.multi_label, outputs.thresholds)
    return {"task": outputs.task.name, **report, "probabilities_stamp": probabilities_stamp(run)}


def stored_calibration(run: Run) -> dict | None:
    """The run's calibration.json when it was computed from the probabilities the run holds now; None when it is
    absent, out of date or does not fit its schema (then `ensure_calibration` computes it again)."""
    from .stored import probabilities_stamp

    document = run.derived_file(CALIBRATION_FILE)
    if not isinstance(document, dict) or document.get("probabilities_stamp") != probabilities_stamp(run):
        return None
    return document


def ensure_calibration(run: Run, recompute: bool = False) -> dict:
    """The run's calibration, computed and written to calibration.json on first request (or when the stored
    probabilities changed). MissingResource when the run has no stored probabilities or data to score them."""
    document = None if recompute else stored_calibration(run)
    if document is None:
        document = compute_calibration(run)
        run.write_json(CALIBRATION_FILE, document)
    return document


def write_calibration(run: Run, outputs_report: dict) -> None:
    """calibration.json from a report computed where the arrays already are (the end of training, an ensemble)."""
    from .stored import probabilities_stamp

    run.write_json(CALIBRATION_FILE, {**outputs_report, "probabilities_stamp": probabilities_stamp(run)})


_ROWS: dict[tuple, dict] = {}  # (calibration.json, its stat, the probabilities' stamp) → calibration_row's answer
_MAX_ROWS = 8192


def calibration_row(run: Run) -> dict:
    """The run's test ECE before and after temperature scaling, and the temperature, from its stored
    calibration.json (None where it has none: see `ensure_calibration`). Remembered per file version, so tables
    of hundreds of runs do not parse every file again on each page rerun."""
    from .stored import probabilities_stamp

    empty = {"test_ece": None, "test_ece_calibrated": None, "temperature": None}
    if getattr(run, "reference", False):  # a run read from a results file carries its calibration.json with it
        return figures_row(run.read_extra(CALIBRATION_FILE)) or empty
    try:
        stat = os.stat(run.path / CALIBRATION_FILE)
    except OSError:
        return empty
    key = (str(run.path), stat.st_mtime_ns, stat.st_size, probabilities_stamp(run))
    row = _ROWS.get(key)  # page sessions share it from their threads: one get, one set
    if row is None:
        row = figures_row(stored_calibration(run)) or empty
        if len(_ROWS) >= _MAX_ROWS:
            _ROWS.clear()
        _ROWS[key] = row
    return dict(row)


def figures_row(document: object) -> dict | None:
    """calibration_row's answer from a calibration document; None when it does not fit the schema."""
    from pydantic import ValidationError

    from ..runs.schemas import RunCalibration

    try:
        RunCalibration.model_validate(document)
    except ValidationError:
        return None
    return {"test_ece": document["test"]["ece"], "test_ece_calibrated": document["test_calibrated"]["ece"],
            "temperature": document["temperature"]}


# --- for the pages ----------------------------------------------------------------------------------------------


def calibration_table(documents: dict[str, dict]) -> pd.DataFrame:
    """One row per run (keyed by its label): temperature, test ECE before and after it, classwise ECE, Brier and
    NLL before and after, accuracy."""
    import pandas as pd

    rows = [{"run": label, "temperature": d["temperature"], "ece": d["test"]["ece"],
             "ece_calibrated": d["test_calibrated"]["ece"], "classwise_ece": d["test"]["classwise_ece"],
             "brier": d["test"]["brier"], "brier_calibrated": d["test_calibrated"]["brier"], "nll": d["test"]["nll"],
             "nll_calibrated": d["test_calibrated"]["nll"], "accuracy": d["test"]["accuracy"],
             "ece_kind": d["ece_kind"]} for label, d in documents.items()]
    return pd.DataFrame(rows, columns=["run", "temperature", "ece", "ece_calibrated", "classwise_ece", "brier",
                                       "brier_calibrated", "nll", "nll_calibrated", "accuracy", "ece_kind"])


def reliability_frame(documents: dict[str, dict], calibrated: bool = False) -> pd.DataFrame:
    """Long format of the runs' reliability bins (before or after temperature scaling): run, bin edges and middle,
    count, share of the run's predictions, mean confidence and observed frequency (empty bins left out)."""
    import pandas as pd

    rows = []
    for label, document in documents.items():
        bins = document["test_calibrated" if calibrated else "test"]["reliability"]
        total = sum(b["count"] for b in bins) or 1
        rows += [{"run": label, "lower": b["lower"], "upper": b["upper"], "middle": (b["lower"] + b["upper"]) / 2,
                  "count": b["count"], "share": b["count"] / total, "confidence": b["confidence"],
                  "accuracy": b["accuracy"]} for b in bins if b["count"]]
    return pd.DataFrame(rows, columns=["run", "lower", "upper", "middle", "count", "share", "confidence",
                                       "accuracy"])
