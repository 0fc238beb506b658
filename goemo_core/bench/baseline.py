"""The floor every model should beat: TF-IDF word n-grams and logistic regression on the same splits and task."""

from __future__ import annotations

import time

from ..data.goemotions import limit_split, load_goemotions
from ..evaluation.metrics import classification_metrics


def tfidf_baseline(limit: int | None = None, seed: int = 211) -> dict:
    """TF-IDF (word 1–2-grams) + logistic regression on the same splits: the floor every model should beat."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    data = load_goemotions()
    train, test = limit_split(data["train"], limit), limit_split(data["test"], limit)
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train["text"])
    model = LogisticRegression(max_iter=2000, C=4.0, random_state=seed).fit(features, train["label"])
    metrics = classification_metrics(test["label"], model.predict(vectorizer.transform(test["text"])))
    return {"arch": "tfidf-logreg", "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "seconds": time.perf_counter() - started}
