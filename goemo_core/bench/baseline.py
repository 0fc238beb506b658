"""The floor every model should beat: TF-IDF word n-grams and logistic regression on the same splits and task."""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..data.goemotions import limit_split, load_goemotions
from ..data.tasks import DEFAULT_THRESHOLD, get_task
from ..evaluation.thresholds import task_metrics


def tfidf_baseline(limit: int | None = None, seed: int = 211, task: str | None = None,
                   threshold: float = DEFAULT_THRESHOLD) -> dict:
    """TF-IDF (word 1–2-grams) + logistic regression on the same splits and `task` (default ekman): a softmax over
    the classes for a single-label task; one logistic regression per label (one-vs-rest) for a multi-label task,
    a label predicted at `threshold` or above, scored like a run of that task (exact-match accuracy, macro-F1)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    spec = get_task(task)
    data = load_goemotions()
    train, test = limit_split(data["train"], limit), limit_split(data["test"], limit)
    train_targets, test_targets = (np.asarray(spec.targets(split["labels"])) for split in (train, test))
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train["text"])
    regression = LogisticRegression(max_iter=2000, C=4.0, random_state=seed)
    with warnings.catch_warnings():  # a label without a positive in a small slice gets a constant predictor
        warnings.simplefilter("ignore", UserWarning)
        model = (OneVsRestClassifier(regression) if spec.multi_label else regression).fit(features, train_targets)
        scores = model.predict_proba(vectorizer.transform(test["text"]))
    probabilities = np.zeros((len(test_targets), spec.num_labels))
    if spec.multi_label:
        probabilities[:] = scores
    else:  # columns of the classes the train slice holds, in the task's order
        probabilities[:, np.asarray(model.classes_, dtype=int)] = scores
    thresholds = [threshold] * spec.num_labels if spec.multi_label else None
    metrics = task_metrics(spec, test_targets, probabilities, thresholds)
    return {"arch": "tfidf-logreg", "task": spec.name, "accuracy_name": spec.accuracy_name,
            "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "seconds": time.perf_counter() - started}
