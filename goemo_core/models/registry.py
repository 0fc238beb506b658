"""The one registry of architectures: name → builder, default hyperparameters, training recipe, search space."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidConfig
from . import rnn, rwkv, transformer, xlstm_stack
from .architecture import Architecture, SpaceEntry

__all__ = ["Architecture", "SpaceEntry", "architectures", "coerce", "get_architecture", "resolve_params"]

_REGISTRY: dict[str, Architecture] = {
    a.name: a for a in (rnn.LSTM, rnn.GRU, xlstm_stack.XLSTM, rwkv.RWKV, transformer.TRANSFORMER)}


def architectures() -> dict[str, Architecture]:
    return _REGISTRY


def get_architecture(name: str) -> Architecture:
    registry = architectures()
    if name not in registry:
        raise InvalidConfig(f"arch: unknown architecture '{name}' (choose from {', '.join(registry)}).")
    return registry[name]


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce(key: str, value: Any, kind: type) -> Any:
    """A value (possibly text from --set or a widget) as `kind`, or an InvalidConfig naming the key. Never rounds:
    2.7 is not an int; never guesses: 'maybe' is not a bool."""
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            word = str(value).strip().lower()
            if word in TRUE_WORDS or word in FALSE_WORDS:
                return word in TRUE_WORDS
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, int):
                return value
            try:
                return int(str(value).strip())
            except ValueError:
                number = float(value)
                if not number.is_integer():
                    raise
                return int(number)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind is str and not isinstance(value, (str, int, float)):
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        text = str(value) if str(value).isprintable() else repr(str(value))[1:-1]  # a message stays one line
        shown = text if len(text) <= 60 else text[:60] + "…"
        raise InvalidConfig(f"{key}: '{shown}' is not a valid {'whole number' if kind is int else kind.__name__}.") \
            from None


def resolve_params(arch: Architecture, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The architecture's defaults with `overrides` applied; unknown keys and out-of-range values are refused."""
    params = dict(arch.defaults)
    bounds = arch.param_bounds()
    for key, value in (overrides or {}).items():
        if key not in params:
            raise InvalidConfig(f"{key}: not a hyperparameter of {arch.name} "
                                f"(known: {', '.join(sorted(params))}).")
        kind = bounds[key][0] if key in bounds else type(params[key])
        params[key] = coerce(key, value, kind)
    for key, value in params.items():
        if key in arch.choices and value not in arch.choices[key]:
            raise InvalidConfig(f"{key}: '{value}' is not one of {', '.join(arch.choices[key])} for {arch.name}.")
        if key in bounds and not isinstance(value, bool):
            _, low, high = bounds[key]
            if not low <= value <= high:
                raise InvalidConfig(f"{key}: {value} is outside the allowed range {low}..{high} for {arch.name}.")
    return params
