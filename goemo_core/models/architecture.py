"""What an architecture is: its builder, default hyperparameters, training recipes and search space. Each model file
defines one; the registry lists them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

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
    # on top of `recipe` on a CPU that computes in bf16 natively (AVX512-BF16 or AMX): only where it was measured
    # to be faster and to keep the accuracy
    bf16_cpu_recipe: dict[str, Any] = field(default_factory=dict)
    needs_pretrained: bool = False  # fine-tunes the GOEMO_PRETRAINED encoder: meaningless without one
    # for_run(params, device, max_length) → params: settle choices that depend on where and how the model runs
    for_run: Callable[[dict, str, int], dict] | None = None

    def run_params(self, params: dict, device: str, max_length: int) -> dict:
        return self.for_run(dict(params), device, max_length) if self.for_run else dict(params)

    def param_bounds(self) -> dict[str, tuple[type, float, float]]:
        return {**COMMON_PARAMS, **self.bounds}
