"""TextAttack's EDA made offline-safe and deterministic: NLTK resources checked (never downloaded), TextAttack's
import kept from disabling other loggers, WordNet synonyms in a stable order, capitalised stop words protected, and
every call seeded. TextAttack is imported lazily: it takes seconds."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
import time
from typing import Callable, Iterator

import numpy as np

from ..errors import InvalidConfig, MissingResource
from ..settings import Settings, get_settings

# recipe name → (class in textattack.augmentation.recipes, description)
RECIPES: dict[str, tuple[str, str]] = {
    "eda": ("EasyDataAugmenter", "EDA: synonym swap, synonym insertion, random swap and random deletion"),
    "synonym-swap": ("WordNetAugmenter", "WordNet synonym swap"),
    "synonym-insertion": ("SynonymInsertionAugmenter", "random WordNet synonym insertion"),
    "random-swap": ("SwapAugmenter", "random swap of two words"),
    "random-deletion": ("DeletionAugmenter", "random word deletion"),
}
DEFAULT_RECIPE = "eda"
DEFAULT_PCT = 0.1  # TextAttack's default share of words changed per variant
DEFAULT_SEED = 211
EDA_VARIANTS_PER_CALL = 4  # one variant from each of EDA's four operations
EDA_OPERATIONS = ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")  # its attributes
MAX_PREVIEW_VARIANTS = 20
# A preview's input: TextAttack's EDA costs grow faster than the text, so a preview reads at most a long comment's
# worth (GoEmotions comments are far shorter).
MAX_PREVIEW_WORDS, MAX_PREVIEW_CHARS = 60, 500

# What EDA reads from NLTK; anything else TextAttack asks for (omw-1.4, taggers) is not needed for English EDA.
NLTK_RESOURCES = {"WordNet": "corpora/wordnet/", "the English stop words": "corpora/stopwords/english"}
NLTK_DOWNLOAD_COMMAND = "python -m nltk.downloader wordnet stopwords"

# Every TextAttack call (augmentations here, attacks in goemo_core.attacks) holds it: TextAttack draws from the global
# `random` and numpy generators, and NLTK's lazy corpus loading is not thread-safe.
TEXTATTACK_LOCK = threading.RLock()
_LOCK = TEXTATTACK_LOCK
_AUGMENTERS: dict[tuple, object] = {}


def check_recipe(recipe: str) -> str:
    if recipe not in RECIPES:
        raise InvalidConfig(f"recipe: unknown recipe '{recipe}' (known: {', '.join(RECIPES)}).")
    return recipe


def check_pct(pct: float) -> float:
    if not 0.0 < float(pct) <= 1.0:
        raise InvalidConfig(f"pct: the share of words to change must be in (0, 1], got {pct}.")
    return float(pct)


# ---------------------------------------------------------------------------------------------------------------
# NLTK resources, offline


_NLTK_DEFAULT_PATH: list[str] = []


def nltk_search_path(settings: Settings | None = None) -> list[str]:
    """NLTK_DATA (as set now) first, then NLTK's own default folders."""
    import nltk

    settings = settings or get_settings()
    with _LOCK:
        if not _NLTK_DEFAULT_PATH:  # nltk.data.path as first seen, less the NLTK_DATA entries of import time
            imported_env = {os.path.expanduser(p) for p in getattr(nltk.data, "_paths_from_env", []) if p}
            _NLTK_DEFAULT_PATH.extend(p for p in nltk.data.path if p not in imported_env)
    from_env = [os.path.expanduser(p) for p in (settings.nltk_data or "").split(os.pathsep) if p]
    return from_env + [p for p in _NLTK_DEFAULT_PATH if p not in from_env]


def missing_nltk_resources(settings: Settings | None = None) -> list[str]:
    """Names of the NLTK resources EDA needs that are not on the search path (no download is attempted)."""
    import nltk

    paths = nltk_search_path(settings)
    missing = []
    for label, resource in NLTK_RESOURCES.items():
        try:
            nltk.data.find(resource, paths=paths)
        except LookupError:
            missing.append(label)
    return missing


def ensure_nltk_resources(settings: Settings | None = None) -> None:
    """Point NLTK at NLTK_DATA and check WordNet and the stop words, or raise MissingResource saying how to fix it."""
    import nltk

    settings = settings or get_settings()
    missing = missing_nltk_resources(settings)
    if missing:
        searched = (f"NLTK_DATA={settings.nltk_data} nor NLTK's default folders" if settings.nltk_data
                    else "NLTK's default folders (NLTK_DATA is not set)")
        raise MissingResource(
            f"EDA needs {' and '.join(missing)} from NLTK, found in neither {searched}. "
            "Offline: set NLTK_DATA to a folder that holds corpora/wordnet.zip (or corpora/wordnet/) and "
            f"corpora/stopwords/english. Online: download them once with `{NLTK_DOWNLOAD_COMMAND}`."
        )
    with _LOCK:
        nltk.data.path[:] = nltk_search_path(settings)


@contextlib.contextmanager
def no_nltk_downloads() -> Iterator[None]:
    """TextAttack calls nltk.download (omw-1.4, and more on its first import); offline that waits on the network.
    Everything EDA needs was checked beforehand, so a download request only reports what is already there."""
    import nltk

    def local_only(info_or_id=None, *args, **kwargs) -> bool:
        logging.getLogger(__name__).debug("skipped nltk.download(%r): EDA runs from local data", info_or_id)
        return False

    original = nltk.download
    nltk.download = local_only
    try:
        yield
    finally:
        nltk.download = original


@contextlib.contextmanager
def keep_loggers() -> Iterator[None]:
    """TextAttack's import runs logging.config.dictConfig, which disables every logger that exists already
    (streamlit's, optuna's); put them back as they were."""
    loggers = [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    states = {lg: lg.disabled for lg in loggers}
    try:
        yield
    finally:
        for lg, disabled in states.items():
            lg.disabled = disabled


def _recipes_module():
    with keep_loggers(), no_nltk_downloads():
        from textattack.augmentation import recipes
    return recipes


# ---------------------------------------------------------------------------------------------------------------
# Augmenters and deterministic variants


def _sorted_results(method: Callable) -> Callable:
    def wrapper(*args, **kwargs) -> list[str]:
        return sorted(method(*args, **kwargs))

    return wrapper


def _make_deterministic(augmenter) -> None:
    """TextAttack turns sets of WordNet synonyms into lists before random.choice: their order follows the string hash,
    which changes with every process (PYTHONHASHSEED). Sorting them makes a seed give the same text everywhere."""
    parts = [getattr(augmenter, name) for name in EDA_OPERATIONS if hasattr(augmenter, name)]
    for part in parts or [augmenter]:
        transformation = part.transformation
        for method in ("_get_replacement_words", "_get_synonyms"):
            if hasattr(transformation, method):
                setattr(transformation, method, _sorted_results(getattr(transformation, method)))


def _case_insensitive_stopwords(augmenter) -> None:
    """TextAttack compares words to its lower-case stop words as they are, so a sentence-initial "I" or "The" was
    open to synonym swaps ("I" → "iodine"); add the capitalised and upper-case forms."""
    parts = [getattr(augmenter, name) for name in EDA_OPERATIONS if hasattr(augmenter, name)]
    for part in parts or [augmenter]:
        for constraint in getattr(part, "pre_transformation_constraints", []):
            words = getattr(constraint, "stopwords", None)
            if isinstance(words, set):
                constraint.stopwords = words | {w.capitalize() for w in words} | {w.upper() for w in words}


def variants_per_call(recipe: str, wanted: int) -> int:
    # EDA always runs its four operations, so ask for all four; fewer would drop some at random in set order
    return EDA_VARIANTS_PER_CALL if recipe == "eda" else max(1, int(wanted))


def get_augmenter(recipe: str = DEFAULT_RECIPE, pct: float = DEFAULT_PCT, wanted: int = EDA_VARIANTS_PER_CALL,
                  settings: Settings | None = None):
    """A TextAttack augmenter for `recipe` (cached per recipe, pct and variants per call). Imports TextAttack."""
    check_recipe(recipe)
    check_pct(pct)
    ensure_nltk_resources(settings)
    per_call = variants_per_call(recipe, wanted)
    key = (recipe, float(pct), per_call)
    with _LOCK:
        if key not in _AUGMENTERS:
            first, wall, cpu = not _AUGMENTERS, time.perf_counter(), time.process_time()
            recipes = _recipes_module()
            with no_nltk_downloads():
                augmenter = getattr(recipes, RECIPES[recipe][0])(pct_words_to_swap=float(pct),
                                                                 transformations_per_example=per_call)
            _make_deterministic(augmenter)
            _case_insensitive_stopwords(augmenter)
            _AUGMENTERS[key] = augmenter
            if first:
                FIRST_LOAD.update(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu)
        return _AUGMENTERS[key]


# What the first augmenter of this process took to make (importing TextAttack, loading WordNet): wall and CPU seconds.
FIRST_LOAD: dict[str, float] = {}
# Its CPU seconds on the 2-core development machine (docs/app-notes.md): about the wall time when the CPU is idle;
# a busy machine stretches it several times.
FIRST_LOAD_CPU_S = 15


def augmenter_loaded() -> bool:
    """Whether this process has made an augmenter already (a preview then takes a fraction of a second)."""
    return bool(_AUGMENTERS)


def _seed_from(key: tuple) -> int:
    return int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:4], "little")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's and numpy's global generators seeded for one TextAttack call (an augmentation, an attack), restored
    afterwards for everyone else."""
    with _LOCK:
        py_state, np_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def augment_once(augmenter, text: str, key: tuple, wanted: int | None = None) -> list[str]:
    """One augmenter call, seeded by `key`: distinct non-empty variants that differ from `text`, in a seeded order.
    EDA shuffles the outputs of its four operations and keeps the first few; for fewer than four wanted variants,
    running only that many operations picked at random gives the same distribution at a fraction of the cost."""
    seed = _seed_from(key)
    parts = [getattr(augmenter, name) for name in EDA_OPERATIONS if hasattr(augmenter, name)]
    with seeded(seed):
        if parts and wanted is not None and wanted < len(parts):
            variants = [v for part in random.Random(seed).sample(parts, wanted) for v in part.augment(text)]
        else:
            variants = augmenter.augment(text)
    fresh = sorted({v for v in variants if v.strip() and v != text})
    random.Random(seed).shuffle(fresh)
    return fresh


def augment_text(text: str, n: int = 4, seed: int = DEFAULT_SEED, recipe: str = DEFAULT_RECIPE,
                 pct: float = DEFAULT_PCT, settings: Settings | None = None) -> list[str]:
    """Up to `n` distinct variants of `text` that differ from it; the same ones again for the same seed."""
    text = (text or "").strip()
    if not text:
        raise InvalidConfig("text: give a sentence to augment.")
    words = len(text.split())
    if words > MAX_PREVIEW_WORDS or len(text) > MAX_PREVIEW_CHARS:
        raise InvalidConfig(f"text: a preview takes at most {MAX_PREVIEW_WORDS} words and {MAX_PREVIEW_CHARS} "
                            f"characters (got {words:,} words, {len(text):,} characters); shorten it.")
    if not 1 <= int(n) <= MAX_PREVIEW_VARIANTS:
        raise InvalidConfig(f"n: the number of variants must be between 1 and {MAX_PREVIEW_VARIANTS}, got {n}.")
    augmenter = get_augmenter(recipe, pct, n, settings)
    found: list[str] = []
    for attempt in range(2 * int(n) + 3):  # short texts have few variants: stop trying after a while
        found += [v for v in augment_once(augmenter, text, (seed, "preview", attempt)) if v not in found]
        if len(found) >= n:
            break
    return found[:n]
