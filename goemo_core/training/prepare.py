"""From a TrainConfig to what training needs: the splits tokenised once (cached), the vectors that initialise the
embedding, and the model built from the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..augment import load_augmented_rows
from ..augment.transfer import transfer_variants
from ..data.goemotions import data_fingerprint, limit_split, load_goemotions
from ..data.tasks import get_task
from ..data.text import EncodedSplit, encode_split, get_tokenizer
from ..models import get_architecture, load_pretrained_embeddings, resolve_params
from ..models.common import EmbeddingInit, distilled_embeddings
from ..settings import Settings, ensure_home, get_settings
from .config import TrainConfig, pretrained_source
from .teachers import check_teachers, teacher_probabilities

Encode = Callable[[list[str], list[int]], EncodedSplit]


@dataclass
class PreparedData:
    tokenizer: Any
    train: EncodedSplit
    validation: EncodedSplit
    test: EncodedSplit
    test_texts: list[str]
    test_ids: list[str]
    embedding_init: EmbeddingInit | None
    pretrained: str | None
    data_key: str


def prepare_data(config: TrainConfig, settings: Settings | None = None,
                 log: Callable[[str], None] = lambda message: None) -> PreparedData:
    """Load the splits, build the task's targets, swap in the augmented train split if asked (the `ekman` task
    only), add the transfer variants if asked, tokenise everything once (cached)."""
    settings = settings or get_settings()
    data, task = load_goemotions(settings), get_task(config.task)
    splits = {name: limit_split(data[name], config.limit) for name in ("train", "validation", "test")}
    targets = {name: task.targets(split["labels"]) for name, split in splits.items()}
    train_texts, train_labels = list(splits["train"]["text"]), targets["train"]
    shares = [task.shares(ids) for ids in splits["train"]["labels"]]
    if config.augment:
        extra_texts, extra_labels = load_augmented_rows(config.augment, settings, limit=config.limit)
        train_texts, train_labels = train_texts + extra_texts, train_labels + extra_labels
        shares += [[float(label == c) for c in range(task.num_labels)] for label in extra_labels]  # primary only
    teachers = check_teachers(config, settings) if config.teachers else []  # refused before any augmentation
    variant_texts = transfer_texts(config, list(splits["train"]["text"]), settings, log)
    source = pretrained_source(config, settings)
    data_key = data_fingerprint(train_texts + variant_texts)
    ensure_home(settings)
    tokenizer = get_tokenizer(train_texts + variant_texts, source, settings.cache_dir, data_key)
    cache = settings.cache_dir

    def encode(texts, labels):
        return encode_split(tokenizer, texts, labels, config.max_length, cache)

    train = encode(train_texts, train_labels)
    train.distributions = torch.tensor(shares, dtype=torch.float32)
    if teachers:  # validation and test are never shown to a teacher
        train.teacher = teacher_probabilities(teachers, train_texts, cache)
        if variant_texts:
            train = joined(train, transfer_split(encode, teacher_probabilities(teachers, variant_texts, cache),
                                                 variant_texts))
    return PreparedData(
        tokenizer=tokenizer,
        train=train,
        validation=encode(list(splits["validation"]["text"]), targets["validation"]),
        test=encode(list(splits["test"]["text"]), targets["test"]),
        test_texts=list(splits["test"]["text"]),
        test_ids=list(splits["test"]["id"]),
        embedding_init=embedding_vectors(config, source, tokenizer, settings),
        pretrained=source,
        data_key=data_key,
    )


def transfer_texts(config: TrainConfig, train_texts: list[str], settings: Settings,
                   log: Callable[[str], None]) -> list[str]:
    """The transfer variants' texts, made from the train split's sentences only; none when transfer_augment is 0.
    They are data, seeded by `transfer_seed` (not the student's seed), so a student's seeds share one set."""
    if not config.transfer_augment:
        return []
    seed = config.seed if config.transfer_seed is None else config.transfer_seed
    return [text for _, text in transfer_variants(train_texts, config.transfer_augment, seed, settings, log=log)]


def transfer_split(encode: Encode, probabilities: torch.Tensor, texts: list[str]) -> EncodedSplit:
    """Transfer variants, learnt from the teachers' probabilities alone: their own label's weight is 0. The label
    kept is the teachers' top class, for what needs one class per example (train accuracy, class counts)."""
    split = encode(texts, probabilities.argmax(-1).tolist())
    split.distributions, split.teacher = probabilities, probabilities
    split.hard = torch.zeros(len(texts))
    return split


def joined(first: EncodedSplit, second: EncodedSplit) -> EncodedSplit:
    """Two encoded splits one after the other; an example without a hard-label weight has weight 1."""
    def both(a: torch.Tensor | None, b: torch.Tensor | None, fill: float | None = None) -> torch.Tensor | None:
        if fill is not None:
            a = torch.full((len(first),), fill) if a is None else a
            b = torch.full((len(second),), fill) if b is None else b
        return None if a is None or b is None else torch.cat([a, b])

    return EncodedSplit(both(first.ids, second.ids), both(first.lengths, second.lengths),
                        both(first.labels, second.labels), both(first.distributions, second.distributions),
                        both(first.teacher, second.teacher), both(first.hard, second.hard, fill=1.0))


def embedding_vectors(config: TrainConfig, source: str | None, tokenizer,
                      settings: Settings) -> EmbeddingInit | None:
    """The vectors that initialise the token embedding; a fine-tuned encoder keeps its own input embeddings."""
    if not source:
        return None
    if config.pretrained_vectors == "distilled" and not get_architecture(config.arch).needs_pretrained:
        return distilled_embeddings(source, tokenizer, settings.cache_dir)
    return load_pretrained_embeddings(source)


def build_model(config: TrainConfig, vocab_size: int, pad: int, init: EmbeddingInit | None,
                device: str = "cpu") -> nn.Module:
    spec = get_architecture(config.arch)
    params = spec.run_params(resolve_params(spec, config.params), device, config.max_length)
    return spec.build(params, vocab_size, pad, get_task(config.task).num_labels, init)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def build_notes(model: nn.Module) -> list[str]:
    """What the model's parts say about how they were built (e.g. an xLSTM whose sLSTM kernel fell back)."""
    return [note for module in model.modules() for note in getattr(module, "notes", None) or []]
