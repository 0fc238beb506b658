"""Tokenizers and whole-split encoding."""

import torch

from goemo_core.data import text
from goemo_core.data.goemotions import load_goemotions


def test_learnt_tokenizer_and_encoding_are_stable(tmp_path):
    texts = list(load_goemotions()["train"]["text"][:2000])
    tok = text.learn_tokenizer(texts, vocab_size=2000)
    assert text.pad_id(tok) == 0
    ids1, lengths1 = text.encode_texts(tok, texts, 30)
    ids2, lengths2 = text.encode_texts(tok, texts, 30)
    assert torch.equal(ids1, ids2) and torch.equal(lengths1, lengths2)
    assert ids1.shape == (2000, 30) and ids1.dtype == torch.int64
    assert int(lengths1.max()) <= 30 and int(lengths1.min()) >= 1
    # positions past the true length are padding
    mask = torch.arange(30)[None, :] >= lengths1[:, None]
    assert bool((ids1[mask] == 0).all())


def test_empty_text_has_length_one():
    tok = text.learn_tokenizer(["a b c", "b c d"] * 20, vocab_size=100)
    ids, lengths = text.encode_texts(tok, ["", "a b"], 8)
    assert lengths.tolist() == [1, 2]


def test_cached_encoding_round_trips(tmp_path):
    texts = ["i am happy", "so sad today", "what?"]
    tok = text.learn_tokenizer(texts * 10, vocab_size=100)
    first = text.encode_split(tok, texts, [3, 4, 5], 10, tmp_path)
    files = list((tmp_path / "encoded").glob("*.safetensors"))
    assert len(files) == 1
    second = text.encode_split(tok, texts, [3, 4, 5], 10, tmp_path)
    assert torch.equal(first.ids, second.ids) and second.labels.tolist() == [3, 4, 5]
    files[0].write_bytes(b"garbage")  # a corrupt cache entry is rebuilt
    third = text.encode_split(tok, texts, [3, 4, 5], 10, tmp_path)
    assert torch.equal(first.ids, third.ids)


def test_pretrained_tokenizer_is_bert_wordpiece(pretrained, tmp_path):
    tok = text.get_tokenizer(["x"], str(pretrained), tmp_path, "k")
    assert tok.get_vocab_size() == 30522
    ids, lengths = text.encode_texts(tok, ["I love this!", "word " * 100], 30)
    assert lengths.tolist()[1] == 30 and ids[0, 0] == tok.token_to_id("[CLS]")
    assert text.token_lengths(tok, ["hello world"]).tolist() == [2]  # no padding shipped in tokenizer.json


def test_learnt_tokenizer_cached_on_disk(tmp_path):
    texts = ["hello world"] * 50
    text.get_tokenizer(texts, None, tmp_path, "abc")
    assert list((tmp_path / "tokenizers").glob("*abc.json"))


def test_learnt_vocabulary_is_deterministic_and_breaks_ties_alphabetically():
    texts = list(load_goemotions()["train"]["text"][:500])
    first, second = text.learn_tokenizer(texts), text.learn_tokenizer(list(reversed(texts)))
    assert first.to_str() == second.to_str()  # the order of the texts does not matter either
    vocab = text.wordpiece_vocab({"ab": 2, "cd": 2}, vocab_size=100)
    assert list(vocab) == ["[PAD]", "[UNK]", "a", "c", "##b", "##d", "ab", "cd"]  # equal counts: 'ab' first
    assert text.wordpiece_vocab({"ab": 1, "cd": 1}, vocab_size=100).keys().isdisjoint({"ab", "cd"})  # min frequency
    assert len(text.wordpiece_vocab({"abc": 5, "abd": 4}, vocab_size=7)) == 7  # stops at the size asked for


def test_corrupt_tokenizer_cache_is_rebuilt(tmp_path):
    texts = ["hello world", "hello there"] * 20
    built = text.get_tokenizer(texts, None, tmp_path, "k")
    [path] = (tmp_path / "tokenizers").glob("*k.json")
    path.write_bytes(b"\x00garbage{")
    again = text.get_tokenizer(texts, None, tmp_path, "k")
    from tokenizers import Tokenizer

    assert again.to_str() == built.to_str() == Tokenizer.from_file(str(path)).to_str()  # the file is whole again
