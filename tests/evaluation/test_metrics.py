"""Metrics against hand-computed values."""

import numpy as np
import pytest

from goemo_core.evaluation.metrics import classification_metrics, normalise_rows, per_class_table


def test_metrics_agree_with_a_hand_computed_confusion_matrix():
    # classes 0..6; true/pred pairs chosen by hand
    y_true = [0, 0, 0, 1, 3, 3, 3, 3, 6, 6]
    y_pred = [0, 0, 3, 1, 3, 3, 0, 3, 6, 3]
    m = classification_metrics(y_true, y_pred)
    confusion = np.zeros((7, 7), int)
    for t, p in zip(y_true, y_pred):
        confusion[t, p] += 1
    assert m["confusion"] == confusion.tolist()
    assert m["accuracy"] == pytest.approx(70.0)
    anger = m["per_class"]["anger"]  # tp 2, fp 1 (a joy predicted anger), fn 1
    assert anger["precision"] == pytest.approx(2 / 3) and anger["recall"] == pytest.approx(2 / 3)
    joy = m["per_class"]["joy"]  # tp 3, fp 2, fn 1
    assert joy["precision"] == pytest.approx(3 / 5) and joy["recall"] == pytest.approx(3 / 4)
    assert joy["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert m["per_class"]["fear"]["support"] == 0 and m["per_class"]["fear"]["f1"] == 0
    f1s = [c["f1"] for c in m["per_class"].values()]
    assert m["macro_f1"] == pytest.approx(np.mean(f1s)) and m["macro_f1_std"] == pytest.approx(np.std(f1s))


def test_row_normalisation():
    rows = normalise_rows([[2, 2], [0, 0]])
    assert rows.tolist() == [[0.5, 0.5], [0.0, 0.0]]


def test_per_class_table_has_macro_and_std_rows():
    table = per_class_table(classification_metrics([0, 1, 2], [0, 1, 1]))
    assert [r["class"] for r in table][-2:] == ["macro avg", "std"]
    assert table[-2]["support"] == 3
