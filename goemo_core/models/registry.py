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


def coerce(key: str, value: Any, kind: type) -> Any:
    """Turn a value (possibly a string from --set or a widget) into `kind`, or refuse naming the key."""
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) and "." in value else int(value)
        if kind is float:
            return float(value)
        return kind(value)
    except (TypeError, ValueError):
        raise InvalidConfig(f"{key}: '{value}' is not a valid {kind.__name__}.") from None


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
