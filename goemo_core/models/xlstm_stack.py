"""xLSTM from the official `xlstm` package: a residual stack of mLSTM blocks with sLSTM blocks at chosen positions,
then a masked mean over the real tokens.

The stack is causal (causal convolutions, causal mLSTM mask, left-to-right sLSTM recurrence), so right padding can
never reach a real position; there is no state between forward calls. mLSTM runs the package's pure-PyTorch parallel
form (no triton, works on CPU); sLSTM runs the package's CUDA kernel on a GPU and its "vanilla" PyTorch loop elsewhere.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from types import ModuleType

import torch
from torch import nn

from ..errors import InvalidConfig
from ..settings import get_settings
from .architecture import Architecture
from .common import RECURRENT_GPU_RECIPE, SHARED_SEARCH, EmbeddingInit, SequenceClassifier, TokenEmbedding, masked_mean

LOG = logging.getLogger(__name__)

BACKENDS = ("auto", "vanilla", "cuda")
NO_TOOLKIT = ("the CUDA toolkit was not found (CUDA_HOME / nvcc), so the sLSTM CUDA kernel cannot be built; the "
              "sLSTM runs the xlstm package's vanilla PyTorch loop instead (slower, same results)")
_IMPORT_LOCK = threading.Lock()
_TOOLKIT_MISSING: list[str] = []  # filled when the package could only be imported without its CUDA set-up


def xlstm_package() -> ModuleType:
    """The `xlstm` package, imported on first use (only an xLSTM needs it). Where a GPU is visible the package asks
    torch for the CUDA toolkit's include paths at import time, which fails on a machine with a pip-installed CUDA
    torch and no toolkit: then it is imported with that look-up answered by an empty path, and only its vanilla
    sLSTM can be used (`toolkit_missing()` says so)."""
    with _IMPORT_LOCK:
        try:
            import xlstm
        except OSError as exc:
            from torch.utils import cpp_extension

            original = cpp_extension.include_paths
            cpp_extension.include_paths = lambda *args, **kwargs: [""]
            try:
                import xlstm
            finally:
                cpp_extension.include_paths = original
            _TOOLKIT_MISSING.append(f"{type(exc).__name__}: {exc}")
            LOG.warning("%s (%s).", NO_TOOLKIT, exc)
        return xlstm


def toolkit_missing() -> bool:
    """Whether the CUDA sLSTM kernel is known to be impossible here (see xlstm_package)."""
    xlstm_package()
    return bool(_TOOLKIT_MISSING)


def parse_slstm_at(value: str, num_blocks: int) -> list[int]:
    """`slstm_at` is a string so that --set and Optuna can carry it: "1", "0,2", "all", or "" (mLSTM only)."""
    text = str(value).strip().lower()
    if text == "all":
        return list(range(num_blocks))
    try:
        positions = sorted({int(part) for part in text.replace(" ", "").split(",") if part})
    except ValueError:
        raise InvalidConfig(f"slstm_at: '{value}' is not a comma-separated list of block indices or 'all'.") from None
    if any(not 0 <= p < num_blocks for p in positions):
        raise InvalidConfig(f"slstm_at: block indices must be in 0..{num_blocks - 1} (num_blocks={num_blocks}), "
                            f"got '{value}'.")
    return positions


def resolve_backend(choice: str) -> str:
    choice = str(choice).lower()
    if choice not in BACKENDS:
        raise InvalidConfig(f"slstm_backend: '{choice}' is not one of {', '.join(BACKENDS)}.")
    if choice == "cuda" and not torch.cuda.is_available():
        raise InvalidConfig("slstm_backend: 'cuda' needs a CUDA GPU; use 'auto' or 'vanilla'.")
    if choice == "auto":  # the builder cannot see the training device; a visible GPU is where the model will run
        return "cuda" if torch.cuda.is_available() else "vanilla"
    return choice


def model_dim(embedding_dim: int, num_heads: int) -> int:
    """The stack's width: embedding_dim rounded up so that every sLSTM head gets ≥ 2 channels (heads must divide the
    width, and the package's forget-gate init divides by head_dim - 1)."""
    return max(math.ceil(embedding_dim / num_heads), 2) * num_heads


def stack_config(params: dict, dim: int, backend: str):
    from xlstm import (FeedForwardConfig, mLSTMBlockConfig, mLSTMLayerConfig, sLSTMBlockConfig, sLSTMLayerConfig,
                       xLSTMBlockStackConfig)

    num_blocks, heads = params["num_blocks"], params["num_heads"]
    mlstm = mLSTMBlockConfig(mlstm=mLSTMLayerConfig(conv1d_kernel_size=params["conv_kernel"], qkv_proj_blocksize=4,
                                                    num_heads=heads, proj_factor=2.0))
    slstm = sLSTMBlockConfig(
        slstm=sLSTMLayerConfig(backend=backend, num_heads=heads, conv1d_kernel_size=params["conv_kernel"],
                               bias_init="powerlaw_blockdependent"),
        feedforward=FeedForwardConfig(proj_factor=1.3, act_fn="gelu"),
    )
    return xLSTMBlockStackConfig(mlstm_block=mlstm, slstm_block=slstm, context_length=params["context_length"],
                                 num_blocks=num_blocks, embedding_dim=dim, dropout=params["dropout"],
                                 slstm_at=parse_slstm_at(params["slstm_at"], num_blocks))


def _portable_slstm_weights(stack: nn.Module) -> None:
    """The CUDA and vanilla sLSTM cells store their recurrent kernel and bias in different internal layouts (same
    shapes for the bias, so a mismatch would load silently wrong). Save them in the package's external layout and
    convert on load, so weights trained on a GPU load on a CPU and back."""
    names = {"_recurrent_kernel_": ("_recurrent_kernel_int2ext", "_recurrent_kernel_ext2int", 4),
             "_bias_": ("_bias_int2ext", "_bias_ext2int", 3)}

    def to_external(cell, state_dict, prefix, _metadata):
        for name, (int2ext, _, _) in names.items():
            value = state_dict.get(prefix + name)
            if value is not None and not isinstance(value, nn.Parameter):  # keep_vars=True: leave live params
                state_dict[prefix + name] = getattr(cell, int2ext)(value).contiguous()

    def to_internal(cell, state_dict, prefix, *_):
        for name, (_, ext2int, external_ndim) in names.items():
            value = state_dict.get(prefix + name)
            if value is not None and value.dim() == external_ndim:
                state_dict[prefix + name] = getattr(cell, ext2int)(value).contiguous()

    from xlstm.blocks.slstm.cell import sLSTMCellBase

    for module in stack.modules():
        if isinstance(module, sLSTMCellBase):
            module.register_state_dict_post_hook(to_external)
            module.register_load_state_dict_pre_hook(to_internal)


class _NoJitter:
    """Stands in for `random` in the package's kernel loader, which sleeps up to 10 s before every load (even of a
    build that exists) against concurrent compiles; torch's extension loader already holds a lock while it builds."""

    @staticmethod
    def random() -> float:
        return 0.0


def prepare_kernel_builds() -> None:
    """The sLSTM kernel is compiled per configuration (width, heads, dtypes are compile-time constants): keep the
    builds with the artifacts ($GOEMO_HOME/cache/torch_extensions, unless TORCH_EXTENSIONS_DIR is set), so later runs
    and trials load them instead of compiling again."""
    from xlstm.blocks.slstm.src import cuda_init

    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(get_settings().cache_dir / "torch_extensions"))
    cuda_init.random = _NoJitter


class XLSTMEncoder(nn.Module):
    def __init__(self, params: dict, dim: int):
        super().__init__()
        xlstm = xlstm_package()
        self.context_length = params["context_length"]
        self.notes: list[str] = []  # what the user should know about how this model was built
        backend = resolve_backend(params["slstm_backend"])
        if backend == "cuda" and toolkit_missing():
            if params["slstm_backend"] == "cuda":
                raise InvalidConfig(f"slstm_backend: 'cuda' cannot be used here: {NO_TOOLKIT.split(', so')[0]}; "
                                    "use 'auto' or 'vanilla'.")
            backend = "vanilla"
            self.notes.append(NO_TOOLKIT)
        if backend == "cuda":
            prepare_kernel_builds()
        try:
            self.stack = xlstm.xLSTMBlockStack(stack_config(params, dim, backend))
        except Exception as exc:  # the sLSTM CUDA kernel is compiled on first use; a failed build falls back
            if backend != "cuda" or params["slstm_backend"] == "cuda":
                raise
            note = (f"the sLSTM CUDA kernel could not be built ({type(exc).__name__}: {str(exc)[:200]}); the sLSTM "
                    "runs the vanilla PyTorch loop instead")
            LOG.warning(note)
            self.notes.append(note)
            backend = "vanilla"
            self.stack = xlstm.xLSTMBlockStack(stack_config(params, dim, backend))
        _portable_slstm_weights(self.stack)
        self.slstm_backend = backend  # the one actually built (a plain string: no state)
        self.has_slstm = bool(parse_slstm_at(params["slstm_at"], params["num_blocks"]))
        self.output_dim = dim

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.slstm_backend == "cuda" and self.has_slstm and not vectors.is_cuda:
            raise InvalidConfig("slstm_backend: this xLSTM was built with the CUDA sLSTM kernel but runs on the CPU; "
                                "build it with slstm_backend='vanilla' (the saved weights fit either backend).")
        # The mLSTM's causal mask is sized for context_length; shorter inputs work as they are, longer ones are cut
        # (the model reads at most context_length tokens).
        vectors = vectors[:, : self.context_length]
        lengths = lengths.clamp_max(self.context_length)
        return masked_mean(self.stack(vectors), lengths)


def build(params: dict, vocab_size: int, pad_id: int, num_classes: int, init: EmbeddingInit | None) -> nn.Module:
    dim = model_dim(params["embedding_dim"], params["num_heads"])
    inner = math.ceil(2.0 * dim / 64) * 64  # the package's mLSTM up-projection width (proj_factor 2, multiple of 64)
    if inner % params["num_heads"]:
        raise InvalidConfig(f"num_heads: {params['num_heads']} does not divide the mLSTM width {inner}; "
                            "use a power of two.")
    embedding = TokenEmbedding(vocab_size, dim, pad_id, params["embedding_dropout"], init)
    encoder = XLSTMEncoder(params, dim)
    return SequenceClassifier(embedding, encoder, encoder.output_dim, num_classes, params)


XLSTM_DEFAULTS = {
    "embedding_dim": 128,
    "embedding_dropout": 0.1,
    "num_blocks": 2,
    "slstm_at": "1",  # mLSTM at block 0, sLSTM at block 1
    "num_heads": 4,
    "conv_kernel": 4,
    "dropout": 0.1,
    "context_length": 30,
    "slstm_backend": "auto",
    "head_layers": 1,
    "head_units": 128,
    "head_dropout": 0.2,
}
XLSTM_BOUNDS = {
    "num_blocks": (int, 1, 24),
    "num_heads": (int, 1, 64),
    "conv_kernel": (int, 1, 16),
    "context_length": (int, 2, 4096),
}
# Widths and heads from a few fixed values, not a range: each (width, heads) pair is a CUDA kernel to compile, so a
# study reuses a handful of builds instead of compiling one per trial.
XLSTM_SEARCH = {
    **SHARED_SEARCH,
    "embedding_dim": ("categorical", [64, 128, 256]),
    "num_blocks": ("int", 2, 5),
    "slstm_at": ("categorical", ["", "1", "0,1"]),
    "num_heads": ("categorical", [2, 4, 8]),
}

def for_run(params: dict, device: str, max_length: int) -> dict:
    """The sLSTM kernel follows the device the model runs on, and the context covers every input token."""
    if not str(device).startswith("cuda"):  # weights load into either kernel; 'auto' on a GPU may still fall back
        params["slstm_backend"] = "vanilla"
    params["context_length"] = max(params["context_length"], max_length)
    return params


XLSTM = Architecture(
    name="xlstm", title="xLSTM", build=build, defaults=XLSTM_DEFAULTS, search_space=XLSTM_SEARCH,
    bounds=XLSTM_BOUNDS, recipe={"lr": 1e-3, "length_buckets": True},
    gpu_recipe={**RECURRENT_GPU_RECIPE, "lr": 2e-3},
    description="xLSTMBlockStack (official xlstm package): mLSTM blocks with sLSTM at `slstm_at`, masked mean pooling.",
    for_run=for_run,
)
