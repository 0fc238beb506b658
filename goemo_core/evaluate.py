"""The one place metrics are computed: accuracy (%), macro-F1, per-class P/R/F1/support, confusion counts."""

from __future__ import annotations

import json
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


# --- several seeds of one recipe ------------------------------------------------------------------------------------

# Config entries that differ between repeats of one recipe (or describe where it ran, not what was trained).
RUN_SPECIFIC = {"seed", "device", "device_name", "code_version", "run_id", "created", "precision", "eval_batch_size"}


def normalised_config(config: dict) -> dict:
    """A run's config with the settings added since it was trained filled in as they were then: a recipe field at
    TrainConfig's own default (new options start switched off), a hyperparameter at its architecture's default."""
    from dataclasses import fields

    from .models import get_architecture
    from .train import RECIPE_KEYS, TrainConfig

    filled = dict(config)
    for f in fields(TrainConfig):
        if f.name in RECIPE_KEYS and f.name not in filled:
            filled[f.name] = getattr(TrainConfig(), f.name)
    try:
        filled["params"] = {**get_architecture(config.get("arch", "")).defaults, **(config.get("params") or {})}
    except Exception:  # an architecture no longer registered: keep what was recorded
        pass
    return filled


def recipe_key(config: dict) -> str:
    """Identifies what a run trained, whatever its seed or device: runs with the same key are repeats."""
    kept = {k: v for k, v in normalised_config(config).items() if k not in RUN_SPECIFIC}
    return json.dumps(kept, sort_keys=True, default=str)


def recipe_changes(config: dict) -> str:
    """What a run's settings change from its architecture's defaults, e.g. 'hidden_size=256, lr=0.001'
    ('' for the default recipe)."""
    from .models import get_architecture, resolve_params
    from .train import RECIPE_KEYS, make_config

    try:
        spec = get_architecture(config["arch"])
        default = make_config(config["arch"]).to_dict()
        default_params = resolve_params(spec, {})
    except Exception:  # an architecture no longer registered: nothing to compare with
        return ""
    config = normalised_config(config)
    shown = sorted(RECIPE_KEYS - RUN_SPECIFIC - {"pretrained", "augment", "limit"})
    params = config.get("params") or {}
    changes = [f"{k}={params[k]}" for k in default_params if k in params and params[k] != default_params[k]]
    changes += [f"{k}={config[k]}" for k in shown if k in config and config[k] != default[k]]
    return ", ".join(changes)


def summarise_runs(runs: Sequence[Run]) -> dict:
    """Mean ± population std of test accuracy and macro-F1 over runs (repeats with different seeds), with the
    mean best epoch and seconds per epoch. Runs without test metrics are left out."""
    rows = []
    for run in runs:
        metrics, history = run.metrics, run.history
        if not metrics or "accuracy" not in metrics:
            continue
        rows.append({"run_id": run.run_id, "seed": run.config.get("seed"), "accuracy": metrics["accuracy"],
                     "macro_f1": metrics["macro_f1"], "best_epoch": run.info.get("best_epoch"),
                     "epoch_seconds": float(np.mean([h["seconds"] for h in history])) if history else None})
    if not rows:
        raise ValueError("none of these runs has test metrics")
    rows.sort(key=lambda r: (r["seed"] is None, r["seed"] or 0))

    def mean_std(key: str) -> tuple[float, float]:
        values = [r[key] for r in rows if r[key] is not None]
        return (float(np.mean(values)), float(np.std(values))) if values else (float("nan"), float("nan"))

    first = runs[0]
    (acc, acc_std), (f1, f1_std) = mean_std("accuracy"), mean_std("macro_f1")
    return {"arch": first.config.get("arch"), "n": len(rows), "seeds": [r["seed"] for r in rows],
            "accuracy_mean": acc, "accuracy_std": acc_std, "macro_f1_mean": f1, "macro_f1_std": f1_std,
            "best_epoch_mean": mean_std("best_epoch")[0], "epoch_seconds": mean_std("epoch_seconds")[0],
            "parameters": first.info.get("parameters"),
            "device": ", ".join(sorted({str(r.config.get("device_name") or r.config.get("device")) for r in runs})),
            "runs": [r["run_id"] for r in rows], "per_seed": rows}


def seed_summary(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per recipe among runs with test metrics: repeats of the same settings (different seeds) are pooled
    into mean ± std, so architectures are compared on more than one lucky seed."""
    import pandas as pd

    groups: dict[str, list] = {}
    for run in runs:
        if run.metrics and "accuracy" in run.metrics:
            groups.setdefault(recipe_key(run.config), []).append(run)
    rows = []
    for members in groups.values():
        summary, config = summarise_runs(members), members[0].config
        pretrained = config.get("pretrained")
        rows.append({"arch": summary["arch"], "changes": recipe_changes(config) or "defaults",
                     "pretrained": str(pretrained).rstrip("/").rsplit("/", 1)[-1] if pretrained else "none",
                     "augment": config.get("augment") or "", "limit": config.get("limit"),
                     "runs": summary["n"], "seeds": ", ".join(str(s) for s in summary["seeds"]),
                     "test_accuracy_mean": summary["accuracy_mean"], "test_accuracy_std": summary["accuracy_std"],
                     "test_macro_f1_mean": summary["macro_f1_mean"], "test_macro_f1_std": summary["macro_f1_std"],
                     "best_epoch_mean": summary["best_epoch_mean"], "epoch_seconds": summary["epoch_seconds"],
                     "parameters": summary["parameters"], "device": summary["device"]})
    columns = ["arch", "changes", "pretrained", "augment", "limit", "runs", "seeds", "test_accuracy_mean",
               "test_accuracy_std", "test_macro_f1_mean", "test_macro_f1_std", "best_epoch_mean", "epoch_seconds",
               "parameters", "device"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("test_accuracy_mean", ascending=False, ignore_index=True)


NOTEBOOK_BEST_ACCURACY = 62.43  # the course notebook's best test accuracy, the bar every model should clear


def leaderboard(runs: Sequence[Run]) -> pd.DataFrame:
    """The best recipe of each architecture on the full data (mean over its seeds), best first."""
    summary = seed_summary(runs)
    full = summary[summary["limit"].isna()]
    return full.drop_duplicates("arch", keep="first").reset_index(drop=True)


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
