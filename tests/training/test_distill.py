"""Distillation: the loss against a hand-computed value, teachers' probabilities cached, bad teachers refused, a
student trained end to end with its teachers recorded."""

import math

import pytest
import torch

from goemo_core.errors import InvalidConfig
from goemo_core.runs.store import RunStore
from goemo_core.training.config import make_config
from goemo_core.training.objective import Targets, TrainingLoss, distillation_loss
from goemo_core.training.run import train_run
from goemo_core.training.teachers import check_teachers, teacher_probabilities

TINY = {"limit": 200, "epochs": 1, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu",
        "pretrained": None}


def test_distillation_loss_equals_the_hand_computed_value():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.0, 0.0, 1.0]])
    teacher = torch.tensor([[0.5, 0.1, 0.05, 0.15, 0.05, 0.05, 0.1]])
    T = 2.0
    soft_teacher = [p ** (1 / T) for p in teacher[0].tolist()]
    soft_teacher = [p / sum(soft_teacher) for p in soft_teacher]
    student = [math.exp(z / T) for z in logits[0].tolist()]
    student = [q / sum(student) for q in student]
    kl = sum(p * (math.log(p) - math.log(q)) for p, q in zip(soft_teacher, student))
    assert distillation_loss(logits, teacher, T).item() == pytest.approx(T * T * kl, rel=1e-5)

    label = torch.tensor([0])
    ce = torch.nn.functional.cross_entropy(logits, label).item()
    mixed = TrainingLoss(torch.nn.CrossEntropyLoss(), distill_weight=0.25, temperature=T)
    assert mixed(logits, Targets(label, teacher)).item() == pytest.approx(0.75 * ce + 0.25 * T * T * kl, rel=1e-5)
    assert mixed(logits, label).item() == pytest.approx(ce)  # validation: the usual loss alone


@pytest.fixture
def teacher(goemo_env):
    return train_run(make_config("gru", {**TINY, "seed": 7})).run


def test_a_student_learns_from_its_teacher_and_the_probabilities_are_cached(teacher, goemo_env):
    result = train_run(make_config("gru", {**TINY, "teachers": [teacher.run_id], "distill_weight": 0.7}))
    assert result.status == "completed" and result.run.config["teachers"] == [teacher.run_id]
    assert result.run.config["distill_weight"] == 0.7
    cached = list((goemo_env / "cache" / "teachers").glob("*.safetensors"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = train_run(make_config("lstm", {**TINY, "teachers": [teacher.run_id]}))
    assert again.status == "completed" and cached[0].stat().st_mtime_ns == stamp  # reused, not recomputed
    from goemo_core.data.goemotions import load_goemotions

    texts = list(load_goemotions()["train"]["text"][:200])
    probabilities = teacher_probabilities([teacher], texts, goemo_env / "cache")
    assert probabilities.shape == (200, 7) and torch.allclose(probabilities.sum(-1), torch.ones(200), atol=1e-5)


def test_bad_teachers_are_refused_by_name(teacher):
    for teachers, words in ((["no-such-run"], "no-such-run"), ([teacher.run_id, "gone-run"], "gone-run")):
        with pytest.raises(InvalidConfig, match=words):
            check_teachers(make_config("gru", {**TINY, "teachers": teachers}))
    unfinished = RunStore().create({"arch": "gru", "limit": 200})
    with pytest.raises(InvalidConfig, match=f"{unfinished.run_id} is running"):
        check_teachers(make_config("gru", {**TINY, "teachers": [unfinished.run_id]}))
    with pytest.raises(InvalidConfig, match="other data"):  # the teacher saw 200 examples, the student 100
        check_teachers(make_config("gru", {**TINY, "limit": 100, "teachers": [teacher.run_id]}))
    before = len(RunStore().list())
    with pytest.raises(InvalidConfig, match="no-such-run"):
        train_run(make_config("gru", {**TINY, "teachers": ["no-such-run"]}))
    assert len(RunStore().list()) == before  # refused before any run folder exists


def test_a_nan_teacher_cache_is_never_learnt_from(teacher, goemo_env):
    from safetensors.torch import save_file

    from goemo_core.data.goemotions import load_goemotions

    texts = list(load_goemotions()["train"]["text"][:200])
    cache = goemo_env / "cache"
    good = teacher_probabilities([teacher], texts, cache)
    [cached] = (cache / "teachers").glob("*.safetensors")
    save_file({"probabilities": torch.full((200, 7), float("nan"))}, str(cached))
    again = teacher_probabilities([teacher], texts, cache)  # a damaged cache entry is computed again
    assert torch.isfinite(again).all() and torch.allclose(again, good)
    save_file({"probabilities": torch.full((200, 3), 1 / 3)}, str(cached))
    assert teacher_probabilities([teacher], texts, cache).shape == (200, 7)


def test_a_teacher_with_nan_weights_is_refused(teacher, goemo_env):
    from safetensors.torch import load_file, save_file

    from goemo_core.errors import MissingResource

    weights = load_file(str(teacher.weights_path))
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name][0] = float("nan")
    save_file(weights, str(teacher.weights_path))
    with pytest.raises(MissingResource, match="non-finite weights"):
        train_run(make_config("gru", {**TINY, "teachers": [teacher.run_id]}))
    assert [run.run_id for run in RunStore().list()] == [teacher.run_id]  # no student was recorded
