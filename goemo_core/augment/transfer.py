"""The transfer set for distillation (Tang et al., 2019): N EDA variants of every train sentence, which a student
learns from the teachers' probabilities alone. Variants are drawn from the train texts given (never validation or
test), deterministically by seed, built once and cached under $GOEMO_HOME/cache/transfer/<key>.json, keyed by the
train texts, N, the seed and the augmenter's settings."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Annotated, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..data.goemotions import data_fingerprint
from ..runs.atomic import write_json
from ..settings import Settings, ensure_folder, get_settings
from .eda import DEFAULT_PCT, DEFAULT_RECIPE, augment_once, get_augmenter, variants_per_call

FORMAT = 1
ATTEMPTS = 3  # augmenter calls per sentence at most: a short comment may have fewer distinct variants than asked
LOG_EVERY = 2000  # sentences between progress lines

Variant = tuple[int, str]  # (index of the train sentence it was made from, text)


class TransferCache(BaseModel):
    """<key>.json: the variants and what they were built from."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    format: Annotated[int, Field(ge=1)]
    per_sentence: Annotated[int, Field(ge=1)]
    seed: Annotated[int, Field(ge=0)]
    recipe: str
    pct: float
    train_fingerprint: str
    sources: Annotated[int, Field(ge=0)]
    seconds: Annotated[float, Field(ge=0)]
    variants: list[tuple[Annotated[int, Field(ge=0)], str]]


def cache_key(texts: Sequence[str], per_sentence: int, seed: int, recipe: str, pct: float) -> str:
    settings = (FORMAT, data_fingerprint(texts), int(per_sentence), int(seed), recipe, float(pct))
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:20]


def cache_path(texts: Sequence[str], per_sentence: int, seed: int, recipe: str, pct: float,
               settings: Settings) -> Path:
    return settings.cache_dir / "transfer" / f"{cache_key(texts, per_sentence, seed, recipe, pct)}.json"


def read_cached(path: Path, sources: int) -> list[Variant] | None:
    """The cached variants, or None when the file is missing or does not fit its schema (it is built again)."""
    try:
        cached = TransferCache.model_validate_json(path.read_bytes())
    except (OSError, ValueError, ValidationError):
        return None
    if cached.sources != sources or any(index >= sources for index, _ in cached.variants):
        return None
    return [(index, text) for index, text in cached.variants]


def sentence_variants(augmenter, text: str, per_sentence: int, key: tuple, recipe: str) -> list[str]:
    """Up to `per_sentence` distinct variants of one sentence, each different from it."""
    found: list[str] = []
    wanted = min(per_sentence, variants_per_call(recipe, per_sentence))
    for attempt in range(ATTEMPTS):
        found += [v for v in augment_once(augmenter, text, (*key, attempt), wanted) if v not in found]
        if len(found) >= per_sentence:
            break
    return found[:per_sentence]


def build_variants(texts: Sequence[str], per_sentence: int, seed: int, recipe: str = DEFAULT_RECIPE,
                   pct: float = DEFAULT_PCT, settings: Settings | None = None,
                   log: Callable[[str], None] = lambda message: None) -> list[Variant]:
    """`per_sentence` variants of every text (fewer for a text with fewer distinct ones), in text order."""
    augmenter = get_augmenter(recipe, pct, per_sentence, settings)
    variants: list[Variant] = []
    for index, text in enumerate(texts):
        if index and index % LOG_EVERY == 0:
            log(f"transfer set: {index:,} of {len(texts):,} sentences augmented")
        variants += [(index, v) for v in sentence_variants(augmenter, text, per_sentence, (seed, "transfer", index),
                                                           recipe)]
    return variants


def transfer_variants(texts: Sequence[str], per_sentence: int, seed: int, settings: Settings | None = None,
                      recipe: str = DEFAULT_RECIPE, pct: float = DEFAULT_PCT,
                      log: Callable[[str], None] = lambda message: None) -> list[Variant]:
    """The transfer variants of `texts` (the train split's): read from the cache, or built and cached."""
    settings = settings or get_settings()
    path = cache_path(texts, per_sentence, seed, recipe, pct, settings)
    cached = read_cached(path, len(texts))
    if cached is not None:
        log(f"transfer set: reusing {len(cached):,} cached variants of {len(texts):,} train sentences")
        return cached
    ensure_folder(path.parent)  # before the work: a file in the cache's place is said at once
    log(f"transfer set: building {per_sentence} variant(s) of each of {len(texts):,} train sentences ({recipe})")
    started = time.perf_counter()
    variants = build_variants(texts, per_sentence, seed, recipe, pct, settings, log)
    seconds = round(time.perf_counter() - started, 2)
    write_json(path, {"format": FORMAT, "per_sentence": int(per_sentence), "seed": int(seed), "recipe": recipe,
                      "pct": float(pct), "train_fingerprint": data_fingerprint(texts), "sources": len(texts),
                      "seconds": seconds, "variants": [[index, text] for index, text in variants]})
    log(f"transfer set: {len(variants):,} variants built in {seconds:.1f} s")
    return variants
