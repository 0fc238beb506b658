"""RWKV (v4) in plain PyTorch, stateless: every forward starts from an empty WKV state, so examples and batches
never leak into each other. The recurrence is causal and padding sits on the right, so padding cannot reach a real
position; the features are the mean of the top states over the real tokens.

Block:  x = x + TimeMix(LN(x));  x = x + ChannelMix(LN(x))
TimeMix:    token shift → r, k, v → WKV (per-channel decay w < 0, bonus u for the current token)
            → sigmoid(r) * wkv
ChannelMix: token shift → sigmoid(r) * W_v(relu(W_k x)²)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Architecture
from .common import (RECURRENT_GPU_RECIPE, RECURRENT_SEARCH, Dropout, EmbeddingInit, SequenceClassifier, TokenEmbedding,
                     masked_mean)


def token_shift(x: torch.Tensor) -> torch.Tensor:
    """[B, T, C] → the previous step's vectors (zeros at t = 0)."""
    return F.pad(x, (0, 0, 1, -1))


def wkv(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """wkv_t = (Σ_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u + k_t} v_t) / (same without v), for w: [C] (< 0), u: [C],
    k, v: [B, T, C]. On a GPU all positions at once (a loop over tokens there is bound by kernel launches); on the
    CPU the recurrence, which does less arithmetic."""
    parallel = k.is_cuda or torch.onnx.is_in_onnx_export()  # an exported graph takes any length: no token loop
    return wkv_parallel(w, u, k, v) if parallel else wkv_recurrent(w, u, k, v)


def wkv_recurrent(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The recurrence over (a, b) = (numerator, denominator) scaled by e^{-p}, where p is the running maximum
    exponent, so exp() never overflows (the RWKV-4 CUDA kernel's trick)."""
    B, T, C = k.shape
    a = torch.zeros(B, C, device=k.device, dtype=k.dtype)
    b = torch.zeros(B, C, device=k.device, dtype=k.dtype)
    p = torch.full((B, C), -1e38, device=k.device, dtype=k.dtype)  # log scale of (a, b); "minus infinity" at start
    out = []
    for t in range(T):
        kt, vt = k[:, t], v[:, t]
        # output: the past (a, b) plus the current token with its bonus u
        q = torch.maximum(p, u + kt)
        e_past, e_now = torch.exp(p - q), torch.exp(u + kt - q)
        out.append((e_past * a + e_now * vt) / (e_past * b + e_now))
        # state update: decay the past by e^w, add the current token without the bonus
        q = torch.maximum(p + w, kt)
        e_past, e_now = torch.exp(p + w - q), torch.exp(kt - q)
        a, b, p = e_past * a + e_now * vt, e_past * b + e_now, q
    return torch.stack(out, dim=1)


def wkv_parallel(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The same for all positions at once: for each t, the exponents (t-1-i)·w + k_i of the earlier tokens and
    u + k_t of the current one are a softmax over i ≤ t, per channel, whose maximum subtraction is the running-max
    stabilisation. Memory grows with T², fine for the short texts of this task."""
    T = k.shape[1]
    position = torch.arange(T, device=k.device)
    distance = (position[:, None] - 1 - position[None, :]).to(k.dtype)  # [t, i]: t - 1 - i
    exponents = distance[None, :, :, None] * w + k[:, None, :, :]  # [B, t, i, C]
    current = (position[:, None] == position[None, :])[None, :, :, None]  # the diagonal (ONNX has no boolean eye)
    exponents = torch.where(current, u + k[:, None, :, :], exponents)
    future = (position[None, :] > position[:, None])[None, :, :, None]
    weights = torch.softmax(exponents.masked_fill(future, float("-inf")), dim=2)
    return torch.einsum("btic,bic->btc", weights, v)


def _channel_ramp(dim: int) -> torch.Tensor:
    return torch.arange(dim, dtype=torch.float32) / dim


class TimeMix(nn.Module):
    def __init__(self, dim: int, layer: int, num_layers: int):
        super().__init__()
        # RWKV-4 initialisation: decays spread from fast to slow across channels, deeper layers mix more of x_{t-1}
        depth = layer / (num_layers - 1) if num_layers > 1 else 0.0
        shallowness = 1.0 - layer / num_layers
        channel = torch.arange(dim, dtype=torch.float32) / max(dim - 1, 1)
        self.time_decay = nn.Parameter(-5.0 + 8.0 * channel ** (0.7 + 1.3 * depth))  # w = -exp(time_decay)
        zigzag = 0.5 * (((torch.arange(dim) + 1) % 3) - 1).float()
        self.time_first = nn.Parameter(torch.full((dim,), math.log(0.3)) + zigzag)  # u
        ramp = _channel_ramp(dim)
        self.mix_k = nn.Parameter(ramp ** shallowness)
        self.mix_v = nn.Parameter(ramp ** shallowness + 0.3 * depth)
        self.mix_r = nn.Parameter(ramp ** (0.5 * shallowness))
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)
        self.output = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prev = token_shift(x)
        k = self.key(torch.lerp(prev, x, self.mix_k))  # x * mix + prev * (1 - mix)
        v = self.value(torch.lerp(prev, x, self.mix_v))
        r = self.receptance(torch.lerp(prev, x, self.mix_r))
        # the recurrence runs in float32 even under bf16 autocast: it sums exponentials
        y = wkv(-torch.exp(self.time_decay.float()), self.time_first.float(), k.float(), v.float())
        return self.output(torch.sigmoid(r) * y.to(r.dtype))


class ChannelMix(nn.Module):
    def __init__(self, dim: int, hidden: int, layer: int, num_layers: int):
        super().__init__()
        ramp = _channel_ramp(dim) ** (1.0 - layer / num_layers)
        self.mix_k = nn.Parameter(ramp.clone())
        self.mix_r = nn.Parameter(ramp.clone())
        self.key = nn.Linear(dim, hidden, bias=False)
        self.value = nn.Linear(hidden, dim, bias=False)
        self.receptance = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prev = token_shift(x)
        k = torch.square(torch.relu(self.key(torch.lerp(prev, x, self.mix_k))))
        return torch.sigmoid(self.receptance(torch.lerp(prev, x, self.mix_r))) * self.value(k)


class Block(nn.Module):
    def __init__(self, dim: int, hidden: int, layer: int, num_layers: int, dropout: float):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.time_mix = TimeMix(dim, layer, num_layers)
        self.channel_mix = ChannelMix(dim, hidden, layer, num_layers)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.time_mix(self.ln1(x)))
        return x + self.dropout(self.channel_mix(self.ln2(x)))


class RWKVEncoder(nn.Module):
    def __init__(self, dim: int, hidden: int, num_layers: int, dropout: float):
        super().__init__()
        self.ln_in = nn.LayerNorm(dim)  # RWKV's ln0 on the embeddings
        self.blocks = nn.ModuleList(Block(dim, hidden, i, num_layers, dropout) for i in range(num_layers))
        self.ln_out = nn.LayerNorm(dim)
        self.output_dim = dim

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.ln_in(vectors)
        for block in self.blocks:
            x = block(x)
        return masked_mean(self.ln_out(x), lengths)


def build(params: dict, vocab_size: int, pad_id: int, num_classes: int, init: EmbeddingInit | None) -> nn.Module:
    embedding = TokenEmbedding(vocab_size, params["embedding_dim"], pad_id, params["embedding_dropout"], init)
    encoder = RWKVEncoder(params["embedding_dim"], params["hidden_size"], params["num_layers"], params["dropout"])
    return SequenceClassifier(embedding, encoder, encoder.output_dim, num_classes, params)


RWKV_DEFAULTS = {
    "embedding_dim": 128,
    "embedding_dropout": 0.1,
    "hidden_size": 256,  # channel-mix width
    "num_layers": 2,
    "dropout": 0.1,
    "head_layers": 1,
    "head_units": 128,
    "head_dropout": 0.2,
}
# The course notebook's search ranges, including its "context length 30–60" (a TrainConfig field).
RWKV_SEARCH = {**RECURRENT_SEARCH, "max_length": ("int", 30, 60)}

RWKV = Architecture(
    name="rwkv", title="RWKV", build=build, defaults=RWKV_DEFAULTS, search_space=RWKV_SEARCH,
    recipe={"lr": 1e-3, "length_buckets": True}, gpu_recipe={**RECURRENT_GPU_RECIPE, "lr": 2e-3},
    description="Stateless RWKV-4 blocks (time-mix WKV recurrence + channel-mix), masked mean pooling.",
)
