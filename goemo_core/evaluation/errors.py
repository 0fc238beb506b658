"""Where is a run wrong? From what it stored (test_predictions.csv, probabilities.safetensors):

- the most confident wrong test predictions, filterable by true and predicted class. Single-label: examples whose
  predicted class is not the true one, by the predicted class's probability. Multi-label: each wrong label decision
  (a false positive, by its probability; a false negative, by one minus it);
- slices: accuracy and macro-F1 by text length (the run's own tokens, in buckets), by how many raw GoEmotions labels
  the example had, and, for a single-label task whose target is the primary-label rule, by whether that rule had to
  break a tie (such examples are ambiguous by construction), with each slice's share of the examples and of the
  errors. Macro-F1 in a slice averages the classes that occur there (in truth or prediction)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..data.goemotions import decided_by_tie
from ..data.tasks import Task, get_task
from ..errors import MissingResource
from ..runs.folder import Run
from .stored import evaluation_examples, run_thresholds

if TYPE_CHECKING:
    import pandas as pd

LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20), (21, 30), (31, None))  # tokens; the last: past max_length
ERROR_COLUMNS = ["id", "text", "true", "predicted", "confidence", "p_true"]
MULTI_ERROR_COLUMNS = ["id", "text", "true", "predicted", "label", "error", "probability", "confidence"]
SLICE_COLUMNS = ["slice", "bucket", "examples", "share", "accuracy", "macro_f1", "errors", "error_share"]


def split_names(cell: str) -> list[str]:
    return [name for name in (part.strip() for part in str(cell).split(",")) if name]


def prediction_table(run: Run) -> pd.DataFrame:
    """One row per test example: id, text, true and predicted (names; comma-separated on a multi-label task),
    confidence, correct, and the stored test probabilities in columns `p:<label>` (absent when the run stored none).
    MissingResource when the run has no readable test_predictions.csv, or probabilities of another shape."""
    import pandas as pd

    try:
        frame = pd.read_csv(run.predictions_path, dtype={"id": str, "text": str, "true": str, "predicted": str},
                            keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        raise MissingResource(f"Run {run.run_id} has no readable test_predictions.csv (status {run.status}: it "
                              "ended before its test evaluation); there is nothing to analyse.") from None
    if not {"id", "text", "true", "predicted", "confidence"} <= set(frame.columns):
        raise MissingResource(f"Run {run.run_id}: test_predictions.csv lacks the columns id, text, true, predicted "
                              "and confidence.")
    task = get_task(run.config.get("task"))
    stored = (run.load_probabilities() or {}).get("test")
    if stored is not None:
        if tuple(stored.shape) != (len(frame), task.num_labels):
            raise MissingResource(f"Run {run.run_id}: probabilities.safetensors holds {tuple(stored.shape)} test "
                                  f"probabilities for {len(frame)} predictions of {task.num_labels} labels.")
        probabilities = stored.double().numpy()
        frame = frame.assign(**{f"p:{name}": probabilities[:, i] for i, name in enumerate(task.labels)})
    if task.multi_label:
        correct = [set(split_names(t)) == set(split_names(p)) for t, p in zip(frame["true"], frame["predicted"])]
    else:
        correct = (frame["true"] == frame["predicted"]).tolist()
    return frame.assign(correct=correct)


def confident_errors(run: Run, true: str | None = None, predicted: str | None = None, top: int = 50,
                     table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The most confident wrong test predictions (see the module's docstring), at most `top`, filtered to examples
    of class `true` and predicted as `predicted` (on a multi-label task: carrying those labels)."""
    import pandas as pd

    task = get_task(run.config.get("task"))
    table = prediction_table(run) if table is None else table
    for name in (true, predicted):
        if name is not None and name not in task.labels:
            raise MissingResource(f"'{name}' is not a label of task {task.name} ({', '.join(task.labels)}).")
    if not task.multi_label:
        wrong = table[~table["correct"]]
        if true is not None:
            wrong = wrong[wrong["true"] == true]
        if predicted is not None:
            wrong = wrong[wrong["predicted"] == predicted]
        p_true = [row.get(f"p:{row['true']}", np.nan) for _, row in wrong.iterrows()]
        wrong = wrong.assign(p_true=p_true if len(wrong) else [])
        return wrong.sort_values("confidence", ascending=False, kind="stable").head(top)[ERROR_COLUMNS] \
            .reset_index(drop=True)
    if f"p:{task.labels[0]}" not in table:
        raise MissingResource(f"Run {run.run_id} has no stored test probabilities (probabilities.safetensors): its "
                              "wrong label decisions cannot be ranked.")
    rows = []
    for _, row in table[~table["correct"]].iterrows():
        truth, guess = set(split_names(row["true"])), set(split_names(row["predicted"]))
        if (true is not None and true not in truth) or (predicted is not None and predicted not in guess):
            continue
        for label in sorted(guess ^ truth, key=task.labels.index):
            p = float(row[f"p:{label}"])
            false_positive = label in guess
            rows.append({"id": row["id"], "text": row["text"], "true": row["true"], "predicted": row["predicted"],
                         "label": label, "error": "false positive" if false_positive else "false negative",
                         "probability": p, "confidence": p if false_positive else 1 - p})
    frame = pd.DataFrame(rows, columns=MULTI_ERROR_COLUMNS)
    return frame.sort_values("confidence", ascending=False, kind="stable").head(top).reset_index(drop=True)


# --- slices -------------------------------------------------------------------------------------------------------


def bucket_of(tokens: int) -> str:
    for low, high in LENGTH_BUCKETS:
        if high is None or tokens <= high:
            return f"{low}+ tokens" if high is None else f"{low}-{high} tokens"
    return ""


def run_tokenizer(run: Run):
    """The tokenizer the run reads texts with (an ensemble: its first member's)."""
    from tokenizers import Tokenizer

    from ..runs.store import RunStore

    source = RunStore(run.path.parent).members(run)[0] if run.is_ensemble else run
    try:
        return Tokenizer.from_file(str(source.tokenizer_path))
    except Exception:  # the tokenizers library raises plain Exceptions
        raise MissingResource(f"Run {source.run_id} has no readable tokenizer.json: its texts cannot be measured "
                              "in tokens.") from None


def token_counts(run: Run, texts: Sequence[str]) -> np.ndarray:
    """Untruncated token counts of `texts` with the run's tokenizer, special tokens left out."""
    from ..data.text import without_length_settings

    tokenizer = without_length_settings(run_tokenizer(run))
    encodings = tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=False)
    return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))


def slice_scores(task: Task, truth: np.ndarray, guess: np.ndarray) -> tuple[float, float]:
    """(accuracy %, macro-F1) of one slice; macro-F1 over the classes that occur in it (NaN when empty)."""
    from sklearn.metrics import f1_score

    if not len(truth):
        return float("nan"), float("nan")
    if task.multi_label:
        accuracy = float((truth == guess).all(-1).mean() * 100)
        f1 = f1_score(truth, guess, average="macro", zero_division=np.nan)
    else:
        accuracy = float((truth == guess).mean() * 100)
        f1 = f1_score(truth, guess, labels=list(range(task.num_labels)), average="macro", zero_division=np.nan)
    return accuracy, float(f1)


def error_slices(run: Run, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Accuracy and macro-F1 per slice (see the module's docstring): slice, bucket, examples, share of the examples,
    accuracy (%), macro-F1, errors and share of the errors; the first row is the whole test split."""
    import pandas as pd

    task = get_task(run.config.get("task"))
    table = prediction_table(run) if table is None else table
    test = evaluation_examples(run.config)["test"]
    if list(test["id"]) != list(table["id"]):
        raise MissingResource(f"Run {run.run_id}: the test examples in test_predictions.csv are not those of the "
                              "data it was evaluated on (the data changed since); train it again.")
    raw = [list(ids) for ids in test["labels"]]
    truth, guess = encoded(task, table["true"]), encoded(task, table["predicted"])
    wrong = ~table["correct"].to_numpy()
    groups = {"length": [bucket_of(int(n)) for n in token_counts(run, table["text"])],
              "raw labels": [f"{min(len(ids), 3)}{'+' if len(ids) >= 3 else ''} label{'s' * (len(ids) > 1)}"
                             for ids in raw]}
    if not task.multi_label:
        group_of = task.group_of
        groups["tie rule"] = ["decided by the tie rule" if decided_by_tie(ids, group_of) else "no tie"
                              for ids in raw]
    rows = [slice_row("all", "all", np.ones(len(table), dtype=bool), task, truth, guess, wrong)]
    for kind, buckets in groups.items():
        buckets = np.asarray(buckets)
        for bucket in ordered_buckets(kind, set(buckets)):
            rows.append(slice_row(kind, bucket, buckets == bucket, task, truth, guess, wrong))
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


def ordered_buckets(kind: str, present: set[str]) -> list[str]:
    if kind == "length":
        order = [bucket_of(low) for low, _ in LENGTH_BUCKETS]
    elif kind == "raw labels":
        order = ["1 label", "2 labels", "3+ labels"]
    else:
        order = ["no tie", "decided by the tie rule"]
    return [bucket for bucket in order if bucket in present]


def slice_row(kind: str, bucket: str, mask: np.ndarray, task: Task, truth: np.ndarray, guess: np.ndarray,
              wrong: np.ndarray) -> dict:
    accuracy, f1 = slice_scores(task, truth[mask], guess[mask])
    errors = int(wrong[mask].sum())
    return {"slice": kind, "bucket": bucket, "examples": int(mask.sum()), "share": float(mask.mean()),
            "accuracy": accuracy, "macro_f1": f1, "errors": errors,
            "error_share": float(errors / max(int(wrong.sum()), 1))}


def encoded(task: Task, names: Sequence[str]) -> np.ndarray:
    """Class names as ids [N], or comma-separated label names as 0/1 flags [N, C] on a multi-label task."""
    index = {name: i for i, name in enumerate(task.labels)}
    if not task.multi_label:
        return np.array([index.get(name, -1) for name in names])
    flags = np.zeros((len(names), task.num_labels), dtype=int)
    for row, cell in enumerate(names):
        for name in split_names(cell):
            if name in index:
                flags[row, index[name]] = 1
    return flags


def tie_summary(slices: pd.DataFrame) -> dict | None:
    """How much of the error the examples decided by the tie rule hold: their share of the test examples and of the
    errors, and the accuracy with and without them. None where the task has no tie rule."""
    ties = slices[(slices["slice"] == "tie rule") & (slices["bucket"] == "decided by the tie rule")]
    clear = slices[(slices["slice"] == "tie rule") & (slices["bucket"] == "no tie")]
    if ties.empty:
        return None
    tie, rest = ties.iloc[0], clear.iloc[0] if not clear.empty else None
    return {"examples": int(tie["examples"]), "share_of_examples": float(tie["share"]),
            "errors": int(tie["errors"]), "share_of_errors": float(tie["error_share"]),
            "accuracy_on_ties": float(tie["accuracy"]),
            "accuracy_without_ties": float(rest["accuracy"]) if rest is not None else None}


def error_report(run: Run, true: str | None = None, predicted: str | None = None, top: int = 20) -> dict:
    """The `runs errors` document: confident errors, slices and the tie summary of one run."""
    table = prediction_table(run)
    task = get_task(run.config.get("task"))
    errors = confident_errors(run, true, predicted, top, table)
    slices = error_slices(run, table)
    return {"run_id": run.run_id, "task": task.name, "multi_label": task.multi_label,
            "thresholds": run_thresholds(run, task), "examples": int(len(table)),
            "wrong": int((~table["correct"]).sum()), "filters": {"true": true, "predicted": predicted},
            "confident_errors": records(errors), "slices": records(slices), "tie_rule": tie_summary(slices)}


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts, NaN as None (JSON has no NaN)."""
    return [{key: (None if isinstance(value, float) and value != value else
                   value.item() if isinstance(value, np.generic) else value)
             for key, value in row.items()} for row in frame.to_dict(orient="records")]
