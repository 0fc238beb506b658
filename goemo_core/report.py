"""Tables over run directories for the pages, the CLI and the benchmarks: the runs table, per-class comparisons,
repeats of one recipe pooled over seeds, the leaderboard, and the examples behind a confusion cell.
"Is this the same recipe" is answered here and only here (`recipe_key`)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .config import ABSENT_MEANS, RECIPE_KEYS, TrainConfig, make_config
from .data import EKMAN_CLASSES
from .errors import InvalidConfig, MissingResource
from .metrics import MEASURES, per_class_table
from .models import get_architecture, resolve_params
from .runs import Run, best_epoch

if TYPE_CHECKING:
    import pandas as pd


def readable(runs: Sequence[Run]) -> list[Run]:
    """The runs whose files can be read (a damaged run folder is left out of every table, not fatal to it)."""
    return [run for run in runs if run.problem is None]


def comparison_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per readable run: architecture, key hyperparameters, status, test metrics, epochs, time, size,
    device."""
    import pandas as pd

    rows = []
    for run in readable(runs):
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

    runs = readable(runs)
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
            filled[f.name] = ABSENT_MEANS.get(f.name, f.default if f.default_factory is MISSING else f.default_factory())
    try:
        filled["params"] = {**get_architecture(config.get("arch", "")).defaults, **(config.get("params") or {})}
    except InvalidConfig:  # an architecture no longer registered: keep what was recorded
        pass
    return filled


def recipe_key(config: dict) -> str:
    """Identifies what a run trained, whatever its seed or device: the architecture and its hyperparameters, the
    recipe, the encoder and the data source. Runs with the same key are repeats of one recipe."""
    filled = normalised_config(config)
    kept = {k: filled.get(k) for k in sorted((RECIPE_KEYS | IDENTITY_KEYS) - RUN_SPECIFIC)}
    return json.dumps(kept, sort_keys=True, default=str)


def recipe_changes(config: dict) -> str:
    """What a run's settings change from its architecture's defaults, e.g. 'hidden_size=256, lr=0.001'
    ('' for the default recipe)."""
    try:
        spec = get_architecture(config.get("arch", ""))
        default = make_config(spec.name, {"pretrained": config.get("pretrained")}).to_dict()
        default_params = resolve_params(spec, {})
    except InvalidConfig:  # an architecture no longer registered: nothing to compare with
        return ""
    config = normalised_config(config)
    shown = sorted(RECIPE_KEYS - RUN_SPECIFIC - {"pretrained", "augment", "limit"})
    params = config.get("params") or {}
    changes = [f"{k}={params[k]}" for k in default_params if k in params and params[k] != default_params[k]]
    changes += [f"{k}={config[k]}" for k in shown if k in config and config[k] != default[k]]
    return ", ".join(changes)


def summarise_runs(runs: Sequence[Run]) -> dict:
    """Mean ± population std of test accuracy and macro-F1 over runs (repeats with different seeds), with the
    mean best epoch and seconds per epoch. Runs without test metrics, and unreadable runs, are left out."""
    runs = readable(runs)
    rows = []
    for run in runs:
        metrics = run.metrics
        if not metrics or "accuracy" not in metrics:
            continue
        seconds = [h["seconds"] for h in run.history if isinstance(h.get("seconds"), (int, float))]
        kept = run.info.get("best_epoch")
        rows.append({"run_id": run.run_id, "seed": run.config.get("seed"), "accuracy": metrics["accuracy"],
                     "macro_f1": metrics.get("macro_f1"),
                     "best_epoch": kept if isinstance(kept, (int, float)) and not isinstance(kept, bool) else None,
                     "epoch_seconds": float(np.mean(seconds)) if seconds else None})
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
    for run in readable(runs):
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


def cell_examples(run: Run, true: str, predicted: str) -> pd.DataFrame:
    """The test examples of one confusion cell (from test_predictions.csv), most confident first."""
    import pandas as pd

    try:
        frame = pd.read_csv(run.predictions_path, dtype={"id": str, "text": str, "true": str, "predicted": str},
                            keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise MissingResource(f"Run {run.run_id} has no readable test_predictions.csv (it ended before the "
                              "test evaluation).") from None
    cell = frame[(frame["true"] == true) & (frame["predicted"] == predicted)]
    return cell.sort_values("confidence", ascending=False)[["text", "true", "predicted", "confidence"]] \
        .reset_index(drop=True)


