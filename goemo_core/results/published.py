"""The GoEmotions paper's published test results (Demszky et al., ACL 2020: BERT-base, a sigmoid per label, a label
predicted at probability ≥ 0.3, precision/recall/F1 macro-averaged over labels), shown beside this app's runs of the
matching task as reference rows: they were published, not run here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..data.tasks import get_task

if TYPE_CHECKING:
    import pandas as pd

SOURCE = "Demszky et al. (2020), BERT-base"
MARK = "published, not run here"
PUBLISHED: dict[str, dict] = {
    "goemotions": {"macro_precision": 0.40, "macro_recall": 0.63, "macro_f1": 0.46},
    "ekman-multilabel": {"macro_precision": 0.59, "macro_recall": 0.69, "macro_f1": 0.64,
                         "per_class_f1": {"anger": 0.57, "disgust": 0.53, "fear": 0.68, "joy": 0.82, "sadness": 0.59,
                                          "surprise": 0.61, "neutral": 0.66}},
    "sentiment": {"macro_f1": 0.69},
}


def published_rows(task: str) -> list[dict]:
    """The published reference rows of `task` (none for a task the paper did not report): model, source, the macro
    figures it gave and, for Ekman, the per-class F1 in the task's class order."""
    name = get_task(task).name
    if name not in PUBLISHED:
        return []
    figures = PUBLISHED[name]
    row = {"model": SOURCE, "source": MARK, "task": name,
           **{key: figures.get(key) for key in ("macro_precision", "macro_recall", "macro_f1")}}
    per_class = figures.get("per_class_f1") or {}
    row.update({f"f1_{label}": per_class[label] for label in get_task(name).labels if label in per_class})
    return [row]


def published_frame(task: str) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(published_rows(task))


def against_published(task: str, metrics_by_run: dict[str, dict]) -> "pd.DataFrame":
    """Runs of `task` (name → test metrics) in the published rows' columns, with the published rows under them:
    macro precision/recall/F1 (the mean over labels) and each label's F1."""
    import numpy as np
    import pandas as pd

    labels = get_task(task).labels
    rows = []
    for name, metrics in metrics_by_run.items():
        per_class = metrics.get("per_class") or {}
        if not per_class:
            continue
        rows.append({"model": name, "source": "run here", "task": get_task(task).name,
                     **{f"macro_{m}": float(np.mean([per_class[label][m] for label in labels]))
                        for m in ("precision", "recall", "f1")},
                     **{f"f1_{label}": per_class[label]["f1"] for label in labels}})
    return pd.DataFrame(rows + published_rows(task))
