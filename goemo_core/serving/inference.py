"""Running a model on token ids: where its lengths live, the autocast it runs under, and batched inference.
The Trainer, the Predictor and the benchmarks all go through these, so a model is always fed the same way."""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import nn

from ..data.goemotions import NUM_CLASSES


def model_lengths(model: nn.Module, lengths_cpu: torch.Tensor,
                  lengths_device: torch.Tensor | None = None) -> torch.Tensor:
    """The lengths in the form a model reads them: packed RNNs want host lengths (no device sync); the others take
    them on the model's device. `lengths_device`, when given, is the same lengths already on the device."""
    if getattr(model, "lengths_on_cpu", False):
        return lengths_cpu
    if lengths_device is not None:
        return lengths_device
    device = next(model.parameters()).device
    return lengths_cpu.to(device, non_blocking=True)


def autocast(device: str | torch.device, bf16: bool) -> AbstractContextManager:
    """bf16 autocast on `device` (CUDA or a CPU) when asked for; a no-op otherwise."""
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16 and kind in ("cuda", "cpu"))


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated, and slower."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch's own CPU feature checks
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


@torch.no_grad()
def predict_logits(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor, batch_size: int = 512,
                   bf16: bool = False) -> torch.Tensor:
    """Logits [N, C] (float32, on the model's device) of `ids` [N, L] with true `lengths` [N], in eval mode, batch by
    batch in order of length (each batch trimmed to its longest text, so little padding is computed), returned in
    the input's order. The model's training mode is restored afterwards."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    lengths_cpu = lengths.cpu()
    order = torch.argsort(lengths_cpu, stable=True)
    sorted_lengths = lengths_cpu[order]
    ids_device, order_device = ids.to(device), order.to(device)
    lengths_device = lengths.to(device)[order_device]
    out = []
    try:
        for start in range(0, len(order), batch_size):
            stop = min(len(order), start + batch_size)
            width = int(sorted_lengths[stop - 1])  # the batch's longest: lengths ascend
            rows = order_device[start:stop]
            batch_lengths = model_lengths(model, sorted_lengths[start:stop], lengths_device[start:stop])
            with autocast(device, bf16):
                out.append(model(ids_device[rows, :width], batch_lengths).float())
    finally:
        model.train(was_training)
    if not out:
        return torch.zeros((0, NUM_CLASSES), device=device)
    logits = torch.cat(out)
    return torch.empty_like(logits).index_copy_(0, order_device, logits)  # back to the input's order


def predict_probabilities(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor, batch_size: int = 512,
                          bf16: bool = False) -> torch.Tensor:
    """Class probabilities [N, C] on the host (float32, rows sum to 1)."""
    return torch.softmax(predict_logits(model, ids, lengths, batch_size, bf16), -1).cpu()
