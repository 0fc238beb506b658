"""The one registry of architectures: name → builder, default hyperparameters, training recipe, search space."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from ..errors import InvalidConfig
from .common import COMMON_PARAMS, EmbeddingInit

# A search-space entry: ("int", low, high) | ("float", low, high) | ("logfloat", low, high) | ("categorical", [choices])
SpaceEntry = tuple


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    # build(params, vocab_size, pad_id, num_classes, embedding_init) → nn.Module with forward(ids, lengths) → logits
    build: Callable[[dict, int, int, int, EmbeddingInit | None], nn.Module]
    defaults: dict[str, Any]  # model hyperparameters
    recipe: dict[str, Any] = field(default_factory=dict)  # where it trains best away from TrainConfig's defaults
    gpu_recipe: dict[str, Any] = field(default_factory=dict)  # on top of `recipe` when it trains on a GPU
    search_space: dict[str, SpaceEntry] = field(default_factory=dict)  # model and recipe keys Optuna may tune
    bounds: dict[str, tuple[type, float, float]] = field(default_factory=dict)  # beyond COMMON_PARAMS
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the allowed values of text hyperparameters
    description: str = ""
    needs_pretrained: bool = False  # fine-tunes the GOEMO_PRETRAINED encoder: meaningless without one
    # for_run(params, device, max_length) → params: settle choices that depend on where and how the model runs
    for_run: Callable[[dict, str, int], dict] | None = None

    def run_params(self, params: dict, device: str, max_length: int) -> dict:
        return self.for_run(dict(params), device, max_length) if self.for_run else dict(params)

    def param_bounds(self) -> dict[str, tuple[type, float, float]]:
        return {**COMMON_PARAMS, **self.bounds}


def _architectures() -> dict[str, Architecture]:
    from . import rnn, rwkv, transformer, xlstm_stack

    return {a.name: a for a in (rnn.LSTM, rnn.GRU, xlstm_stack.XLSTM, rwkv.RWKV, transformer.TRANSFORMER)}


_REGISTRY: dict[str, Architecture] | None = None


def architectures() -> dict[str, Architecture]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _architectures()
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
