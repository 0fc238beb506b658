"""The one place metrics are computed: accuracy (%), macro-F1, per-class P/R/F1/support, confusion counts, and the
shapes the pages draw them in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from ..data.goemotions import EKMAN_CLASSES

if TYPE_CHECKING:
    import pandas as pd


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int],
                           classes: Sequence[str] = EKMAN_CLASSES) -> dict:
    """Metrics of single-label predictions. Accuracy is a percentage (0–100); F1 scores are 0–1.
    `macro_f1_std` is the standard deviation of the per-class F1 scores (how uneven the classes are)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float((y_true == y_pred).mean() * 100) if len(y_true) else 0.0,
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "macro_f1_std": float(np.std(f1)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i])} for i, name in enumerate(classes)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).astype(int).tolist(),
    }


def normalise_rows(confusion: Sequence[Sequence[int]]) -> np.ndarray:
    """Row-normalised confusion matrix (each true class sums to 1; empty rows stay 0)."""
    counts = np.asarray(confusion, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def per_class_table(metrics: dict) -> list[dict]:
    """Rows class/precision/recall/f1/support, then 'macro avg' and 'std' rows, for tables and CSV."""
    rows = [{"class": name, **values} for name, values in metrics["per_class"].items()]
    for label, reduce in (("macro avg", np.mean), ("std", np.std)):
        rows.append({"class": label, **{k: float(reduce([r[k] for r in rows[:len(metrics["per_class"])]]))
                                         for k in ("precision", "recall", "f1")},
                     "support": sum(r["support"] for r in rows[:len(metrics["per_class"])])})
    return rows



MEASURES = ("f1", "precision", "recall")


def confusion_frame(metrics: dict, classes: Sequence[str] = EKMAN_CLASSES) -> pd.DataFrame:
    """Long format of a confusion matrix: true, predicted, count and share (row-normalised), for heatmaps."""
    import pandas as pd

    counts = np.asarray(metrics["confusion"])
    shares = normalise_rows(counts)
    return pd.DataFrame([{"true": t, "predicted": p, "count": int(counts[i, j]), "share": float(shares[i, j])}
                         for i, t in enumerate(classes) for j, p in enumerate(classes)])


def most_confused(metrics: dict, classes: Sequence[str] = EKMAN_CLASSES) -> tuple[str, str]:
    """The (true, predicted) pair of the largest off-diagonal count: the first cell worth reading examples of."""
    counts = np.array(metrics["confusion"], dtype=float)
    np.fill_diagonal(counts, -1)
    i, j = np.unravel_index(int(np.argmax(counts)), counts.shape)
    return classes[int(i)], classes[int(j)]


def multilabel_metrics(y_true: Sequence[Sequence[int]], y_pred: Sequence[Sequence[int]],
                       labels: Sequence[str]) -> dict:
    """Metrics of multi-label predictions (0/1 arrays [examples, labels]). `accuracy` is the exact-match ratio as a
    percentage (every label of the example right), so histories and listings read the same keys for every task;
    `label_confusion` holds each label's true/false positives and negatives."""
    from sklearn.metrics import multilabel_confusion_matrix

    y_true = np.asarray(y_true, dtype=int).reshape(-1, len(labels))
    y_pred = np.asarray(y_pred, dtype=int).reshape(-1, len(labels))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    averaged = {}
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        averaged.update({f"{average}_precision": float(p), f"{average}_recall": float(r), f"{average}_f1": float(f)})
    exact = float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0
    confusion = multilabel_confusion_matrix(y_true, y_pred) if len(y_true) else np.zeros((len(labels), 2, 2))
    return {
        "accuracy": exact * 100,
        "exact_match": exact,
        **averaged,
        "macro_f1_std": float(np.std(f1)),
        "per_class": {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                             "support": int(support[i])} for i, name in enumerate(labels)},
        "label_confusion": {name: {"tp": int(confusion[i][1][1]), "fp": int(confusion[i][0][1]),
                                   "fn": int(confusion[i][1][0]), "tn": int(confusion[i][0][0])}
                            for i, name in enumerate(labels)},
    }
