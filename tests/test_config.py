"""TrainConfig: one default per setting, the architectures' recipes, the GPU recipe, refusal of bad values."""

import pytest

from goemo_core.config import ABSENT_MEANS, RECIPE_KEYS, TrainConfig, make_config
from goemo_core.errors import InvalidConfig
from goemo_core.models import architectures


def test_the_recurrent_recipe_is_the_default_and_the_transformer_lists_its_differences(pretrained):
    base = TrainConfig()
    for arch in ("lstm", "gru"):
        assert make_config(arch).to_dict() == {**base.to_dict(), "arch": arch,
                                              "params": make_config(arch).params}
    transformer = make_config("transformer")
    assert (transformer.soft_labels, transformer.ema_decay, transformer.label_smoothing) == (0.0, 0.0, 0.0)
    assert (transformer.lr, transformer.batch_size, transformer.epochs) == (5e-5, 32, 4)


def test_settings_added_later_say_what_they_meant_before_they_existed():
    assert set(ABSENT_MEANS) <= RECIPE_KEYS
    assert ABSENT_MEANS["soft_labels"] == 0.0 and ABSENT_MEANS["length_buckets"] is False


def test_the_gpu_recipe_applies_on_cuda_and_yields_to_explicit_settings(monkeypatch):
    cpu = make_config("gru", {"device": "cpu"})
    assert (cpu.recipe, cpu.batch_size, cpu.lr, cpu.length_buckets) == ("default", 64, 2e-3, False)
    gpu = make_config("gru", {"device": "cuda"})
    assert (gpu.recipe, gpu.batch_size, gpu.lr, gpu.length_buckets) == ("gpu", 256, 4e-3, True)
    assert make_config("gru", {"device": "cuda", "batch_size": 32}).batch_size == 32  # the user's value wins
    monkeypatch.setenv("GOEMO_DEVICE", "cuda")  # auto follows GOEMO_DEVICE
    assert make_config("rwkv").recipe == "gpu"
    for spec in architectures().values():
        assert set(spec.gpu_recipe) <= RECIPE_KEYS, spec.name


@pytest.mark.parametrize("key, value", [("lr", 0), ("epochs", 0), ("optimizer", "sgd"), ("val_examples", 0),
                                        ("length_buckets", "maybe"), ("nonsense", 1)])
def test_bad_values_are_refused_naming_the_setting(key, value):
    with pytest.raises(InvalidConfig, match=key):
        make_config("gru", {key: value})
