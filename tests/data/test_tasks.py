"""Tasks: targets built from GoEmotions label lists, the multi-label metrics against sklearn, thresholds chosen on
validation only, the seed's task unchanged, and multi-label runs end to end."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from goemo_core.data.goemotions import GOEMOTIONS_LABELS, primary_label
from goemo_core.data.tasks import TASKS, get_task
from goemo_core.errors import InvalidConfig
from goemo_core.evaluation.metrics import multilabel_metrics
from goemo_core.evaluation.thresholds import tune_thresholds
from goemo_core.training import run as train_module
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run

TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16, "limit": 300, "epochs": 1, "pretrained": "none"}


def ids(*names):
    return [GOEMOTIONS_LABELS.index(name) for name in names]


@pytest.mark.parametrize("labels, expected", [
    (("anger", "joy"), {"ekman": 0, "ekman-multilabel": [1, 0, 0, 1, 0, 0, 0], "sentiment": [1, 1, 0, 0],
                        "sentiment-single": 1}),
    (("admiration", "gratitude", "sadness"), {"ekman": 3, "ekman-multilabel": [0, 0, 0, 1, 1, 0, 0],
                                               "sentiment": [1, 1, 0, 0], "sentiment-single": 0}),
    (("curiosity", "surprise"), {"ekman": 5, "ekman-multilabel": [0, 0, 0, 0, 0, 1, 0], "sentiment": [0, 0, 1, 0],
                                 "sentiment-single": 2}),
    (("neutral",), {"ekman": 6, "ekman-multilabel": [0, 0, 0, 0, 0, 0, 1], "sentiment": [0, 0, 0, 1],
                    "sentiment-single": 3}),
    (("fear", "disgust", "remorse"), {"ekman": 1, "ekman-multilabel": [0, 1, 1, 0, 1, 0, 0],
                                      "sentiment": [0, 1, 0, 0], "sentiment-single": 1}),
])
def test_targets_of_hand_written_label_lists(labels, expected):
    label_ids = sorted(ids(*labels))  # GoEmotions lists are in ascending id order
    for name, target in expected.items():
        assert get_task(name).target(label_ids) == target, name
    full = get_task("goemotions").target(label_ids)
    assert len(full) == 28 and [GOEMOTIONS_LABELS[i] for i, on in enumerate(full) if on] == sorted(
        labels, key=GOEMOTIONS_LABELS.index)


def test_every_task_groups_all_28_labels_once():
    for task in TASKS.values():
        grouped = [raw for members in task.groups.values() for raw in members]
        assert sorted(grouped) == sorted(GOEMOTIONS_LABELS), task.name
    assert [get_task(n).num_labels for n in TASKS] == [7, 7, 28, 4, 4]


def test_the_ekman_task_is_the_primary_label_rule():
    task = get_task("ekman")
    for label_ids in ([0, 2], [2, 0], [3, 17, 25], [27], [6, 7, 14]):
        assert task.target(label_ids) == primary_label(label_ids)


def test_an_unknown_task_is_refused_in_one_line():
    with pytest.raises(InvalidConfig, match="task: 'emotions' is not one of ekman, ekman-multilabel"):
        make_config("gru", {"task": "emotions"})


def test_multi_label_tasks_refuse_single_label_tools():
    assert make_config("gru", {"task": "sentiment"}).monitor == "val_macro_f1"
    for key, value in (("balanced_sampler", True), ("soft_labels", 0.5), ("monitor", "val_accuracy")):
        with pytest.raises(InvalidConfig, match=f"^{key}: not for the multi-label task sentiment"):
            make_config("gru", {"task": "sentiment", key: value})
    with pytest.raises(InvalidConfig, match="tune_thresholds: task ekman is single-label"):
        make_config("gru", {"tune_thresholds": True})
    for task in ("sentiment", "sentiment-single", "goemotions"):
        with pytest.raises(InvalidConfig, match=f"^teachers: .* task {task} cannot use it"):
            make_config("gru", {"task": task, "teachers": "gru-x"})
        with pytest.raises(InvalidConfig, match=f"^augment: .* task {task} cannot use them"):
            make_config("gru", {"task": task, "augment": "default"})


def test_multilabel_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    truth = (rng.random((200, 5)) < 0.3).astype(int)
    predicted = (rng.random((200, 5)) < 0.35).astype(int)
    names = ["a", "b", "c", "d", "e"]
    metrics = multilabel_metrics(truth, predicted, names)
    for average in ("macro", "micro"):
        assert metrics[f"{average}_f1"] == pytest.approx(f1_score(truth, predicted, average=average))
        assert metrics[f"{average}_precision"] == pytest.approx(precision_score(truth, predicted, average=average))
        assert metrics[f"{average}_recall"] == pytest.approx(recall_score(truth, predicted, average=average))
    assert metrics["macro_f1"] == pytest.approx(np.mean([metrics["per_class"][n]["f1"] for n in names]))
    assert [metrics["per_class"][n]["support"] for n in names] == truth.sum(0).tolist()
    assert metrics["exact_match"] == pytest.approx((truth == predicted).all(1).mean())
    assert metrics["accuracy"] == pytest.approx(metrics["exact_match"] * 100)
    counts = metrics["label_confusion"]["c"]
    assert counts["tp"] == int(((truth[:, 2] == 1) & (predicted[:, 2] == 1)).sum())
    assert counts["fp"] == int(((truth[:, 2] == 0) & (predicted[:, 2] == 1)).sum())
    assert sum(counts.values()) == 200


def test_tuned_thresholds_maximise_validation_f1_per_label():
    probabilities = np.array([[0.9, 0.2], [0.6, 0.15], [0.4, 0.12], [0.1, 0.05]])
    truth = np.array([[1, 1], [1, 1], [0, 0], [0, 0]])
    assert tune_thresholds(probabilities, truth) == [0.45, 0.15]
    assert tune_thresholds(probabilities, np.zeros((4, 2), dtype=int)) == [0.3, 0.3]  # no positive: the default


def test_ekman_run_gives_exactly_the_pinned_numbers():
    """Pinned from a run of the same tiny configuration: first before tasks existed (tasks changed nothing), then
    again when CPU dropout masks came to be drawn from uniform numbers (a new random stream, the same distribution).
    Anything else that moves these numbers changed the task, the data, the model or the loop. The recipe is spelt
    out (on a CPU with native bf16 the GRU later took a bf16 recipe with wider batches), so the numbers are those of
    the same computation on every machine."""
    result = train_run(make_config("gru", {**TINY, "batch_size": 64, "lr": 2e-3, "precision": "fp32"}))
    test = result.metrics
    assert test["accuracy"] == 32.0
    assert test["macro_f1"] == pytest.approx(0.07884199134199134, abs=1e-12)
    assert test["confusion"] == [[0, 0, 0, 1, 0, 0, 36], [0, 0, 0, 1, 0, 0, 7], [0, 0, 0, 2, 0, 0, 10],
                                 [0, 0, 0, 4, 0, 0, 90], [0, 0, 0, 0, 0, 0, 20], [0, 0, 0, 0, 0, 0, 29],
                                 [0, 0, 0, 8, 0, 0, 92]]
    assert test["validation"].pop("majority") == {"label": "joy", "accuracy": 42.0}  # the baseline to beat
    assert test["validation"] == {"accuracy": pytest.approx(27.666666666666668, abs=1e-12),
                                  "macro_f1": pytest.approx(0.07419707609071026, abs=1e-12)}
    assert result.history[0]["train_loss"] == pytest.approx(1.8491318766276041, rel=1e-6)
    # the plain evaluation loss (no label smoothing), as validation reports it since it stopped using the training
    # loss (1.7431899309158325 with the recipe's smoothing)
    assert result.history[0]["val_loss"] == pytest.approx(1.7039384841918945, rel=1e-6)
    assert result.run.config["task"] == "ekman" and test["decision"] == {"rule": "argmax"}


@pytest.mark.parametrize("task", ["goemotions", "ekman-multilabel", "sentiment"])
def test_a_multi_label_run_reports_macro_and_micro_f1_per_label(task):
    result = train_run(make_config("gru", {**TINY, "task": task}))
    test, labels = result.metrics, get_task(task).labels
    assert result.status == "completed" and result.run.config["task"] == task
    assert list(test["per_class"]) == list(labels) and list(test["label_confusion"]) == list(labels)
    assert 0 <= test["macro_f1"] <= 1 and 0 <= test["micro_f1"] <= 1
    assert test["decision"] == {"rule": "threshold", "tuned_on": None, "thresholds": {n: 0.3 for n in labels}}
    assert sum(row["support"] for row in test["per_class"].values()) >= test["examples"]  # multi-label: ≥ 1 each
    probabilities = result.run.load_probabilities()["test"]
    assert tuple(probabilities.shape) == (300, len(labels)) and float(probabilities.max()) <= 1
    from goemo_core.serving.onnx_export import NotExportable, check_exportable

    with pytest.raises(NotExportable, match=f"is multi-label \\(task {task}\\)"):
        check_exportable(result.run)


def test_thresholds_are_tuned_on_validation_and_never_read_test(monkeypatch):
    """The test split's targets are poisoned while thresholds are chosen: tuning that read them would fail."""
    seen = []
    original = train_module.tune_thresholds

    def spying(probabilities, targets, **kwargs):
        seen.append((np.asarray(probabilities).copy(), np.asarray(targets).copy()))
        return original(probabilities, targets, **kwargs)

    real_thresholds = train_module.decision_thresholds

    def guarded(config, probabilities, targets):
        test_labels = data_seen[0].test.labels
        data_seen[0].test.labels = None  # any use of the test targets here raises
        try:
            return real_thresholds(config, probabilities, targets)
        finally:
            data_seen[0].test.labels = test_labels

    data_seen = []
    real_prepare = train_module.prepare_data
    monkeypatch.setattr(train_module, "prepare_data", lambda *a, **k: data_seen.append(real_prepare(*a, **k))
                        or data_seen[0])
    monkeypatch.setattr(train_module, "tune_thresholds", spying)
    monkeypatch.setattr(train_module, "decision_thresholds", guarded)
    result = train_run(make_config("gru", {**TINY, "task": "sentiment", "tune_thresholds": True}))
    assert len(seen) == 1
    validation_probabilities = result.run.load_probabilities()["validation"].numpy()
    np.testing.assert_allclose(seen[0][0], validation_probabilities, atol=1e-6)
    np.testing.assert_array_equal(seen[0][1], data_seen[0].validation.labels.numpy())
    decision = result.metrics["decision"]
    assert decision["tuned_on"] == "validation"
    assert list(decision["thresholds"].values()) == original(validation_probabilities, seen[0][1])
    assert json.loads((result.run.path / "metrics.json").read_text())["decision"] == decision


def test_ensembles_average_within_one_task_and_refuse_mixing():
    from goemo_core.serving.ensemble import make_ensemble
    from goemo_core.serving.predict import predict_texts

    a = train_run(make_config("gru", {**TINY, "task": "sentiment"})).run
    b = train_run(make_config("gru", {**TINY, "task": "sentiment", "seed": 5})).run
    ekman = train_run(make_config("gru", TINY)).run
    with pytest.raises(InvalidConfig, match=f"ensemble member {ekman.run_id} was trained on task ekman, not sentiment"):
        make_ensemble([a.run_id, ekman.run_id])
    ensemble = make_ensemble([a.run_id, b.run_id])
    assert ensemble.config["task"] == "sentiment" and ensemble.config["classes"] == list(get_task("sentiment").labels)
    mean = (a.load_probabilities()["test"] + b.load_probabilities()["test"]) / 2
    assert np.allclose(ensemble.load_probabilities()["test"].numpy(), mean.numpy(), atol=1e-6)
    assert "micro_f1" in ensemble.metrics and ensemble.metrics["decision"]["rule"] == "threshold"
    [prediction] = predict_texts(ensemble.run_id, ["thank you so much, I love it"])
    assert set(prediction["probabilities"]) == {"positive", "negative", "ambiguous", "neutral"}
    assert prediction["labels"] == [k for k, p in sorted(prediction["probabilities"].items(), key=lambda kv: -kv[1])
                                    if p >= 0.3]


def test_a_multi_label_ensemble_applies_the_mean_of_its_members_own_thresholds():
    from goemo_core.serving.ensemble import make_ensemble
    from goemo_core.serving.predict import predict_texts

    tuned = train_run(make_config("gru", {**TINY, "task": "sentiment", "tune_thresholds": True})).run
    fixed = train_run(make_config("gru", {**TINY, "task": "sentiment", "seed": 5, "threshold": 0.4})).run
    assert fixed.metrics["decision"]["thresholds"] == {n: 0.4 for n in get_task("sentiment").labels}
    ensemble = make_ensemble([tuned.run_id, fixed.run_id])
    decision = ensemble.metrics["decision"]
    labels = get_task("sentiment").labels
    expected = [(tuned.metrics["decision"]["thresholds"][n] + 0.4) / 2 for n in labels]
    assert list(decision["thresholds"].values()) == pytest.approx(expected)
    assert decision["tuned_on"] == "validation"  # one member's thresholds were chosen on validation
    assert ensemble.config["threshold"] == pytest.approx(0.35)  # the members' fixed thresholds, 0.3 and 0.4
    validation = ensemble.metrics["validation"]
    assert 0 <= validation["macro_f1_fixed"] <= 1 and 0 <= validation["accuracy_fixed"] <= 100
    [prediction] = predict_texts(ensemble.run_id, ["thank you so much, I love it"])
    assert prediction["labels"] == [n for n, p in sorted(prediction["probabilities"].items(), key=lambda kv: -kv[1])
                                    if p >= expected[labels.index(n)]]


def test_per_task_distribution_and_label_cooccurrence():
    from goemo_core.data.tasks import label_cooccurrence, task_distribution

    split = {"labels": [ids("anger", "joy"), ids("joy"), ids("neutral"), sorted(ids("admiration", "gratitude"))]}
    single = task_distribution({"train": split}, get_task("ekman"))
    assert dict(zip(single["label"], single["examples"]))["joy"] == 2 and single["examples"].sum() == 4
    multi = task_distribution({"train": split}, get_task("ekman-multilabel"))
    assert dict(zip(multi["label"], multi["examples"])) == {"anger": 1, "disgust": 0, "fear": 0, "joy": 3,
                                                            "sadness": 0, "surprise": 0, "neutral": 1}
    pairs = label_cooccurrence(split, get_task("sentiment")).set_index(["a", "b"])["examples"]
    assert pairs["positive", "negative"] == 1 and pairs["positive", "positive"] == 3
    assert pairs["neutral", "positive"] == 0 and len(pairs) == 16


def test_multi_label_recipes_are_chosen_on_validation_macro_f1_per_task():
    from conftest import fake_run

    from goemo_core.results.summary import leaderboard
    from goemo_core.runs.store import RunStore

    store = RunStore()
    # exact match (accuracy) and macro-F1 disagree: a multi-label task is chosen on macro-F1
    fake_run(store, "gru", 211, 30.0, 0.40, val_accuracy=30.0, val_macro_f1=0.40, task="goemotions", lr=0.001)
    fake_run(store, "gru", 211, 35.0, 0.20, val_accuracy=35.0, val_macro_f1=0.20, task="goemotions", lr=0.002)
    fake_run(store, "gru", 211, 60.0, 0.50, task="ekman")
    board = leaderboard(store.list(), "goemotions")
    assert len(board) == 1 and board["val_macro_f1_mean"].iloc[0] == 0.40
    assert list(leaderboard(store.list(), "ekman")["val_accuracy_mean"]) == [60.0]


def test_cli_refuses_a_bad_task_in_one_line(capsys):
    from goemo_core.cli import main

    assert main(["train", "--arch", "gru", "--task", "emotions"]) == 2
    assert main(["bench", "accuracy", "--task", "sentiments", "--baseline", "--archs", "gru"]) == 2
    assert main(["tune", "--arch", "gru", "--n-trials", "1", "--task", "sentiment", "--set", "task=ekman"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert any("task: 'emotions' is not one of" in line for line in errors)
    assert any("task: 'sentiments' is not one of" in line for line in errors)  # the baseline takes any real task
    assert any("task: given twice" in line for line in errors)
