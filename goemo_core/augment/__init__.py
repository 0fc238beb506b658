"""Augmentation of the train split with TextAttack's EDA: `eda` adapts TextAttack (offline, deterministic),
`balance` grows the small classes to a target and caches the built split.

May import: data, runs, settings, errors."""

from .balance import (DEFAULT_RATIO, DEFAULT_SPEC, MAX_TARGET_COUNT, AugmentSpec, augmented_root, balance_plan,
                      balance_target, build_augmented, list_augmented, load_augmented_frame, load_augmented_rows,
                      resolve_augmented_name)
from .eda import (DEFAULT_PCT, DEFAULT_RECIPE, DEFAULT_SEED, MAX_PREVIEW_CHARS, MAX_PREVIEW_VARIANTS, MAX_PREVIEW_WORDS,
                  RECIPES, augment_text, ensure_nltk_resources, get_augmenter, missing_nltk_resources)

__all__ = ["AugmentSpec", "DEFAULT_PCT", "DEFAULT_RATIO", "DEFAULT_RECIPE", "DEFAULT_SEED", "DEFAULT_SPEC",
           "MAX_PREVIEW_CHARS", "MAX_PREVIEW_VARIANTS", "MAX_PREVIEW_WORDS", "MAX_TARGET_COUNT", "RECIPES",
           "augment_text", "augmented_root", "balance_plan", "balance_target", "build_augmented",
           "ensure_nltk_resources", "get_augmenter", "list_augmented", "load_augmented_frame", "load_augmented_rows",
           "missing_nltk_resources", "resolve_augmented_name"]
