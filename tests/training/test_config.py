"""TrainConfig: one default per setting, the architectures' recipes, the GPU recipe, refusal of bad values."""

import pytest

from goemo_core.errors import InvalidConfig
from goemo_core.models import architectures
from goemo_core.serving import inference
from goemo_core.training.config import ABSENT_MEANS, RECIPE_KEYS, TrainConfig, make_config


def test_the_recurrent_recipe_is_the_default_and_the_transformer_lists_its_differences(pretrained, monkeypatch):
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: False)
    base = TrainConfig()
    for arch in ("lstm", "gru"):  # the device is resolved (GOEMO_DEVICE=cpu in the tests); RNNs bucket by length
        assert make_config(arch).to_dict() == {**base.to_dict(), "arch": arch, "device": "cpu",
                                              "length_buckets": True, "params": make_config(arch).params}
    transformer = make_config("transformer")
    assert (transformer.soft_labels, transformer.ema_decay, transformer.label_smoothing) == (0.0, 0.0, 0.0)
    assert (transformer.lr, transformer.batch_size, transformer.epochs) == (5e-5, 32, 4)


def test_settings_added_later_say_what_they_meant_before_they_existed():
    assert set(ABSENT_MEANS) <= RECIPE_KEYS
    assert ABSENT_MEANS["soft_labels"] == 0.0 and ABSENT_MEANS["length_buckets"] is False


def fake_cuda(monkeypatch) -> None:
    """torch says a GPU is visible (configs resolve for it; nothing is run on it)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_the_gpu_recipe_applies_on_cuda_and_yields_to_explicit_settings(monkeypatch):
    fake_cuda(monkeypatch)
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: False)  # a CPU without its own bf16 recipe
    cpu = make_config("lstm", {"device": "cpu"})
    assert (cpu.recipe, cpu.batch_size, cpu.lr, cpu.length_buckets) == ("default", 64, 2e-3, True)
    gpu = make_config("lstm", {"device": "cuda"})
    assert (gpu.recipe, gpu.batch_size, gpu.lr, gpu.length_buckets) == ("gpu", 256, 4e-3, True)
    assert make_config("lstm", {"device": "cuda", "batch_size": 32}).batch_size == 32  # the user's value wins
    assert make_config("gru", {"device": "cpu"}).batch_size == 64  # the GRU's CPU recipe as well
    monkeypatch.setenv("GOEMO_DEVICE", "cuda")  # auto follows GOEMO_DEVICE
    assert make_config("rwkv").recipe == "gpu"
    for spec in architectures().values():
        assert set(spec.gpu_recipe) <= RECIPE_KEYS, spec.name


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_a_cpu_with_native_bf16_gets_the_recurrent_bf16_recipe_and_nothing_else_changes(monkeypatch, arch):
    fake_cuda(monkeypatch)
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: True)
    rnn = make_config(arch, {"device": "cpu"})  # bf16 products at twice the batch, the rate scaled by √2
    assert (rnn.recipe, rnn.precision, rnn.batch_size, rnn.lr, rnn.length_buckets) == ("cpu-bf16", "bf16", 128,
                                                                                      2.8e-3, True)
    explicit = make_config(arch, {"device": "cpu", "precision": "fp32", "batch_size": 64})  # the user's values win
    assert (explicit.recipe, explicit.precision, explicit.batch_size, explicit.lr) == ("cpu-bf16", "fp32", 64, 2.8e-3)
    assert make_config(arch, {"device": "cuda"}).recipe == "gpu"  # a GPU has its own recipe
    for other in ("rwkv", "xlstm"):  # not measured: unchanged
        config = make_config(other, {"device": "cpu"})
        assert (config.recipe, config.precision) == ("default", "auto"), other
    monkeypatch.setattr(inference, "cpu_has_bf16", lambda: False)  # bf16 would be emulated there: slower
    plain = make_config(arch, {"device": "cpu"})
    assert (plain.recipe, plain.precision, plain.batch_size, plain.lr) == ("default", "auto", 64, 2e-3)
    for spec in architectures().values():
        assert set(spec.bf16_cpu_recipe) <= RECIPE_KEYS, spec.name


@pytest.mark.parametrize("key, value", [("lr", 0), ("epochs", 0), ("optimizer", "sgd"), ("val_examples", 0),
                                        ("length_buckets", "maybe"), ("nonsense", 1)])
def test_bad_values_are_refused_naming_the_setting(key, value):
    with pytest.raises(InvalidConfig, match=key):
        make_config("gru", {key: value})


def test_the_device_is_resolved_once_and_goemo_device_is_honoured(monkeypatch):
    from goemo_core.settings import effective_device

    monkeypatch.setenv("GOEMO_DEVICE", "cpu")
    fake_cuda(monkeypatch)
    assert make_config("gru").device == "cpu" and effective_device("auto") == "cpu"
    monkeypatch.setenv("GOEMO_DEVICE", "auto")
    assert make_config("gru").device == "cuda" and make_config("gru").recipe == "gpu"
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert make_config("gru").device == "cpu"
    with pytest.raises(InvalidConfig, match="device: 'cuda' was asked for"):
        make_config("gru", {"device": "cuda"})
    with pytest.raises(InvalidConfig, match="unknown device"):
        make_config("gru", {"device": "tpu"})


def test_an_explicit_value_wins_even_when_it_equals_the_cpu_default(monkeypatch):
    fake_cuda(monkeypatch)
    config = make_config("lstm", {"device": "cuda", "batch_size": 64})
    assert (config.batch_size, config.lr, config.length_buckets, config.recipe) == (64, 4e-3, True, "gpu")


def test_a_config_is_frozen_and_checked_at_every_construction():
    import dataclasses

    config = make_config("gru")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    with pytest.raises(InvalidConfig, match="epochs"):
        TrainConfig(arch="gru", epochs=0)
    with pytest.raises(InvalidConfig, match="seed"):
        dataclasses.replace(config, seed=-1)
    assert config.to_dict()["milestones"] == [10, 50] and config.to_dict()["teachers"] == []


@pytest.mark.parametrize("key, value, message", [
    ("seed", 2**70, "seed: .* must be ≥ 0 and ≤ 4294967295"),
    ("warmup_epochs", "inf", "warmup_epochs: inf is not a finite number"),
    ("lr", "nan", "lr: nan is not a finite number"),
    ("params", "xy", "params: give each model hyperparameter as its own key=value"),
    ("epochs", "2.7", "epochs: '2.7' is not a valid whole number"),
    ("hidden_size", "16.9", "hidden_size: '16.9' is not a valid whole number"),
    ("hidden_size", 16.9, "hidden_size: '16.9' is not a valid whole number"),
    ("recipe", "banana", "recipe: set by the device"),
    ("limit", 0, "limit: 0 must be ≥ 1"),
    ("epochs", 100000, "epochs: 100000 must be ≥ 1 and ≤ 1000"),
    ("class_weights", "maybe", "class_weights: 'maybe' is not a valid bool"),
    ("milestones", "2,x", "milestones: 'x' is not a valid whole number"),
    ("dropout", "nan", "dropout: nan is outside the allowed range"),
])
def test_values_at_the_boundary_are_refused_with_one_line(key, value, message):
    with pytest.raises(InvalidConfig, match=message) as caught:
        make_config("gru", {key: value})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [1.0, "1", 0.0, 1.5, -0.2])
def test_a_multi_label_threshold_outside_zero_to_one_is_refused_in_one_line(value):
    with pytest.raises(InvalidConfig, match="threshold: .* must be > 0 and < 1") as caught:
        make_config("gru", {"task": "goemotions", "threshold": value})
    assert "\n" not in str(caught.value)
    assert make_config("gru", {"task": "goemotions", "threshold": 0.999}).threshold == 0.999


def test_whole_numbers_written_as_decimals_are_accepted():
    config = make_config("gru", {"epochs": "3.0", "hidden_size": 32.0, "seed": "7", "length_buckets": "yes"})
    assert (config.epochs, config.params["hidden_size"], config.seed, config.length_buckets) == (3, 32, 7, True)


def test_any_value_either_makes_a_valid_config_or_a_one_line_refusal():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from goemo_core.training.config import FIELDS

    keys = sorted(set(FIELDS) - {"device", "recipe", "teachers", "augment", "pretrained"}) + ["hidden_size",
                                                                                                "dropout"]
    values = st.one_of(st.integers(-2**80, 2**80), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                       st.text(max_size=12), st.none(), st.lists(st.integers(-5, 2000), max_size=3))

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.dictionaries(st.sampled_from(keys), values, max_size=4))
    def check(overrides):
        try:
            config = make_config("gru", {"pretrained": None, **overrides})
        except InvalidConfig as exc:
            assert str(exc) and "\n" not in str(exc)
            return
        for name, value in config.to_dict().items():
            if isinstance(value, float):
                assert value == value and abs(value) != float("inf"), name
        assert 1 <= config.epochs <= 1000 and 0 <= config.seed < 2**32

    check()


def test_every_setting_a_task_rules_out_is_named_in_one_refusal():
    with pytest.raises(InvalidConfig) as refused:
        make_config("gru", {"task": "goemotions", "soft_labels": 0.5, "monitor": "val_accuracy",
                            "balanced_sampler": True})
    message = str(refused.value)
    assert "\n" not in message
    for key in ("soft_labels", "balanced_sampler", "monitor"):
        assert f"{key}: not for the multi-label task goemotions" in message
    made = make_config("gru", {"task": "goemotions"})  # the task's own recipe needs no edit
    assert made.soft_labels == 0 and made.monitor == "val_macro_f1"
