"""The search-space language: entries ("int" | "float" | "logfloat", low, high) or ("categorical", [choices]) from the
registry, narrowed by the user, sampled by a trial and decoded into TrainConfig overrides. Beside the registry's space,
a study may switch the pretrained encoder and the augmented split on and off where this machine has them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..augment import DEFAULT_SPEC, list_augmented
from ..errors import InvalidConfig, MissingResource
from ..models import get_architecture
from ..models.registry import SpaceEntry, coerce
from ..settings import Settings, get_settings

if TYPE_CHECKING:
    import optuna

DATA_CHOICES = ("pretrained", "augment")  # categorical on/off choices beside the registry's space


@dataclass(frozen=True)
class DataChoices:
    """What the on/off data choices mean on this machine: the encoder GOEMO_PRETRAINED names, the augmented split."""

    pretrained: str | None
    augment: str | None


def augmented_split_name(settings: Settings | None = None) -> str | None:
    """The augmented train split a study switches on: the default build, else the newest; None when none is built."""
    names = [split["name"] for split in list_augmented(settings)]
    return DEFAULT_SPEC.name if DEFAULT_SPEC.name in names else (names[0] if names else None)


def data_choices(settings: Settings | None = None) -> DataChoices:
    settings = settings or get_settings()
    return DataChoices(pretrained=settings.pretrained, augment=augmented_split_name(settings))


def has_own_embedding(arch: str) -> bool:
    """Pretrained on/off only means something for models with a token embedding of their own; the transformer
    always is the pretrained encoder."""
    return "embedding_dim" in get_architecture(arch).defaults


def base_space(arch: str, choices: DataChoices | None = None) -> dict[str, SpaceEntry]:
    """The registry's space (the notebook's ranges) plus pretrained/augment on/off where available."""
    choices = choices or data_choices()
    space = {key: as_entry(key, spec) for key, spec in get_architecture(arch).search_space.items()}
    if choices.pretrained and has_own_embedding(arch):
        space["pretrained"] = ("categorical", [False, True])
    if choices.augment:
        space["augment"] = ("categorical", [False, True])
    return space


def as_entry(key: str, spec: Any) -> SpaceEntry:
    """Validate one entry (JSON turns tuples into lists)."""
    if not isinstance(spec, (list, tuple)) or not spec:
        raise InvalidConfig(f"space: {key}: {spec!r} is not a search-space entry.")
    kind = spec[0]
    if kind == "categorical":
        choices = list(spec[1]) if len(spec) == 2 and isinstance(spec[1], (list, tuple)) else []
        if not choices:
            raise InvalidConfig(f"space: {key}: a categorical entry needs at least one choice.")
        return ("categorical", choices)
    if kind not in ("int", "float", "logfloat") or len(spec) != 3:
        raise InvalidConfig(f"space: {key}: {spec!r} is not (int|float|logfloat, low, high) or (categorical, [...]).")
    number = int if kind == "int" else float
    low, high = (coerce(f"space: {key}", bound, number) for bound in spec[1:])
    if not all(math.isfinite(bound) for bound in (low, high)):
        raise InvalidConfig(f"space: {key}: bounds {low}, {high} must be finite numbers.")
    if low > high:
        raise InvalidConfig(f"space: {key}: low {low} is above high {high}.")
    if kind == "logfloat" and low <= 0:
        raise InvalidConfig(f"space: {key}: a log range needs a positive low bound (got {low}).")
    return (kind, low, high)


def narrow_space(space: dict[str, SpaceEntry], overrides: dict[str, Any] | None) -> tuple[dict, dict]:
    """Apply the user's tweaks: (low, high) or a full entry narrows a numeric range, a list keeps those choices,
    a scalar fixes the value. A range of one value or a single choice is fixed, not searched.
    Returns (space, fixed values)."""
    space, fixed = dict(space), {}
    for key, value in (overrides or {}).items():
        if key not in space:
            raise InvalidConfig(f"space: '{key}' is not searched here (searched: {', '.join(space)}); "
                                "fix other settings with --set.")
        kind = space[key][0]
        if not isinstance(value, (list, tuple)):
            space.pop(key)
            fixed[key] = value
            continue
        if kind == "categorical":
            entry = as_entry(key, ("categorical", list(value[1] if value and value[0] == "categorical" else value)))
        else:
            entry = as_entry(key, tuple(value) if len(value) == 3 else (kind, *value))
        single = len(entry[1]) == 1 if entry[0] == "categorical" else entry[1] == entry[2]
        if single:
            space.pop(key)
            fixed[key] = entry[1][0] if entry[0] == "categorical" else entry[1]
        else:
            space[key] = entry
    return space, fixed


def parse_range(space: dict[str, SpaceEntry], key: str, text: str) -> Any:
    """`--range KEY=LO:HI` (numeric) or `--range KEY=A,B` (choices) into a narrow_space override."""
    if key not in space:
        raise InvalidConfig(f"--range: '{key}' is not searched (searched: {', '.join(space)}).")
    entry = space[key]
    if entry[0] == "categorical":
        by_text = {str(c).lower(): c for c in entry[1]}
        picked = []
        for token in text.split(","):
            if token.strip().lower() not in by_text:
                raise InvalidConfig(f"--range: {key}: '{token}' is not a choice ({', '.join(map(str, entry[1]))}).")
            picked.append(by_text[token.strip().lower()])
        return picked
    low, sep, high = text.partition(":")
    if not sep:
        raise InvalidConfig(f"--range: {key}: '{text}' is not LOW:HIGH.")
    return [low, high]


def suggest(trial: "optuna.Trial", space: dict[str, SpaceEntry]) -> dict[str, Any]:
    values = {}
    for key, entry in space.items():
        kind = entry[0]
        if kind == "int":
            values[key] = trial.suggest_int(key, int(entry[1]), int(entry[2]))
        elif kind in ("float", "logfloat"):
            values[key] = trial.suggest_float(key, float(entry[1]), float(entry[2]), log=kind == "logfloat")
        else:
            values[key] = trial.suggest_categorical(key, list(entry[1]))
    return values


def decode(values: dict[str, Any], choices: DataChoices) -> dict[str, Any]:
    """Trial values → make_config overrides: the on/off data choices become this machine's encoder / split."""
    overrides = dict(values)
    for key, fix in (("pretrained", "set GOEMO_PRETRAINED to the encoder"),
                     ("augment", "build it on the Augment page or with `python -m goemo_core augment build`")):
        if key in overrides and isinstance(overrides[key], (bool, str)) and str(overrides[key]).lower() in (
                "true", "false", "1", "0", "yes", "no", "on", "off"):
            wanted = coerce(key, overrides[key], bool)
            source = getattr(choices, key)
            if wanted and source is None:
                raise MissingResource(f"{key}: this study tries {key} on, but none is available here; {fix}.")
            overrides[key] = source if wanted else None
    return overrides
