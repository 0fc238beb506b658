"""Balanced augmentation of the train split: every class below a target grows to exactly the target (texts are
counted, not augmenter calls), and the built split is cached under $GOEMO_HOME/augmented/<name>/ (train.parquet +
meta.json), keyed by its settings and the train data."""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Callable

from pydantic import BaseModel, ConfigDict, Field

from ..data.goemotions import EKMAN_CLASSES, class_counts, data_fingerprint, limit_split, load_goemotions
from ..errors import GoEmoError, InvalidConfig, MissingResource
from ..runs.atomic import prepare_folder_place, write_folder, write_json
from ..runs.schemas import loads_strict
from ..settings import Settings, ensure_home, get_settings
from .eda import (DEFAULT_PCT, DEFAULT_RECIPE, DEFAULT_SEED, EDA_VARIANTS_PER_CALL, augment_once, check_pct,
                  check_recipe, get_augmenter, variants_per_call)

DEFAULT_RATIO = 0.25  # the notebook's target: largest class / 4
ProgressFn = Callable[[int, int, str], None]  # (texts added so far, texts to add, message)
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ---------------------------------------------------------------------------------------------------------------
# Settings of a build and its cache name


@dataclass(frozen=True)
class AugmentSpec:
    """What defines an augmented split; equal specs share one cache folder."""

    recipe: str = DEFAULT_RECIPE
    pct: float = DEFAULT_PCT
    target_ratio: float | None = DEFAULT_RATIO
    target_count: int | None = None
    seed: int = DEFAULT_SEED
    limit: int | None = None

    @classmethod
    def from_config(cls, config: dict) -> "AugmentSpec":
        """From CLI/job keys (target_ratio | target_count, seed, recipe, pct, limit); refuses bad values."""
        known = set(cls.__dataclass_fields__)
        unknown = set(config) - known - {"device"}
        if unknown:
            raise InvalidConfig(f"augment: unknown setting(s) {', '.join(sorted(unknown))} "
                                f"(known: {', '.join(sorted(known))}).")
        try:
            values = {k: _CASTS[k](v) for k, v in config.items() if k in known and v is not None}
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidConfig(f"augment: a setting has the wrong type ({exc}).") from None
        if values.get("target_count") is not None and "target_ratio" not in values:
            values["target_ratio"] = None
        spec = cls(**values)
        spec.validate()
        return spec

    def validate(self) -> None:
        check_recipe(self.recipe)
        check_pct(self.pct)
        _check_target(self.target_ratio, self.target_count)
        if self.limit is not None and int(self.limit) < 1:
            raise InvalidConfig(f"limit: must be a positive number of train examples, got {self.limit}.")

    @property
    def name(self) -> str:
        """Readable and derived from the settings, e.g. eda-r0.25-s211 or random-swap-p0.2-n3000-s1-l500."""
        parts = [self.recipe]
        if self.pct != DEFAULT_PCT:
            parts.append(f"p{self.pct:g}")
        parts.append(f"n{self.target_count}" if self.target_count is not None else f"r{self.target_ratio:g}")
        parts.append(f"s{self.seed}")
        if self.limit is not None:
            parts.append(f"l{self.limit}")
        return "-".join(parts)


DEFAULT_SPEC = AugmentSpec()
# Shares are rounded so that a slider's 0.30000000000000004 names the same split as 0.3.
_CASTS = {"recipe": str, "pct": lambda v: round(float(v), 4), "target_ratio": lambda v: round(float(v), 4),
          "target_count": int, "seed": int, "limit": int}


# Examples per class an augmented split may reach: several times the largest GoEmotions class (joy, 16,941 train
# examples), and a bound on the memory and time a build takes.
MAX_TARGET_COUNT = 100_000


def _check_target(ratio: float | None, count: int | None) -> None:
    if (ratio is None) == (count is None):
        raise InvalidConfig("target: give exactly one of a target ratio and a target count.")
    if ratio is not None and not 0.0 < float(ratio) <= 1.0:
        raise InvalidConfig(f"target ratio: must be in (0, 1] (a share of the largest class), got {ratio}.")
    if count is not None and not 1 <= int(count) <= MAX_TARGET_COUNT:
        raise InvalidConfig(f"target count: must be between 1 and {MAX_TARGET_COUNT:,} examples per class, "
                            f"got {count:,}.")


# ---------------------------------------------------------------------------------------------------------------
# Balance plan (pure arithmetic: no augmentation)


def balance_target(counts: dict[str, int], ratio: float | None = DEFAULT_RATIO, count: int | None = None) -> int:
    """Examples per class to reach: `count`, or `ratio` × the largest class (rounded down, as the notebook did)."""
    if count is not None:
        ratio = None
    _check_target(ratio, count)
    return int(count) if count is not None else int(float(ratio) * max(counts.values(), default=0))


def balance_plan(counts: dict[str, int], ratio: float | None = DEFAULT_RATIO,
                 count: int | None = None) -> dict[str, int]:
    """Class counts after balancing: every class below the target grows to exactly the target, the others stay.
    A class with no example cannot grow (there is nothing to augment)."""
    target = balance_target(counts, ratio, count)
    return {name: max(n, target) if n > 0 else 0 for name, n in counts.items()}


# ---------------------------------------------------------------------------------------------------------------
# Balanced build of the train split


def _grow_class(augmenter, sources: list[tuple[int, str]], need: int, key: tuple, step: Callable[[int], None],
                per_call: int) -> list[tuple[int, str]]:
    """Exactly `need` new texts from `sources` (train index, text), drawn round-robin: every source is used once
    before any is used again, each call contributes at most what the class still needs (texts, not calls)."""
    added: list[tuple[int, str]] = []
    seen = {index: {text} for index, text in sources}
    unique, round_no = True, 0
    while len(added) < need:
        before = len(added)
        per_source = min(per_call, math.ceil((need - len(added)) / len(sources)))
        for index, text in sources:
            if len(added) >= need:
                break
            variants = augment_once(augmenter, text, (*key, index, round_no), per_source)
            fresh = [v for v in variants if v not in seen[index]] if unique else variants
            take = fresh[:min(per_source, need - len(added))]
            seen[index].update(take)
            added += [(index, v) for v in take]
            step(len(take))
        if len(added) == before:
            if not unique:
                raise GoEmoError(f"augmentation found no variant of the {len(sources)} source text(s) of class "
                                 f"{key[1]}: they are too short for this recipe. Try another recipe.")
            unique = False  # every distinct variant is used: repeat some rather than miss the target
        round_no += 1
    return added


class _Tracker:
    """Counts added texts over all classes for the progress callback; checks for a cancel between source texts."""

    def __init__(self, total: int, progress: ProgressFn | None, check_cancel: Callable[[], None] | None):
        self.total, self.done, self.progress, self.check_cancel = total, 0, progress, check_cancel
        self.name, self.need, self.class_done = "", 0, 0

    def start(self, name: str, need: int) -> None:
        self.name, self.need, self.class_done = name, need, 0

    def step(self, count: int) -> None:
        if self.check_cancel:
            self.check_cancel()
        self.done += count
        self.class_done += count
        if self.progress:
            self.progress(self.done, self.total, f"{self.name} {self.class_done:,}/{self.need:,}")


def augmented_root(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home / "augmented"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise InvalidConfig(f"augmented split name '{name}' is not valid (letters, digits, '.', '_', '-').")
    return name


class SplitMeta(BaseModel):
    """meta.json of an augmented split: what was built, from which train data."""

    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)
    name: str
    target: Annotated[int, Field(ge=0)]
    before: dict[str, Annotated[int, Field(ge=0)]]
    after: dict[str, Annotated[int, Field(ge=0)]]
    added: Annotated[int, Field(ge=0)]
    seconds: Annotated[float, Field(ge=0)]
    created: float | None = None
    train_fingerprint: str | None = None


SPLIT_COLUMNS = ("text", "label", "augmented", "source_index")


def _read_meta(folder: Path) -> dict | None:
    """The split's meta.json through its schema; None when it is missing or does not fit (the split is then not
    built, and a build makes it again)."""
    try:
        meta = loads_strict((folder / "meta.json").read_text(encoding="utf-8"))
        SplitMeta.model_validate(meta)
        return meta
    except (OSError, ValueError):
        return None


def _summary(meta: dict, folder: Path, reused: bool) -> dict:
    return {"status": "completed", "name": meta["name"], "before": meta["before"], "after": meta["after"],
            "added": meta["added"], "target": meta["target"], "cache": str(folder), "seconds": meta["seconds"],
            "reused": reused}


def _frame(texts: list[str], labels: list[int], ids: list[str], added: list[tuple[int, int, str]]):
    """The whole augmented train split: the originals, then the added rows marked augmented=True."""
    import pandas as pd

    originals = pd.DataFrame({"text": texts, "label": labels, "augmented": False,
                              "source_index": range(len(texts)), "source_id": ids})
    extra = pd.DataFrame({"text": [t for _, _, t in added], "label": [c for _, c, _ in added], "augmented": True,
                          "source_index": [i for i, _, _ in added], "source_id": [ids[i] for i, _, _ in added]})
    frame = pd.concat([originals, extra.astype(originals.dtypes.to_dict())], ignore_index=True)
    frame["label_name"] = frame["label"].map(dict(enumerate(EKMAN_CLASSES)))
    return frame


def _grow_classes(spec: AugmentSpec, texts: list[str], labels: list[int], before: dict[str, int],
                  after: dict[str, int], tracker: _Tracker, settings: Settings,
                  log: Callable[[str], None]) -> list[tuple[int, int, str]]:
    """(train index, class id, text) of every added text, class by class in Ekman order."""
    added: list[tuple[int, int, str]] = []
    for class_id, name in enumerate(EKMAN_CLASSES):
        need = after[name] - before[name]
        if need <= 0:
            continue
        sources = [(i, t) for i, (t, y) in enumerate(zip(texts, labels)) if y == class_id]
        log(f"{name}: {before[name]:,} → {after[name]:,} (+{need:,}) from {len(sources):,} source texts")
        wanted = min(EDA_VARIANTS_PER_CALL, math.ceil(need / len(sources)))
        augmenter = get_augmenter(spec.recipe, spec.pct, wanted, settings)
        tracker.start(name, need)
        grown = _grow_class(augmenter, sources, need, (spec.seed, name), tracker.step,
                            variants_per_call(spec.recipe, wanted))
        added += [(index, class_id, text) for index, text in grown]
    return added


def build_augmented(config: dict | AugmentSpec | None = None, settings: Settings | None = None, *,
                    progress: ProgressFn | None = None, check_cancel: Callable[[], None] | None = None,
                    log: Callable[[str], None] | None = None, force: bool = False) -> dict:
    """Grow every train class below the target to exactly the target with `recipe`, save the split under
    $GOEMO_HOME/augmented/<name>/ and return {status, name, before, after, added, target, cache, seconds, reused}.
    A split already built with the same settings (and train data) is returned at once."""
    spec = config if isinstance(config, AugmentSpec) else AugmentSpec.from_config(config or {})
    spec.validate()
    settings = settings or get_settings()
    log = log or (lambda message: None)
    train = limit_split(load_goemotions(settings)["train"], spec.limit)
    texts, labels, ids = list(train["text"]), list(train["label"]), [str(i) for i in train["id"]]
    fingerprint = data_fingerprint(texts)
    folder = augmented_root(settings) / spec.name
    meta = _read_meta(folder)
    if meta and meta.get("train_fingerprint") == fingerprint and not force and _intact(spec.name, settings):
        log(f"reusing the cached augmented split {spec.name}")
        if progress:
            progress(meta["added"], meta["added"], "cached")
        return _summary(meta, folder, reused=True)

    ensure_home(settings)
    prepare_folder_place(folder)  # before the work: a file where the split goes is said at once
    started = time.time()
    before = class_counts(labels)
    after = balance_plan(before, spec.target_ratio, spec.target_count)
    target = balance_target(before, spec.target_ratio, spec.target_count)
    tracker = _Tracker(sum(after.values()) - sum(before.values()), progress, check_cancel)
    log(f"building {spec.name}: target {target:,} per class, {tracker.total:,} texts to add")
    added = _grow_classes(spec, texts, labels, before, after, tracker, settings, log)
    seconds = round(time.time() - started, 2)
    meta = {"name": spec.name, **asdict(spec), "target": target, "before": before, "after": after,
            "added": len(added), "seconds": seconds, "created": time.time(), "train_examples": len(texts),
            "train_fingerprint": fingerprint, "data_source": settings.data_source, "format": 1}
    frame = _frame(texts, labels, ids, added)
    write_folder(folder, lambda tmp: (frame.to_parquet(tmp / "train.parquet", index=False),
                                      write_json(tmp / "meta.json", meta)))
    log(f"saved {len(added):,} augmented texts to {folder} in {seconds:.1f} s")
    return _summary(meta, folder, reused=False)


def list_augmented(settings: Settings | None = None) -> list[dict]:
    """Every cached augmented split, newest first: {name, path, created, meta}."""
    root = augmented_root(settings)
    if not root.is_dir():
        return []
    splits = []
    for folder in root.iterdir():
        meta = _read_meta(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if meta and (folder / "train.parquet").is_file():
            splits.append({"name": folder.name, "path": str(folder), "created": meta.get("created"), "meta": meta})
    return sorted(splits, key=lambda s: s["created"] or 0, reverse=True)


def _split_name(name: str | None) -> str:
    return DEFAULT_SPEC.name if name in (None, "", "default") else _check_name(name)


def _not_built(name: str) -> MissingResource:
    hint = "" if name == DEFAULT_SPEC.name else " with its settings; `augment list` shows the built ones"
    return MissingResource(f"The augmented split '{name}' is not built yet; run `python -m goemo_core augment build` "
                           f"(or build it on the Augment page){hint}.")


def resolve_augmented_name(name: str) -> str:
    """'default' → the default build's name (ratio 0.25, seed 211, EDA); raises MissingResource if not built yet."""
    name = _split_name(name)
    folder = augmented_root() / name
    if _read_meta(folder) is None or not (folder / "train.parquet").is_file():
        raise _not_built(name)
    return name


def load_augmented_frame(name: str, settings: Settings | None = None):
    """The whole cached augmented train split as a DataFrame (originals and added rows)."""
    import pandas as pd

    name = _split_name(name)
    path = augmented_root(settings) / name / "train.parquet"
    if not path.is_file():
        raise _not_built(name)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # truncated or not a parquet file at all
        raise _damaged(name, f"train.parquet cannot be read ({type(exc).__name__})") from None
    problem = split_problem(frame)
    if problem:
        raise _damaged(name, problem)
    return frame


def split_problem(frame) -> str | None:
    """Why a loaded train.parquet is not an augmented split (columns, types, labels), or None."""
    import pandas as pd

    missing = [column for column in SPLIT_COLUMNS if column not in frame.columns]
    if missing:
        return f"train.parquet has no column {', '.join(missing)}"
    if not frame["text"].map(lambda t: isinstance(t, str)).all():
        return "train.parquet: 'text' holds values that are not text"
    for column in ("label", "source_index"):
        if not pd.api.types.is_integer_dtype(frame[column]):
            return f"train.parquet: '{column}' is not whole numbers"
    if not pd.api.types.is_bool_dtype(frame["augmented"]):
        return "train.parquet: 'augmented' is not true/false"
    if len(frame) and not frame["label"].between(0, len(EKMAN_CLASSES) - 1).all():
        return f"train.parquet: a label is outside 0..{len(EKMAN_CLASSES) - 1} (the Ekman classes)"
    if len(frame) and (frame["source_index"] < 0).any():
        return "train.parquet: a source_index is negative"
    return None


def _intact(name: str, settings: Settings) -> bool:
    """Whether a built split reads back whole (a damaged one is built again)."""
    try:
        load_augmented_frame(name, settings)
        return True
    except MissingResource:
        return False


def _damaged(name: str, reason: str) -> MissingResource:
    return MissingResource(f"The augmented split '{name}' is damaged: {reason}. Build it again "
                           "(`python -m goemo_core augment build` with its settings, or on the Augment page).")


def load_augmented_rows(name: str, settings: Settings | None = None,
                        limit: int | None = None) -> tuple[list[str], list[int]]:
    """The ADDED rows of a cached split (texts, Ekman label ids). With `limit`, only rows whose source is among the
    first `limit` train examples, so a limited train split gets only its own augmentations."""
    frame = load_augmented_frame(name, settings)
    rows = frame[frame["augmented"]]
    if limit is not None:
        rows = rows[rows["source_index"] < int(limit)]
    return [str(t) for t in rows["text"]], [int(y) for y in rows["label"]]
