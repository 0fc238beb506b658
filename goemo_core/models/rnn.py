"""Bidirectional multi-layer LSTM and GRU over packed sequences: padding never enters a state, initial states
are zeros. Features (`pooling`): the last forward and first backward hidden states (`last`, the notebook's), or the
top layer's outputs max-pooled (`max`) or mean- and max-pooled (`meanmax`) over the real tokens."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .architecture import Architecture
from .common import RECURRENT_GPU_RECIPE, RECURRENT_SEARCH, EmbeddingInit, SequenceClassifier, TokenEmbedding

POOLINGS = ("last", "max", "meanmax")


class BiRNNEncoder(nn.Module):
    def __init__(self, cell: type[nn.RNNBase], input_dim: int, hidden_size: int, num_layers: int, dropout: float,
                 pooling: str = "last"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: {pooling!r} must be one of {', '.join(POOLINGS)}")
        self.rnn = cell(input_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True,
                        dropout=dropout if num_layers > 1 else 0.0)
        self.pooling = pooling
        self.output_dim = (4 if pooling == "meanmax" else 2) * hidden_size

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(vectors, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, hidden = self.rnn(packed)  # no initial state given: zeros
        if self.pooling == "last":
            if isinstance(hidden, tuple):  # LSTM returns (h, c)
                hidden = hidden[0]
            # hidden: [layers * 2, B, H]; the top layer's forward and backward final states
            return torch.cat([hidden[-2], hidden[-1]], dim=-1)
        padded, _ = pad_packed_sequence(outputs, batch_first=True)  # [B, T, 2H], T = longest in the batch
        real = (torch.arange(padded.shape[1], device=padded.device)[None, :]
                < lengths.to(padded.device)[:, None]).unsqueeze(-1)
        pooled = padded.masked_fill(~real, float("-inf")).amax(dim=1)
        if self.pooling == "max":
            return pooled
        mean = padded.masked_fill(~real, 0.0).sum(dim=1) / real.sum(dim=1).clamp_min(1)
        return torch.cat([mean, pooled], dim=-1)


class BiRNNClassifier(SequenceClassifier):
    lengths_on_cpu = True  # pack_padded_sequence wants host lengths; the Trainer keeps a CPU copy


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


LSTM = Architecture(
    name="lstm", title="BiLSTM", build=_builder(nn.LSTM), defaults=RNN_DEFAULTS, gpu_recipe=RECURRENT_GPU_RECIPE,
    search_space=RECURRENT_SEARCH, choices={"pooling": POOLINGS},
    description="Bidirectional LSTM over packed sequences.",
)
GRU = Architecture(
    name="gru", title="BiGRU", build=_builder(nn.GRU), defaults=RNN_DEFAULTS, gpu_recipe=RECURRENT_GPU_RECIPE,
    search_space=RECURRENT_SEARCH, choices={"pooling": POOLINGS},
    description="Bidirectional GRU over packed sequences.",
)
