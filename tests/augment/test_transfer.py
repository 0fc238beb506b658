"""The transfer set: variants drawn from train texts only, learnt without a label of their own (their target term's
weight is 0 in the loss the Trainer computes), built once and cached, the same for a seed and different for another;
--transfer-augment without a teacher refused in one line."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import DATA_DIR

from goemo_core.augment import transfer
from goemo_core.data.goemotions import limit_split, load_goemotions
from goemo_core.data.text import pad_id
from goemo_core.errors import InvalidConfig
from goemo_core.training.config import make_config
from goemo_core.training.objective import Targets, TrainingLoss, distillation_loss
from goemo_core.training.prepare import build_model, prepare_data
from goemo_core.training.run import train_run
from goemo_core.training.trainer import Trainer

TINY = {"limit": 60, "epochs": 1, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu",
        "pretrained": None}


@pytest.fixture
def augmented_texts(monkeypatch) -> list[str]:
    """Every text handed to the augmenter, in call order."""
    seen: list[str] = []
    real = transfer.augment_once

    def recording(augmenter, text, key, wanted=None):
        seen.append(text)
        return real(augmenter, text, key, wanted)

    monkeypatch.setattr(transfer, "augment_once", recording)
    return seen


@pytest.fixture
def teacher(goemo_env):
    return train_run(make_config("gru", {**TINY, "seed": 7})).run


def test_a_variant_adds_no_target_term_to_the_loss():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, -1.0, 0.5, 0.0]])
    teacher = torch.softmax(torch.tensor([[1.0, 0, 0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0, 0]]), -1)
    labels, hard = torch.tensor([0, 3]), torch.tensor([1.0, 0.0])  # the second example is a variant
    loss = TrainingLoss(torch.nn.CrossEntropyLoss(), distill_weight=0.25, temperature=2.0)
    original_ce = torch.nn.functional.cross_entropy(logits[:1], labels[:1])
    per_example_kl = [distillation_loss(logits[i:i + 1], teacher[i:i + 1], 2.0) for i in range(2)]
    expected = 0.75 * original_ce / 2 + 0.25 * (per_example_kl[0] + per_example_kl[1]) / 2
    assert loss(logits, Targets(labels, teacher, hard)).item() == pytest.approx(expected.item(), rel=1e-5)
    relabelled = Targets(torch.tensor([0, 5]), teacher, hard)
    assert loss(logits, relabelled).item() == pytest.approx(expected.item(), rel=1e-5)


def test_variants_come_from_train_texts_only_and_carry_no_hard_label(teacher, augmented_texts):
    config = make_config("gru", {**TINY, "teachers": [teacher.run_id], "transfer_augment": 2, "soft_labels": 0.0})
    data = prepare_data(config)
    splits = load_goemotions()
    train_texts = list(limit_split(splits["train"], 60)["text"])
    held_out = set(limit_split(splits["validation"], 60)["text"]) | set(limit_split(splits["test"], 60)["text"])
    assert set(augmented_texts) == set(train_texts) and not set(augmented_texts) & held_out
    variants = int((data.train.hard == 0).sum())
    assert len(data.train) == 60 + variants and 60 < 60 + variants <= 60 + 2 * 60
    assert data.train.hard[:60].eq(1).all() and data.train.hard[60:].eq(0).all()
    assert len(data.validation) == 60 and len(data.test) == 60  # never augmented
    assert torch.allclose(data.train.teacher.sum(-1), torch.ones(len(data.train)), atol=1e-5)

    model = build_model(config, data.tokenizer.get_vocab_size(), pad_id(data.tokenizer), None)
    trainer = Trainer(model, config, "cpu")
    session = trainer.start(data.train)
    logits = torch.randn(4, 7)

    def computed(idx: torch.Tensor, labels: torch.Tensor) -> float:  # the Trainer's own targets and loss
        return float(session.loss_fn(logits, trainer._targets(session.train_dev, idx, labels)))

    variant_idx, original_idx = torch.arange(60, 64), torch.arange(0, 4)
    labels = data.train.labels[variant_idx]
    assert computed(variant_idx, labels) == pytest.approx(computed(variant_idx, (labels + 1) % 7))
    labels = data.train.labels[original_idx]
    assert computed(original_idx, labels) != pytest.approx(computed(original_idx, (labels + 1) % 7))


def test_a_student_records_its_transfer_set_and_the_variants_are_cached(teacher, goemo_env, augmented_texts):
    result = train_run(make_config("gru", {**TINY, "teachers": [teacher.run_id], "transfer_augment": 1}))
    config = result.run.config
    assert result.status == "completed" and config["transfer_augment"] == 1
    assert 0 < config["transfer_examples"] <= 60 and config["train_examples"] == 60 + config["transfer_examples"]
    assert sum(config["train_class_counts"].values()) == 60  # only the labelled examples
    assert len(list((goemo_env / "cache" / "transfer").glob("*.json"))) == 1
    calls = len(augmented_texts)
    again = train_run(make_config("lstm", {**TINY, "teachers": [teacher.run_id], "transfer_augment": 1}))
    assert again.status == "completed" and len(augmented_texts) == calls  # the augmenter was not called again
    assert again.run.config["transfer_examples"] == config["transfer_examples"]


def test_a_seed_gives_the_same_transfer_set_and_another_seed_another(goemo_env):
    texts = list(limit_split(load_goemotions()["train"], 30)["text"])
    first = transfer.transfer_variants(texts, 2, seed=5)
    rebuilt = transfer.build_variants(texts, 2, seed=5)
    other = transfer.transfer_variants(texts, 2, seed=6)
    assert first == rebuilt and first != other
    assert all(0 <= index < 30 and text != texts[index] for index, text in first)
    assert max(sum(1 for index, _ in first if index == i) for i in range(30)) == 2


def test_a_damaged_cache_is_built_again(goemo_env):
    texts = ["I love this so much, thank you", "This is the worst thing I have ever seen"]
    built = transfer.transfer_variants(texts, 1, seed=1)
    path = next((goemo_env / "cache" / "transfer").glob("*.json"))
    path.write_text('{"format": 1, "variants": "nope"}', encoding="utf-8")
    assert transfer.transfer_variants(texts, 1, seed=1) == built


def test_transfer_augment_needs_a_teacher_and_a_distillation_weight():
    with pytest.raises(InvalidConfig, match="give --teacher RUN"):
        make_config("gru", {"transfer_augment": 2})
    with pytest.raises(InvalidConfig, match="distill_weight 0"):
        make_config("gru", {"transfer_augment": 2, "teachers": ["some-run"], "distill_weight": 0})
    with pytest.raises(InvalidConfig, match="transfer_augment: -1 must be ≥ 0"):
        make_config("gru", {"transfer_augment": -1, "teachers": ["some-run"]})
    assert make_config("gru", {}).transfer_augment == 0


@pytest.mark.slow
def test_the_cli_refuses_transfer_augment_without_a_teacher_in_one_line():
    done = subprocess.run([sys.executable, "-m", "goemo_core", "train", "--arch", "gru", "--transfer-augment", "2"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GOEMO_DATA_DIR": str(DATA_DIR)})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "transfer_augment" in done.stderr and "--teacher" in done.stderr and "Traceback" not in done.stderr


def test_the_train_page_offers_transfer_variants_once_a_teacher_is_picked(teacher, fresh_manager):
    from conftest import page_file
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(page_file("train.py")), default_timeout=60).run()
    assert not at.exception and at.number_input(key="train_transfer").disabled
    picker = at.multiselect(key="train_teachers")  # the architecture's best run on validation is marked, first
    assert picker.options[0].endswith("★ best gru on validation") and teacher.run_id in picker.options[0]
    picker.set_value([teacher.run_id]).run()
    field = at.number_input(key="train_transfer")
    assert not field.disabled and field.value == 0 and "teachers' probabilities alone" in field.help


def test_compare_shows_a_students_transfer_set_and_its_variants(tmp_path, fresh_manager):
    from conftest import fake_run, page_file
    from streamlit.testing.v1 import AppTest

    from goemo_core.runs.store import RunStore

    store = RunStore()
    teacher = fake_run(store, "lstm", 211, 68.0, 0.61)
    student = fake_run(store, "gru", 212, 67.5, 0.60, teachers=[teacher.run_id], transfer_augment=2)
    student.write_json("config.json", {**student.config, "train_examples": 880, "transfer_examples": 580})
    at = AppTest.from_file(str(page_file("compare.py")), default_timeout=60).run()
    assert not at.exception
    [pairs] = [df.value for df in at.dataframe if "teacher" in df.value.columns and "student" in df.value.columns]
    assert list(pairs["transfer_set"]) == [880] and list(pairs["variants"]) == [580]
