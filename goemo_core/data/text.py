"""Tokenizers and whole-split integer encoding (one pass, cached on disk)."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import MissingResource
from ..runs.atomic import save_tensors, write_with

PAD, UNK = "[PAD]", "[UNK]"
LEARNT_VOCAB_SIZE = 12000
DEFAULT_MAX_LENGTH = 30
_LOCK = threading.Lock()


@dataclass
class EncodedSplit:
    """A split as fixed-length token ids, true lengths (≥ 1) and Ekman labels."""

    ids: torch.Tensor  # int64 [N, max_length], right-padded with pad_id
    lengths: torch.Tensor  # int64 [N]
    labels: torch.Tensor  # int64 [N]
    distributions: torch.Tensor | None = None  # float32 [N, C]: each example's share of labels per Ekman group
    teacher: torch.Tensor | None = None  # float32 [N, C]: teachers' probabilities (train split, distillation)
    hard: torch.Tensor | None = None  # float32 [N]: weight of the example's own label (0: a transfer variant)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to(self, device: str | torch.device) -> "EncodedSplit":
        def move(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.to(device)

        return EncodedSplit(self.ids.to(device), self.lengths.to(device), self.labels.to(device),
                            move(self.distributions), move(self.teacher), move(self.hard))


def learn_tokenizer(texts: Sequence[str], vocab_size: int = LEARNT_VOCAB_SIZE):
    """A lower-casing WordPiece vocabulary learnt from `texts` (the train split). The merges are chosen here, not by
    the tokenizers library's trainer: that one breaks ties between equally frequent pairs in hash-map order, which
    changes from process to process, so the same texts gave different vocabularies (and different runs). Here ties
    go to the alphabetically first pair, and the same texts always give the same file, byte for byte."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    tokenizer = Tokenizer(models.WordPiece({PAD: 0, UNK: 1}, unk_token=UNK))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    words: Counter[str] = Counter()
    for text in texts:
        normalized = tokenizer.normalizer.normalize_str(str(text))
        words.update(word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized))
    vocab = wordpiece_vocab(words, vocab_size, min_frequency=2, specials=(PAD, UNK))
    tokenizer.model = models.WordPiece(vocab, unk_token=UNK)
    tokenizer.add_special_tokens([PAD, UNK])
    return tokenizer


def wordpiece_vocab(words: dict[str, int], vocab_size: int, min_frequency: int = 2,
                    specials: Sequence[str] = (PAD, UNK), prefix: str = "##") -> dict[str, int]:
    """Token → id: the special tokens, every character (and its "##" continuation form), then the merges of
    adjacent pieces, most frequent pair first (ties: the alphabetically first pair), until `vocab_size` tokens or
    no pair occurs `min_frequency` times. The WordPiece training of BERT and of the tokenizers library, with a
    deterministic order."""
    vocab: dict[str, int] = {}

    def add(token: str) -> None:
        vocab.setdefault(token, len(vocab))

    for token in specials:
        add(token)
    order = sorted(words)
    symbols = [[word[0], *(prefix + c for c in word[1:])] for word in order]
    counts = [words[word] for word in order]
    alphabet: Counter[str] = Counter()
    for pieces, count in zip(symbols, counts):
        for piece in pieces:
            alphabet[piece] += count
    for piece in sorted(alphabet, key=lambda piece: (piece.startswith(prefix), -alphabet[piece], piece)):
        add(piece)

    pair_counts: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)  # pair → the words it occurs in
    for i, (pieces, count) in enumerate(zip(symbols, counts)):
        for pair in zip(pieces, pieces[1:]):
            pair_counts[pair] += count
            where[pair].add(i)
    heap = [(-count, a, b) for (a, b), count in pair_counts.items() if count >= min_frequency]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, a, b = heapq.heappop(heap)
        if pair_counts.get((a, b), 0) != -negative:  # stale: the pair's current count has its own entry
            continue
        merged = a + (b[len(prefix):] if b.startswith(prefix) else b)
        add(merged)
        changed = set()
        for i in sorted(where.pop((a, b), ())):
            pieces, count = symbols[i], counts[i]
            before = list(zip(pieces, pieces[1:]))
            joined, j = [], 0
            while j < len(pieces):
                if j + 1 < len(pieces) and pieces[j] == a and pieces[j + 1] == b:
                    joined.append(merged)
                    j += 2
                else:
                    joined.append(pieces[j])
                    j += 1
            symbols[i] = joined
            after = list(zip(joined, joined[1:]))
            for pair in before:
                pair_counts[pair] -= count
            for pair in after:
                pair_counts[pair] += count
                where[pair].add(i)
            for pair in set(before) - set(after):
                if pair != (a, b):
                    where[pair].discard(i)
            changed.update(before, after)
        pair_counts.pop((a, b), None)
        for pair in sorted(changed):
            count = pair_counts.get(pair, 0)
            if count >= min_frequency and pair != (a, b):
                heapq.heappush(heap, (-count, *pair))
    return vocab


def load_pretrained_tokenizer(name_or_path: str):
    """The tokenizer of a Hugging Face encoder: a local folder with tokenizer.json, or a hub id."""
    from tokenizers import Tokenizer

    folder = Path(name_or_path).expanduser()
    try:
        if folder.is_dir():
            if not (folder / "tokenizer.json").is_file():
                raise MissingResource(f"{folder} has no tokenizer.json: GOEMO_PRETRAINED must name a Hugging Face "
                                      "encoder folder (or hub id) with a fast tokenizer.")
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        else:
            tokenizer = Tokenizer.from_pretrained(name_or_path)
    except MissingResource:
        raise
    except Exception as exc:
        raise MissingResource(f"Could not load the tokenizer of '{name_or_path}' ({type(exc).__name__}: "
                              f"{str(exc)[:150]}). Set GOEMO_PRETRAINED to a local encoder folder, or unset it "
                              "to learn a vocabulary from the train split.") from None
    return without_length_settings(tokenizer)


def without_length_settings(tokenizer):
    """Drop padding/truncation shipped in a tokenizer.json: lengths are decided by `encode_texts` alone."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def tokenizer_key(tokenizer) -> str:
    return hashlib.sha256(tokenizer.to_str().encode()).hexdigest()[:16]


def pad_id(tokenizer) -> int:
    token_id = tokenizer.token_to_id(PAD)
    return 0 if token_id is None else int(token_id)


def get_tokenizer(train_texts: Sequence[str], pretrained: str | None, cache_dir: Path, data_key: str):
    """The pretrained tokenizer when `pretrained` is set, else a learnt one (cached by data fingerprint)."""
    if pretrained:
        return load_pretrained_tokenizer(pretrained)
    from tokenizers import Tokenizer

    # "v2": vocabularies learnt before the deterministic learner are not reused.
    path = Path(cache_dir) / "tokenizers" / f"wordpiece-v2-{LEARNT_VOCAB_SIZE}-{data_key}.json"
    with _LOCK:
        if path.is_file():
            try:
                return Tokenizer.from_file(str(path))
            except Exception:  # a corrupt cache entry is rebuilt, never trusted
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
        tokenizer = learn_tokenizer(train_texts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_with(path, lambda tmp: tokenizer.save(str(tmp)))
        except Exception:  # a cache that cannot be written (the library raises plain Exceptions) costs time only
            pass
        return tokenizer


class TextEncoder:
    """Texts → token ids [N, max_length] (right-padded) and true lengths [N] (at least 1), in one batched pass,
    exactly as training encoded them. Holds a private truncating copy of the tokenizer (truncation settings are per
    instance), made once: a Predictor keeps one for all its calls."""

    def __init__(self, tokenizer, max_length: int = DEFAULT_MAX_LENGTH):
        from tokenizers import Tokenizer

        self.worker = Tokenizer.from_str(tokenizer.to_str())
        self.worker.enable_truncation(max_length)
        self.worker.no_padding()
        self.max_length, self.pad = max_length, pad_id(tokenizer)

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encodings = self.worker.encode_batch([str(t) for t in texts])
        ids = np.full((len(encodings), self.max_length), self.pad, dtype=np.int64)
        lengths = np.ones(len(encodings), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            lengths[row] = max(n, 1)  # an empty text is one pad token: packed RNNs need length ≥ 1
        return torch.from_numpy(ids), torch.from_numpy(lengths)


def encode_texts(tokenizer, texts: Sequence[str], max_length: int = DEFAULT_MAX_LENGTH):
    """Token ids and true lengths of `texts` (see TextEncoder)."""
    return TextEncoder(tokenizer, max_length)(texts)


def token_lengths(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Untruncated token counts (without special tokens), for the length histogram."""
    encodings = tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=False)
    return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))


def encode_split(tokenizer, texts: Sequence[str], labels: Sequence[int], max_length: int,
                 cache_dir: Path | None = None) -> EncodedSplit:
    """Encode a whole split once; reuse the cached tensors when tokenizer, texts and max_length match."""
    from .goemotions import data_fingerprint

    if cache_dir is None:
        ids, lengths = encode_texts(tokenizer, texts, max_length)
        return EncodedSplit(ids, lengths, torch.as_tensor(list(labels), dtype=torch.int64))
    from safetensors.torch import load_file

    key = f"{tokenizer_key(tokenizer)}-{data_fingerprint(texts)}-{max_length}"
    path = Path(cache_dir) / "encoded" / f"{key}.safetensors"
    label_tensor = torch.as_tensor(list(labels), dtype=torch.int64)
    if path.is_file():
        try:
            cached = load_file(str(path))
            ids, lengths = cached["ids"], cached["lengths"]
            if tuple(ids.shape) == (len(texts), max_length) and tuple(lengths.shape) == (len(texts),):
                return EncodedSplit(ids, lengths, label_tensor)
            raise ValueError("cached tensors of another shape")
        except Exception:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # a corrupt cache entry is rebuilt, never trusted
    ids, lengths = encode_texts(tokenizer, texts, max_length)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors(path, {"ids": ids, "lengths": lengths})
    except Exception:  # a cache that cannot be written costs time, not the run
        pass
    return EncodedSplit(ids, lengths, label_tensor)


def split_token_lengths(settings=None) -> "pandas.DataFrame":  # noqa: F821
    """Untruncated token counts of every example, per split, with the tokenizer training would use
    (GOEMO_PRETRAINED's, else the WordPiece vocabulary learnt from the train split)."""
    import pandas as pd

    from ..settings import ensure_home, get_settings
    from .goemotions import SPLITS, data_fingerprint, load_goemotions

    settings = settings or get_settings()
    data = load_goemotions(settings)
    train_texts = list(data["train"]["text"])
    ensure_home(settings)
    tokenizer = get_tokenizer(train_texts, settings.pretrained, settings.cache_dir, data_fingerprint(train_texts))
    frames = [pd.DataFrame({"split": split, "tokens": token_lengths(tokenizer, list(data[split]["text"]))})
              for split in SPLITS]
    return pd.concat(frames, ignore_index=True)
