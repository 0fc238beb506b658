"""The Trainer and whole runs: determinism, cancel, early stopping, recipe options, refusal of bad settings."""

import dataclasses
import math
import threading

import pytest
import torch

from goemo_core.data.text import EncodedSplit
from goemo_core.errors import Cancelled, InvalidConfig
from goemo_core.runs.store import RunStore
from goemo_core.training import trainer as trainer_module
from goemo_core.training.config import make_config
from goemo_core.training.prepare import build_model
from goemo_core.training.run import train_run
from goemo_core.training.trainer import Trainer

TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16, "limit": 200, "epochs": 1}


def toy_split(n=96, length=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (n,), generator=g)
    ids = torch.randint(1, 50, (n, length), generator=g)
    ids[torch.arange(length)[None, :] >= lengths[:, None]] = 0
    labels = (ids[:, 0] % 7)  # learnable: the first token decides the class
    return EncodedSplit(ids, lengths, labels)


def tiny_model(arch="gru", **overrides):
    config = make_config(arch, {"embedding_dim": 16, "hidden_size": 16, "head_units": 16, **overrides})
    torch.manual_seed(config.seed)
    return config, build_model(config, 50, 0, None)


def test_same_seed_same_history():
    histories = []
    for _ in range(2):
        config, model = tiny_model(epochs=2, batch_size=16)
        histories.append(Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1)))
    keys = ("train_loss", "val_loss", "val_accuracy")
    assert [[h[k] for k in keys] for h in histories[0]] == [[h[k] for k in keys] for h in histories[1]]


def test_learns_a_learnable_task():
    config, model = tiny_model(epochs=15, batch_size=16, lr=0.01, patience=15)
    history = Trainer(model, config, "cpu").fit(toy_split(320), toy_split(seed=1))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_accuracy"] for h in history) > 40  # chance is ~14 %


class FirstTokenOracle(torch.nn.Module):
    """Confident and always right on toy_split: a logit of 20 for the class its first token decides."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, ids, lengths):
        return torch.nn.functional.one_hot(ids[:, 0] % 7, 7).float() * 20 + self.unused * 0


@pytest.mark.parametrize("recipe", [{"label_smoothing": 0.1}, {"label_smoothing": 0.2, "class_weights": True}])
def test_the_validation_loss_is_the_plain_loss_without_smoothing_or_weights(recipe):
    config = make_config("gru", {"epochs": 1, "batch_size": 16, "ema_decay": 0.0, **recipe})
    history = Trainer(FirstTokenOracle(), config, "cpu").fit(toy_split(), toy_split(seed=1))
    assert history[0]["val_accuracy"] == 100.0
    assert history[0]["val_loss"] < 1e-6  # smoothing would add about 1.7 here, however confident the model
    assert history[0]["train_loss"] > 0.5  # training keeps its smoothed target


def test_cancel_stops_within_one_batch():
    config, model = tiny_model(epochs=50, batch_size=8)
    cancel = threading.Event()
    trainer = Trainer(model, config, "cpu")
    batches = []
    original = model.forward

    def counting_forward(*args):
        batches.append(1)
        if len(batches) == 3:
            cancel.set()
        return original(*args)

    model.forward = counting_forward
    with pytest.raises(Cancelled):
        trainer.fit(toy_split(), toy_split(seed=1), cancel=cancel)
    assert len(batches) == 3  # the check before the 4th batch stopped it


def test_early_stopping_restores_best_weights():
    config, model = tiny_model(epochs=30, batch_size=16, lr=0.05, patience=2)
    trainer = Trainer(model, config, "cpu")
    history = trainer.fit(toy_split(200), toy_split(seed=1))
    assert len(history) < 30  # stopped early ...
    assert len(history) == trainer.best_epoch + config.patience  # ... `patience` epochs after the best one
    best = max(history, key=lambda h: h["val_accuracy"])
    assert trainer.best_epoch == best["epoch"]
    assert trainer.evaluate(toy_split(seed=1))["accuracy"] == pytest.approx(best["val_accuracy"])


def pretrained_tiny_model(**overrides):
    from goemo_core.models.common import EmbeddingInit

    config = make_config("gru", {"embedding_dim": 16, "hidden_size": 16, "head_units": 16, **overrides})
    return config, build_model(config, 50, 0, EmbeddingInit(torch.randn(50, 24), "test"))


def test_frozen_embeddings_get_no_gradient_then_unfreeze():
    config, model = pretrained_tiny_model(epochs=2, batch_size=16, freeze_embedding_epochs=1)
    before = model.embedding.table.weight.detach().clone()
    trainer = Trainer(model, config, "cpu")
    trainer.config = dataclasses.replace(config, epochs=1)
    trainer.fit(toy_split(), toy_split(seed=1))
    assert torch.equal(before, model.embedding.table.weight)  # frozen during epoch 1
    trainer.config = dataclasses.replace(trainer.config, freeze_embedding_epochs=0)
    trainer.fit(toy_split(), toy_split(seed=1))
    assert not torch.equal(before, model.embedding.table.weight)


def test_random_embeddings_are_never_frozen():
    config, model = tiny_model(epochs=1, batch_size=16, freeze_embedding_epochs=-1)
    before = model.embedding.table.weight.detach().clone()
    Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1))
    assert not torch.equal(before, model.embedding.table.weight)


@pytest.mark.parametrize("option", [{"class_weights": True}, {"label_smoothing": 0.1}, {"balanced_sampler": True},
                                    {"scheduler": "multistep", "milestones": [1]}, {"scheduler": "plateau"},
                                    {"warmup_epochs": 1.0}, {"optimizer": "rmsprop"}, {"optimizer": "adam"},
                                    {"monitor": "val_macro_f1"}, {"batches_per_epoch": 2}])
def test_recipe_options_run(option):
    config, model = tiny_model(epochs=2, batch_size=16, **option)
    history = Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1))
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)


def test_multistep_and_warmup_change_the_learning_rate():
    config, model = tiny_model(epochs=3, batch_size=32, scheduler="multistep", milestones=[2], lr=0.01, gamma=0.1)
    history = Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1))
    assert history[0]["lr"] == pytest.approx(0.01) and history[2]["lr"] == pytest.approx(0.001)
    config, model = tiny_model(epochs=2, batch_size=32, scheduler="none", warmup_epochs=2, lr=0.01)
    history = Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1))
    assert history[0]["lr"] < history[1]["lr"] <= 0.01


def epoch_rates(monkeypatch, scheduler: str, epochs: int = 7, warmup_epochs: float = 0, **overrides) -> list[float]:
    """The history's lr (the rate the optimiser holds after each epoch), under a validation metric that never
    improves (so a plateau cut is certain)."""
    monkeypatch.setattr(Trainer, "evaluate", lambda self, *args, **kwargs: {"loss": 1.0, "accuracy": 50.0,
                                                                              "macro_f1": 0.5})
    config, model = tiny_model(epochs=epochs, batch_size=32, scheduler=scheduler, lr=0.01, gamma=0.1,
                               warmup_epochs=warmup_epochs, patience=100, ema_decay=0, **overrides)
    history = Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1))
    return [record["lr"] for record in history]


def test_every_schedule_sets_the_rate_the_optimiser_trains_with(monkeypatch):
    import math

    plateau = epoch_rates(monkeypatch, "plateau")  # best at epoch 1; patience 2: cut after epoch 4, again after 7
    assert plateau[:4] == pytest.approx([0.01] * 4) and plateau[4:7] == pytest.approx([0.001] * 3)
    assert epoch_rates(monkeypatch, "none") == pytest.approx([0.01] * 7)
    assert epoch_rates(monkeypatch, "multistep", milestones=[2, 5]) == pytest.approx(
        [0.01, 0.001, 0.001, 0.001, 0.0001, 0.0001, 0.0001])  # cut at the last step of epochs 2 and 5
    steps = 3  # 96 examples in batches of 32; the history shows the rate after each epoch's last step
    cosine = epoch_rates(monkeypatch, "cosine", epochs=4)
    assert cosine == pytest.approx([0.005 * (1 + math.cos(math.pi * e * steps / (4 * steps))) for e in range(1, 5)],
                                   abs=1e-12)


def test_a_warm_up_rises_linearly_then_hands_over_to_the_schedule(monkeypatch):
    rates = epoch_rates(monkeypatch, "plateau", epochs=6, warmup_epochs=2)
    assert rates[:2] == pytest.approx([0.01 * 4 / 6, 0.01])  # 6 warm-up steps, 3 per epoch: after step 3, 4/6
    assert rates[1:4] == pytest.approx([0.01] * 3) and rates[4:] == pytest.approx([0.001] * 2)  # the cut holds


def test_balanced_sampler_draws_classes_evenly():
    config, model = tiny_model(balanced_sampler=True)
    split = toy_split(700)
    split.labels[:600] = 0  # heavily imbalanced
    order = Trainer(model, config, "cpu")._epoch_order(split)
    share = (split.labels[order] == 0).float().mean()
    assert share < 0.3


@pytest.mark.parametrize("overrides, name", [({"hidden_size": 0}, "hidden_size"), ({"lr": -0.1}, "lr"),
                                             ({"nonsense": 1}, "nonsense"), ({"epochs": 0}, "epochs"),
                                             ({"optimizer": "sgdx"}, "optimizer"), ({"dropout": 2}, "dropout")])
def test_bad_settings_are_refused_naming_the_parameter(overrides, name):
    with pytest.raises(InvalidConfig, match=name):
        make_config("lstm", overrides)


def test_unknown_architecture_refused():
    with pytest.raises(InvalidConfig, match="arch"):
        make_config("cnn")


def test_bf16_probe_leaves_weights_untouched():
    config, model = tiny_model(precision="bf16")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, config, "cpu")
    split = toy_split()
    assert trainer_module.bf16_step_error(trainer, split, split.lengths) is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("precision, expected", [("bf16", "bf16"), ("auto", "fp32"), ("fp32", "fp32")])
def test_a_cpu_run_trains_and_validates_under_the_precision_it_records(precision, expected):
    config, model = tiny_model(epochs=1, batch_size=16, precision=precision)
    seen: list[tuple[bool, torch.dtype]] = []
    model.head.classifier.register_forward_hook(
        lambda module, args, out: seen.append((torch.is_autocast_enabled("cpu"), out.dtype)))
    trainer = Trainer(model, config, "cpu")
    history = trainer.fit(toy_split(), toy_split(seed=1))
    assert trainer.precision == expected and len(history) == 1 and math.isfinite(history[0]["train_loss"])
    dtype = torch.bfloat16 if expected == "bf16" else torch.float32
    assert seen and set(seen) == {(expected == "bf16", dtype)}  # every batch, training and validation alike


def test_bf16_failure_falls_back_to_fp32_under_auto(monkeypatch):
    monkeypatch.setattr(trainer_module, "bf16_step_error", lambda *a: "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")
    config, model = tiny_model(epochs=1, batch_size=16, precision="auto")
    trainer = Trainer(model, config, "cpu")
    assert config.precision == "auto" and not trainer.use_bf16
    trainer.use_bf16 = True  # what `auto` chooses on a GPU
    history = trainer.fit(toy_split(), toy_split(seed=1))
    assert len(history) == 1 and not trainer.use_bf16 and trainer.precision == "fp32"
    assert "CUDNN_STATUS_NOT_SUPPORTED" in trainer.notes[0] and "fp32" in trainer.notes[0]


def test_bf16_failure_is_refused_when_asked_for(monkeypatch):
    monkeypatch.setattr(trainer_module, "bf16_step_error", lambda *a: "not implemented for 'BFloat16'")
    config, model = tiny_model(epochs=1, precision="bf16")
    with pytest.raises(InvalidConfig, match="precision: bf16 does not run for gru"):
        Trainer(model, config, "cpu").fit(toy_split(), toy_split(seed=1))


def test_train_run_writes_a_complete_run_directory():
    config = make_config("lstm", dict(TINY, epochs=2))
    result = train_run(config)
    run = result.run
    assert run.status == "completed"
    assert {"config.json", "history.jsonl", "metrics.json", "model.safetensors", "tokenizer.json", "status",
            "test_predictions.csv", "info.json"} <= {p.name for p in run.path.iterdir()}
    assert len(run.history) == 2 and set(run.history[0]) >= {"train_loss", "train_accuracy", "val_loss",
                                                              "val_accuracy", "val_macro_f1", "lr", "seconds"}
    metrics = run.metrics
    assert sum(map(sum, metrics["confusion"])) == 200
    assert sum(c["support"] for c in metrics["per_class"].values()) == 200
    recorded = run.config
    assert recorded["arch"] == "lstm" and recorded["seed"] == 211 and recorded["device"] == "cpu"
    assert recorded["code_version"] and recorded["params"]["hidden_size"] == 16
    # fp32, or bf16 under the recipe of a CPU with native bf16: what ran is what the run records
    assert run.info["precision"] == ("bf16" if config.precision == "bf16" else "fp32") and run.info["notes"] == []
    assert recorded["recipe"] == config.recipe
    assert RunStore().get(run.run_id).summary()["test_accuracy"] == pytest.approx(metrics["accuracy"])


def test_cancelled_run_keeps_history_and_status():
    cancel = threading.Event()

    def stop_after_first(record):
        cancel.set()

    result = train_run(make_config("gru", dict(TINY, epochs=5)), on_epoch=stop_after_first, cancel=cancel)
    assert result.status == "cancelled" and result.run.status == "cancelled"
    assert len(result.run.history) == 1 and result.run.weights_path.is_file()


def test_failed_run_is_marked_failed(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(Trainer, "fit", explode)
    with pytest.raises(RuntimeError, match="out of memory"):
        train_run(make_config("gru", TINY))
    (run,) = RunStore().list()
    assert run.status == "failed" and "out of memory" in run.info["error"]


def test_pretrained_embeddings_initialise_the_table(pretrained):
    result = train_run(make_config("gru", dict(TINY, freeze_embedding_epochs=-1)))
    config = result.run.config
    assert config["pretrained"] == str(pretrained) and config["embedding_init_dim"] == 384
    assert config["vocab_size"] == 30522


def test_augmented_split_is_refused_when_missing():
    from goemo_core.errors import MissingResource

    with pytest.raises(MissingResource):
        train_run(make_config("gru", dict(TINY, augment="eda-missing")))


def test_weight_average_is_evaluated_kept_and_differs_from_the_raw_weights():
    config, model = tiny_model(epochs=3, batch_size=16, lr=0.01, ema_decay=0.9, patience=5)
    trainer = Trainer(model, config, "cpu")
    history = trainer.fit(toy_split(200), toy_split(seed=1))
    best = max(history, key=lambda h: h["val_accuracy"])
    assert trainer.best_epoch == best["epoch"]
    # the kept weights are the average's: evaluating them reproduces the recorded validation accuracy
    assert trainer.evaluate(toy_split(seed=1))["accuracy"] == pytest.approx(best["val_accuracy"])

    plain_config, plain_model = tiny_model(epochs=3, batch_size=16, lr=0.01, patience=5, ema_decay=0.0)
    plain = Trainer(plain_model, plain_config, "cpu")
    plain.fit(toy_split(200), toy_split(seed=1))
    differs = [not torch.equal(a, b) for a, b in zip(plain.best_state.values(), trainer.best_state.values())]
    assert any(differs)


def test_weight_average_follows_the_weights_and_skips_frozen_ones():
    model = torch.nn.Linear(3, 2)
    average = trainer_module.WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
        model.bias.requires_grad_(False)
        average.skip_frozen(model)
        model.bias.add_(1.0)
    before = {k: v.clone() for k, v in average.shadow.items()}
    average.update()  # step 1: weight (1 - min(0.5, 2/11)) = 9/11 of the way to the new weights
    torch.testing.assert_close(average.shadow["weight"], before["weight"] + 9 / 11)
    torch.testing.assert_close(average.shadow["bias"], before["bias"])  # frozen: not averaged
    own = model.weight.detach().clone()
    with average.applied(model):
        torch.testing.assert_close(model.weight.detach(), average.shadow["weight"])
    assert torch.equal(model.weight.detach(), own)


def test_ema_decay_is_checked():
    with pytest.raises(InvalidConfig, match="ema_decay"):
        make_config("gru", {"ema_decay": 1.0})


def test_class_weight_power_softens_the_inverse_frequency_weights():
    split = toy_split(140)
    weights = {}
    for power in (1.0, 0.5):
        config, model = tiny_model(class_weights=True, class_weight_power=power)
        weights[power] = Trainer(model, config, "cpu")._loss_fn(split).target_loss.weight
    counts = torch.bincount(split.labels, minlength=7).float()
    torch.testing.assert_close(weights[1.0], counts.sum() / (7 * counts))
    torch.testing.assert_close(weights[0.5], weights[1.0].sqrt())
    with pytest.raises(InvalidConfig, match="class_weight_power"):
        make_config("gru", {"class_weight_power": -1})


def test_adversarial_pass_moves_each_example_by_the_given_share_of_its_norm():
    from goemo_core.models.common import EmbeddingInit

    config, _ = tiny_model(adversarial=0.1, embedding_dropout=0.0)
    torch.manual_seed(0)
    init = EmbeddingInit(torch.randn(50, 16), "test")  # same width: no projection after the frozen table
    model = build_model(config, 50, 0, init)
    model.embedding.set_frozen(True)
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    trainer = Trainer(model, config, "cpu")
    split = toy_split(8)
    logits, loss = trainer._backward(split.ids, split.lengths, split.labels, torch.nn.CrossEntropyLoss())
    clean, moved = seen
    shift = (moved - clean).flatten(1).norm(dim=1)
    torch.testing.assert_close(shift, 0.1 * clean.flatten(1).norm(dim=1))
    assert logits.shape == (8, 7) and loss.item() > 0
    assert model.embedding.table.weight.grad is None  # the frozen table still gets no gradient
    assert model.head.classifier.weight.grad.abs().sum() > 0

    plain_config, _ = tiny_model(embedding_dropout=0.0)
    plain = build_model(plain_config, 50, 0, init)
    plain.load_state_dict(model.state_dict())
    Trainer(plain, plain_config, "cpu")._backward(split.ids, split.lengths, split.labels, torch.nn.CrossEntropyLoss())
    # the adversarial loss adds its own gradient to the clean one
    assert not torch.allclose(plain.head.classifier.weight.grad, model.head.classifier.weight.grad)


def test_adversarial_finds_a_pretrained_encoders_word_embeddings():
    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.words = torch.nn.Embedding(10, 4)

        def get_input_embeddings(self):
            return self.words

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder()

    wrapped = Wrapped()
    assert trainer_module.input_embedding(wrapped) is wrapped.encoder.words
    with pytest.raises(InvalidConfig, match="adversarial"):
        trainer_module.input_embedding(torch.nn.Linear(2, 2))
    with pytest.raises(InvalidConfig, match="adversarial"):
        make_config("gru", {"adversarial": 2})


def test_soft_labels_mix_the_primary_label_with_all_of_its_groups():
    from goemo_core.data.goemotions import EKMAN_CLASSES, ekman_distribution, primary_label

    labels = [2, 17]  # anger, joy: the tie goes to anger
    shares = ekman_distribution(labels)
    assert shares[EKMAN_CLASSES.index("anger")] == shares[EKMAN_CLASSES.index("joy")] == 0.5
    split = toy_split(4)
    split.distributions = torch.tensor([shares] * 4)
    split.labels = torch.full((4,), primary_label(labels))
    config, model = tiny_model(soft_labels=0.5)
    targets = Trainer(model, config, "cpu")._targets(split, torch.arange(4), split.labels).labels
    assert targets[0, EKMAN_CLASSES.index("anger")] == 0.75 and targets[0, EKMAN_CLASSES.index("joy")] == 0.25
    torch.testing.assert_close(targets.sum(1), torch.ones(4))
    off_config, off_model = tiny_model(soft_labels=0.0)
    assert torch.equal(Trainer(off_model, off_config, "cpu")._targets(split, torch.arange(4), split.labels).labels,
                       split.labels)
    with pytest.raises(InvalidConfig, match="soft_labels"):
        make_config("gru", {"soft_labels": 1.5})


def test_soft_labels_change_what_a_run_learns():
    from goemo_core.training.prepare import prepare_data

    data = prepare_data(make_config("gru", TINY))
    shares = data.train.distributions
    assert shares.shape == (200, 7)
    torch.testing.assert_close(shares.sum(1), torch.ones(200))
    assert (shares.max(1).values < 1).sum() > 0  # some examples have labels in several groups
    losses = [train_run(make_config("gru", dict(TINY, soft_labels=w))).history[0]["train_loss"] for w in (0.0, 1.0)]
    assert losses[0] != pytest.approx(losses[1])


@pytest.mark.slow
def test_distilled_vectors_are_computed_once_and_initialise_the_table(pretrained):
    from goemo_core.data.text import load_pretrained_tokenizer
    from goemo_core.models.common import distilled_embeddings, load_pretrained_embeddings
    from goemo_core.settings import get_settings

    result = train_run(make_config("gru", dict(TINY, pretrained_vectors="distilled", freeze_embedding_epochs=-1)))
    assert result.run.config["pretrained_vectors"] == "distilled" and result.run.config["embedding_init_dim"] == 384
    (cached,) = (get_settings().cache_dir / "distilled").glob("*.safetensors")
    table = result.run.load_weights()["embedding.table.weight"]
    inputs = load_pretrained_embeddings(str(pretrained)).weight
    assert table.shape == inputs.shape and not torch.allclose(table, inputs)
    torch.testing.assert_close(table.norm(dim=1).mean(), inputs.norm(dim=1).mean())  # rescaled to the same size
    tokenizer = load_pretrained_tokenizer(str(pretrained))
    again = distilled_embeddings(str(pretrained), tokenizer, get_settings().cache_dir)  # from the cache file
    assert torch.equal(again.weight, table) and cached.is_file()

    def similarity(a, b):
        u, v = (table[tokenizer.token_to_id(w)] for w in (a, b))
        return float(torch.nn.functional.cosine_similarity(u, v, dim=0))

    assert similarity("happy", "glad") > similarity("happy", "table")
    with pytest.raises(InvalidConfig, match="pretrained_vectors"):
        make_config("gru", {"pretrained_vectors": "glove"})


@pytest.mark.parametrize("buckets", [False, True])
def test_an_epoch_visits_every_example_once(buckets):
    config, model = tiny_model(batch_size=16, length_buckets=buckets)
    trainer = Trainer(model, config, "cpu")
    split = toy_split(n=1000, length=30)
    batches = trainer._epoch_batches(split)
    order = torch.cat(batches)
    assert sorted(order.tolist()) == list(range(1000))  # every example, once
    assert sorted(len(b) for b in batches) == [8] + [16] * 62  # full batches but one
    widths = sum(int(split.lengths[b].max()) for b in batches)
    if buckets:  # similar lengths together: narrower padded batches than random ones
        shuffled = tiny_model(batch_size=16, length_buckets=False)[0]
        random_widths = sum(int(split.lengths[b].max()) for b in Trainer(model, shuffled, "cpu")._epoch_batches(split))
        assert widths < 0.8 * random_widths
        assert trainer._epoch_batches(split)[0].tolist() != batches[0].tolist()  # a new order each epoch


def test_length_buckets_train_and_are_recorded():
    result = train_run(make_config("gru", dict(TINY, length_buckets=True)))
    assert result.status == "completed" and result.run.config["length_buckets"] is True
