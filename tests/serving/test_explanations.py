"""Explanations: Integrated Gradients over the input embeddings of every architecture (completeness against the
model's own outputs, within Captum's convergence delta), words rebuilt from word pieces, the CLI for runs of all
five architectures, and the deletion check on a trained tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import PRETRAINED_DIR, TINY_MODELS, unavailable

from goemo_core.cli import main
from goemo_core.models import architectures, get_architecture, load_pretrained_embeddings, resolve_params
from goemo_core.serving.explanations import (DELTA_TOLERANCE, attribute, class_probabilities, convergence_note,
                                              embedding_layer, words_of, zero_padding_embedding)

TINY = TINY_MODELS
VOCAB, PAD, CLASSES = 60, 0, 7


@pytest.fixture(scope="module")
def encoder_embeddings():
    if not Path(PRETRAINED_DIR).exists():
        unavailable(f"no local encoder at {PRETRAINED_DIR}")
    return load_pretrained_embeddings(str(PRETRAINED_DIR))


def tiny_model(name: str, init=None) -> tuple[torch.nn.Module, int]:
    """A freshly initialised tiny model of the architecture in eval mode, its embeddings from `init` (the local
    MiniLM encoder's, as GOEMO_PRETRAINED sets them up) or learnt from scratch, and its vocabulary size."""
    spec = get_architecture(name)
    vocab = init.weight.shape[0] if init is not None else VOCAB
    torch.manual_seed(3)
    params = spec.run_params(resolve_params(spec, TINY[name]), "cpu", 30)
    return spec.build(params, vocab, PAD, CLASSES, init).eval(), vocab


def random_batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two right-padded texts of 7 and 4 tokens (an encoder's ordinary word pieces, past its special tokens)."""
    generator = torch.Generator().manual_seed(5)
    lengths = torch.tensor([7, 4])
    ids = torch.full((2, 7), PAD)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(1000 if vocab > 1000 else 1, vocab, (int(length),), generator=generator)
    return ids, lengths


@pytest.mark.parametrize("multi_label", [False, True], ids=["softmax", "sigmoid"])
@pytest.mark.parametrize("name", sorted(architectures()))
def test_attributions_add_up_to_the_change_in_probability_for_every_architecture(name, multi_label,
                                                                                 encoder_embeddings):
    model, vocab = tiny_model(name, encoder_embeddings)
    ids, lengths = random_batch(vocab)
    baseline = torch.full_like(ids, PAD)
    targets = torch.tensor([2, 5])
    attributions, delta = attribute(model, multi_label, ids, lengths, baseline, targets, steps=64)
    with torch.no_grad():  # f(x) and f(baseline) from the model itself, not from Captum
        at_text = class_probabilities(model, multi_label, ids, lengths)[torch.arange(2), targets].double().numpy()
        at_baseline = class_probabilities(model, multi_label, baseline, lengths)[torch.arange(2), targets] \
            .double().numpy()
    assert attributions.shape == (2, 7) and np.isfinite(attributions).all()
    assert np.all(attributions[1, 4:] == 0)  # padding equals the baseline there: nothing to attribute
    gap = attributions.sum(1) - (at_text - at_baseline)
    np.testing.assert_allclose(gap, delta, atol=1e-5)  # Captum's delta is exactly the completeness gap
    assert np.all(np.abs(delta) < DELTA_TOLERANCE), delta  # and small: the 64-step integral converged
    assert np.abs(at_text - at_baseline).max() > 1e-4  # the text moves the probability: there is something to split


def test_a_zero_padding_embedding_is_singular_for_a_model_that_normalises_its_inputs():
    """Learnt from scratch, the padding row stays zero; RWKV's first LayerNorm is singular there, so the integral
    cannot converge, and the explanation says why instead of showing attributions that do not add up."""
    model, vocab = tiny_model("rwkv")
    ids, lengths = random_batch(vocab)
    _, delta = attribute(model, False, ids, lengths, torch.full_like(ids, PAD), torch.tensor([2, 5]), steps=64)
    assert np.abs(delta).max() > DELTA_TOLERANCE
    holder = SimpleNamespace(model=model, encoder=SimpleNamespace(pad=PAD))
    assert zero_padding_embedding(holder) and "zero vector" in convergence_note(holder, float(delta[0]), 64)
    gru, _ = tiny_model("gru")  # no normalisation: the same zero baseline is no problem
    _, delta = attribute(gru, False, ids, lengths, torch.full_like(ids, PAD), torch.tensor([2, 5]), steps=64)
    assert np.abs(delta).max() < DELTA_TOLERANCE


def test_the_attributed_layer_is_the_input_embedding(encoder_embeddings):
    model, _ = tiny_model("gru", encoder_embeddings)
    assert embedding_layer(model) is model.embedding.table  # before the projection to the model's width
    transformer, _ = tiny_model("transformer", encoder_embeddings)
    assert embedding_layer(transformer) is transformer.encoder.embeddings.word_embeddings


def test_word_pieces_are_joined_back_into_words():
    from tokenizers import Tokenizer

    from goemo_core.data.text import without_length_settings

    tokenizer = without_length_settings(Tokenizer.from_file(str(PRETRAINED_DIR / "tokenizer.json")))
    text = "Unbelievably <b>angry</b>!"
    encoding = tokenizer.encode(text)
    attributions = np.arange(len(encoding.ids), dtype=float)
    words = words_of(text, encoding, attributions)
    assert [w["word"] for w in words] == ["Unbelievably", "<", "b", ">", "angry", "<", "/", "b", ">", "!"]
    first = words[0]
    pieces = [i for i, w in enumerate(encoding.word_ids) if w == 0]
    assert first["tokens"] == len(pieces) > 1 and first["attribution"] == pytest.approx(attributions[pieces].sum())
    assert sum(w["attribution"] for w in words) == pytest.approx(attributions[1:-1].sum())  # [CLS] [SEP] left out


# --- runs of every architecture, through the CLI --------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An artifacts folder with a tiny completed run of each architecture, embeddings from the local encoder (the
    project's default, GOEMO_PRETRAINED; the GRU trained a little longer for the deletion check), trained once for
    this module."""
    from conftest import DATA_DIR

    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    if not Path(PRETRAINED_DIR).exists():
        unavailable(f"no local encoder at {PRETRAINED_DIR}")
    home = tmp_path_factory.mktemp("explain") / "home"
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOEMO_HOME", str(home))
        mp.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        mp.setenv("GOEMO_DEVICE", "cpu")
        for name in sorted(architectures()):
            pretrained = str(PRETRAINED_DIR)
            epochs, limit = (3, 400) if name == "gru" else (1, 120)
            config = make_config(name, {"limit": limit, "epochs": epochs, "patience": epochs, "device": "cpu",
                                        "pretrained": pretrained, "batch_size": 32}, params=TINY[name])
            result = train_run(config)
            assert result.status == "completed"
            runs[name] = result.run.run_id
    return home, runs


def cli_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(architectures()))
def test_explain_returns_tokens_attributions_and_delta_for_every_architecture(tiny_runs, name, monkeypatch, capsys):
    home, runs = tiny_runs
    monkeypatch.setenv("GOEMO_HOME", str(home))
    document = cli_json(capsys, "explain", runs[name], "I am so angry right now")
    assert document["arch"] == name and document["predicted"] == document["class"]
    assert document["probability"] == pytest.approx(max(document["probabilities"].values()))
    assert abs(document["convergence_delta"]) < 0.01
    assert document["attribution_sum"] == pytest.approx(
        document["probability"] - document["baseline_probability"] + document["convergence_delta"], abs=1e-6)
    assert [w["word"] for w in document["words"]] == ["I", "am", "so", "angry", "right", "now"]
    real = [t for t in document["tokens"] if not t["special"]]
    assert sum(w["tokens"] for w in document["words"]) == len(real)
    assert all(t["attribution"] == 0 for t in document["tokens"] if t["special"])

    picked = cli_json(capsys, "explain", runs[name], "I am so angry right now", "--class", "Sadness")
    assert picked["class"] == "sadness" and picked["probability"] == pytest.approx(
        picked["probabilities"]["sadness"])


@pytest.mark.slow
def test_explain_refuses_an_unknown_class_an_empty_text_and_an_ensemble(tiny_runs, monkeypatch, capsys):
    home, runs = tiny_runs
    monkeypatch.setenv("GOEMO_HOME", str(home))
    assert main(["explain", runs["gru"], "I am so angry", "--class", "rage"]) == 2
    assert "not a label of task ekman" in capsys.readouterr().err
    assert main(["explain", runs["gru"], "   "]) == 2
    assert main(["explain", "no-such-run", "hello"]) == 3
    ensemble = cli_json(capsys, "ensemble", "--runs", runs["lstm"], runs["rwkv"])  # same data (limit)
    assert main(["explain", ensemble["run_id"], "hello there"]) == 2
    assert "ensemble: explain one of its members" in capsys.readouterr().err


@pytest.mark.slow
def test_deleting_the_most_attributed_tokens_lowers_the_prediction_more_than_random_tokens(tiny_runs, monkeypatch,
                                                                                           capsys):
    home, runs = tiny_runs
    monkeypatch.setenv("GOEMO_HOME", str(home))
    document = cli_json(capsys, "explain", runs["gru"], "--deletion-check", "100", "--steps", "20")
    assert document["texts"] == 100 and document["k"] == 3 and document["split"] == "validation"
    assert document["mean_drop_top"] > document["mean_drop_random"]
    assert document["top_beats_random"] is True and document["top_drop_larger_share"] > 0.5
    assert document["max_abs_delta"] < 0.01
