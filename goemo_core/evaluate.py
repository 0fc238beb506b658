"""The one place metrics are computed: accuracy (%), macro-F1, per-class P/R/F1/support, confusion counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from .data import EKMAN_CLASSES

if TYPE_CHECKING:
    import pandas as pd

    from .runs import Run


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


# --- tables for the Compare page (pure functions of run directories) ----------------------------------------------

MEASURES = ("f1", "precision", "recall")


def comparison_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: architecture, key hyperparameters, status, test metrics, epochs, time, size, device."""
    import pandas as pd

    from .runs import best_epoch

    rows = []
    for run in runs:
        summary, config = run.summary(), run.config
        params = config.get("params") or {}
        rows.append({
            "run_id": run.run_id,
            "arch": summary["arch"],
            "status": summary["status"],
            "test_accuracy": summary["test_accuracy"],
            "test_macro_f1": summary["test_macro_f1"],
            "epochs": summary["epochs"],
            "best_epoch": best_epoch(run),
            "seconds": summary["seconds"],
            "parameters": summary["parameters"],
            "device": summary["device"],
            "embedding_dim": params.get("embedding_dim"),
            "hidden_size": params.get("hidden_size"),
            "layers": params.get("num_layers", params.get("num_blocks")),
            "lr": config.get("lr"),
            "batch_size": config.get("batch_size"),
            "optimizer": config.get("optimizer"),
            "limit": config.get("limit"),
            "augment": summary["augment"],
            "pretrained": summary["pretrained"],
            "seed": summary["seed"],
            "created": summary["created"],
        })
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["run_id", "arch", "status"])


def per_class_comparison(metrics_by_run: dict[str, dict], measure: str = "f1") -> pd.DataFrame:
    """Rows: runs; columns: the 7 classes, 'macro avg' and 'std' of one measure (precision, recall or f1)."""
    import pandas as pd

    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}")
    table = {label: {row["class"]: row[measure] for row in per_class_table(metrics)}
             for label, metrics in metrics_by_run.items()}
    return pd.DataFrame.from_dict(table, orient="index", columns=[*EKMAN_CLASSES, "macro avg", "std"])


def comparison_export(runs: Sequence[Run]) -> pd.DataFrame:
    """The comparison table with per-class precision/recall/F1 columns (e.g. `f1_joy`), for a CSV download."""
    import pandas as pd

    table = comparison_table(runs)
    extra = []
    for run in runs:
        metrics, row = run.metrics, {}
        if metrics and "per_class" in metrics:
            for entry in per_class_table(metrics):
                name = entry["class"].replace(" ", "_")
                row.update({f"{measure}_{name}": entry[measure] for measure in MEASURES})
        extra.append(row)
    return pd.concat([table, pd.DataFrame(extra, index=table.index)], axis=1)


def confusion_frame(metrics: dict, classes: Sequence[str] = EKMAN_CLASSES) -> pd.DataFrame:
    """Long format of a confusion matrix: true, predicted, count and share (row-normalised), for heatmaps."""
    import pandas as pd

    counts = np.asarray(metrics["confusion"])
    shares = normalise_rows(counts)
    return pd.DataFrame([{"true": t, "predicted": p, "count": int(counts[i, j]), "share": float(shares[i, j])}
                         for i, t in enumerate(classes) for j, p in enumerate(classes)])


def cell_examples(run: Run, true: str, predicted: str) -> pd.DataFrame:
    """The test examples of one confusion cell (from test_predictions.csv), most confident first."""
    import pandas as pd

    from .errors import MissingResource

    try:
        frame = pd.read_csv(run.predictions_path, dtype={"id": str, "text": str, "true": str, "predicted": str},
                            keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise MissingResource(f"Run {run.run_id} has no readable test_predictions.csv (it ended before the "
                              "test evaluation).") from None
    cell = frame[(frame["true"] == true) & (frame["predicted"] == predicted)]
    return cell.sort_values("confidence", ascending=False)[["text", "true", "predicted", "confidence"]] \
        .reset_index(drop=True)


def most_confused(metrics: dict, classes: Sequence[str] = EKMAN_CLASSES) -> tuple[str, str]:
    """The (true, predicted) pair of the largest off-diagonal count: the first cell worth reading examples of."""
    counts = np.array(metrics["confusion"], dtype=float)
    np.fill_diagonal(counts, -1)
    i, j = np.unravel_index(int(np.argmax(counts)), counts.shape)
    return classes[int(i)], classes[int(j)]
