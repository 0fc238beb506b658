"""Bidirectional multi-layer LSTM and GRU whose states never see padding, with zero initial states. Features
(`pooling`): the last forward and first backward hidden states (`last`, the notebook's), or the top layer's outputs
max-pooled (`max`) or mean- and max-pooled (`meanmax`) over the real tokens.

Two exact ways to run the same weights (one `nn.LSTM`/`nn.GRU`, so every run's weights load either way):
- packed: `pack_padded_sequence` into the bidirectional layer; cuDNN's fast path on CUDA.
- padded: per layer, a forward pass over the right-padded batch and a backward pass over each sequence reversed
  within its own length (padding stays at the end, so it comes after every real token in both directions); states
  are read at each sequence's last real token. Plain tensors (no packing, no data-dependent Python): oneDNN's LSTM
  kernel applies on a CPU, packing's bookkeeping is skipped, and the graph exports as it is. Its work follows the
  padded width, hence length buckets in the recipe."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .architecture import Architecture
from .common import RECURRENT_GPU_RECIPE, RECURRENT_SEARCH, EmbeddingInit, SequenceClassifier, TokenEmbedding, dropout

POOLINGS = ("last", "max", "meanmax")
PATHS = ("auto", "packed", "padded")  # auto: packed on CUDA, padded elsewhere


def within_length_reversal(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] positions that reverse each row's first `length` steps and leave its padding in place. The map is
    its own inverse: applying it twice restores the order."""
    steps = torch.arange(width, device=lengths.device)[None, :]
    last = (lengths - 1)[:, None]
    return torch.where(steps <= last, last - steps, steps)


def take_steps(states: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """states [B, T, D] rearranged along time by positions [B, T'] → [B, T', D]."""
    return states.gather(1, positions.unsqueeze(-1).expand(-1, -1, states.shape[-1]))


def _one_direction(rnn: nn.RNNBase, layer: int, reverse: bool, inputs: torch.Tensor) -> torch.Tensor:
    """Outputs [B, T, H] of one direction of one layer of `rnn` run forward over `inputs`, from zero states."""
    suffix = "_reverse" if reverse else ""
    weights = [getattr(rnn, f"{kind}_l{layer}{suffix}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    zeros = inputs.new_zeros(1, inputs.shape[0], rnn.hidden_size)
    if isinstance(rnn, nn.LSTM):
        return torch.lstm(inputs, (zeros, zeros), weights, True, 1, 0.0, rnn.training, False, True)[0]
    return torch.gru(inputs, zeros, weights, True, 1, 0.0, rnn.training, False, True)[0]


def padded_states(rnn: nn.RNNBase, vectors: torch.Tensor,
                  lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a bidirectional `rnn` over right-padded `vectors` [B, T, D] without packing. Returns the top layer's
    outputs [B, T, 2H] (forward, then backward in reading order; only the first `length` steps are meaningful) and
    the final hidden states [layers * 2, B, H] in nn.LSTM's order (layer 0 forward, layer 0 backward, …)."""
    lengths = lengths.to(vectors.device)
    reversal = within_length_reversal(lengths, vectors.shape[1])
    last = (lengths - 1).view(-1, 1)
    forward_in, backward_in = vectors, take_steps(vectors, reversal)
    finals = []
    for layer in range(rnn.num_layers):
        forward_out = _one_direction(rnn, layer, False, forward_in)
        backward_out = _one_direction(rnn, layer, True, backward_in)  # in reversed order
        finals += [take_steps(forward_out, last)[:, 0], take_steps(backward_out, last)[:, 0]]
        if layer + 1 < rnn.num_layers:  # the next layer reads both directions, in each direction's own order
            if rnn.dropout > 0:  # as nn.LSTM: one mask on the layer's outputs, seen by both directions
                forward_out = dropout(forward_out, rnn.dropout, rnn.training)
                backward_out = dropout(backward_out, rnn.dropout, rnn.training)
            forward_in = torch.cat([forward_out, take_steps(backward_out, reversal)], dim=-1)
            backward_in = torch.cat([take_steps(forward_out, reversal), backward_out], dim=-1)
    outputs = torch.cat([forward_out, take_steps(backward_out, reversal)], dim=-1)
    return outputs, torch.stack(finals)


def packed_states(rnn: nn.RNNBase, vectors: torch.Tensor,
                  lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """As `padded_states`, through a packed sequence (outputs are zeros past each length)."""
    packed = pack_padded_sequence(vectors, lengths.cpu(), batch_first=True, enforce_sorted=False)
    outputs, hidden = rnn(packed)  # no initial state given: zeros
    if isinstance(hidden, tuple):  # LSTM returns (h, c)
        hidden = hidden[0]
    padded, _ = pad_packed_sequence(outputs, batch_first=True, total_length=vectors.shape[1])
    return padded, hidden


class BiRNNEncoder(nn.Module):
    def __init__(self, cell: type[nn.RNNBase], input_dim: int, hidden_size: int, num_layers: int, dropout: float,
                 pooling: str = "last", path: str = "auto"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: {pooling!r} must be one of {', '.join(POOLINGS)}")
        if path not in PATHS:
            raise ValueError(f"path: {path!r} must be one of {', '.join(PATHS)}")
        self.rnn = cell(input_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True,
                        dropout=dropout if num_layers > 1 else 0.0)
        self.pooling, self.path = pooling, path
        self.output_dim = (4 if pooling == "meanmax" else 2) * hidden_size

    def uses_packing(self, device: torch.device) -> bool:
        return self.path == "packed" or (self.path == "auto" and device.type == "cuda")

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        run = packed_states if self.uses_packing(vectors.device) else padded_states
        outputs, hidden = run(self.rnn, vectors, lengths)
        if self.pooling == "last":  # the top layer's forward and backward final states
            return torch.cat([hidden[-2], hidden[-1]], dim=-1)
        real = (torch.arange(outputs.shape[1], device=outputs.device)[None, :]
                < lengths.to(outputs.device)[:, None]).unsqueeze(-1)
        pooled = outputs.masked_fill(~real, float("-inf")).amax(dim=1)
        if self.pooling == "max":
            return pooled
        mean = outputs.masked_fill(~real, 0.0).sum(dim=1) / real.sum(dim=1).clamp_min(1)
        return torch.cat([mean, pooled], dim=-1)


class BiRNNClassifier(SequenceClassifier):
    lengths_on_cpu = True  # the packed path wants host lengths (the Trainer keeps a CPU copy)


def _builder(cell: type[nn.RNNBase]):
    def build(params: dict, vocab_size: int, pad_id: int, num_classes: int, init: EmbeddingInit | None):
        embedding = TokenEmbedding(vocab_size, params["embedding_dim"], pad_id, params["embedding_dropout"], init)
        encoder = BiRNNEncoder(cell, params["embedding_dim"], params["hidden_size"], params["num_layers"],
                               params["dropout"], params["pooling"])
        return BiRNNClassifier(embedding, encoder, encoder.output_dim, num_classes, params)

    return build


RNN_DEFAULTS = {
    "embedding_dim": 256,
    "embedding_dropout": 0.25,
    "hidden_size": 128,  # wider layers overfit sooner
    "num_layers": 2,
    "dropout": 0.3,
    "pooling": "last",  # last | max | meanmax
    "head_layers": 1,
    "head_units": 256,
    "head_dropout": 0.3,
}
# The LSTM's four gates of 96 are as wide as the GRU's three of 128: the two compare at about the same size, and the
# LSTM's step (all matrix products) shrinks with its width; kept on validation (README, Benchmarks).
LSTM_DEFAULTS = {**RNN_DEFAULTS, "hidden_size": 96}


# Batches of similar lengths on every device: the padded path's work follows the padded width.
RNN_RECIPE = {"length_buckets": True}
# On a CPU with native bf16 both recurrent models run their products in bf16 at twice the batch (the GRU's step
# is not faster with either alone), the learning rate scaled by √2 as the GPU recipe scales it by √4 for 256.
RNN_BF16_CPU_RECIPE = {"precision": "bf16", "batch_size": 128, "lr": 2.8e-3}

LSTM = Architecture(
    name="lstm", title="BiLSTM", build=_builder(nn.LSTM), defaults=LSTM_DEFAULTS, recipe=RNN_RECIPE,
    gpu_recipe=RECURRENT_GPU_RECIPE, bf16_cpu_recipe=RNN_BF16_CPU_RECIPE,
    search_space=RECURRENT_SEARCH, choices={"pooling": POOLINGS},
    description="Bidirectional LSTM, padding-exact.",
)
GRU = Architecture(
    name="gru", title="BiGRU", build=_builder(nn.GRU), defaults=RNN_DEFAULTS, recipe=RNN_RECIPE,
    gpu_recipe=RECURRENT_GPU_RECIPE, bf16_cpu_recipe=RNN_BF16_CPU_RECIPE,
    search_space=RECURRENT_SEARCH, choices={"pooling": POOLINGS},
    description="Bidirectional GRU, padding-exact.",
)
