"""The reference model: the whole pretrained Hugging Face encoder (the one GOEMO_PRETRAINED names) fine-tuned, mean
pooled over the real tokens, then the dense head. It sets the bar the recurrent models are compared against."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidConfig, MissingResource
from .architecture import Architecture
from .common import DenseHead, Dropout, EmbeddingInit, masked_mean, padding_mask


class PretrainedEncoderClassifier(nn.Module):
    lengths_on_cpu = False

    def __init__(self, encoder: nn.Module, num_classes: int, params: dict):
        super().__init__()
        self.encoder = encoder
        self.dropout = Dropout(params["dropout"])  # on the pooled features, never on the logits
        self.head = DenseHead(encoder.config.hidden_size, num_classes, params["head_layers"], params["head_units"],
                              params["head_dropout"])

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = padding_mask(lengths, ids.shape[1])
        states = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return self.head(self.dropout(masked_mean(states, lengths)))


def build(params: dict, vocab_size: int, pad_id: int, num_classes: int, init: EmbeddingInit | None) -> nn.Module:
    if init is None:
        raise InvalidConfig("transformer: needs a pretrained encoder; set GOEMO_PRETRAINED or pass --pretrained")
    if init.weight.shape[0] != vocab_size:
        raise MissingResource(f"The encoder {init.source} has {init.weight.shape[0]} token embeddings but the "
                              f"tokenizer has {vocab_size} tokens; use the encoder's own tokenizer.")
    try:
        encoder = load_encoder(init.source)
    except Exception as exc:
        raise MissingResource(f"Could not load the encoder '{init.source}' ({type(exc).__name__}: {str(exc)[:150]}). "
                              "Set GOEMO_PRETRAINED to a local encoder folder.") from None
    return PretrainedEncoderClassifier(encoder, num_classes, params)


def load_encoder(source: str) -> nn.Module:
    """The encoder in float32 (fp16 checkpoints train in float32; `dtype` is transformers' current name for
    `torch_dtype`), with PyTorch's fused scaled-dot-product attention where the architecture offers it."""
    from transformers import AutoModel  # heavy import, only for this architecture

    try:
        return AutoModel.from_pretrained(source, dtype=torch.float32, attn_implementation="sdpa")
    except (ValueError, ImportError):  # an encoder without an SDPA implementation: its own attention
        return AutoModel.from_pretrained(source, dtype=torch.float32)


TRANSFORMER_DEFAULTS = {
    "dropout": 0.1,
    "head_layers": 0,  # a linear layer on the pooled features
    "head_units": 256,
    "head_dropout": 0.1,
}
# Fine-tuning a whole encoder: a small rate, few epochs, and none of the recurrent recipe's regularisers.
TRANSFORMER_RECIPE = {
    "lr": 5e-5,
    "epochs": 4,
    "batch_size": 32,
    "warmup_epochs": 0.1,
    "patience": 5,
    "label_smoothing": 0.0,
    "ema_decay": 0.0,
    "soft_labels": 0.0,
    "freeze_embedding_epochs": 0,
    "length_buckets": True,  # narrower padded batches, as on a GPU
}
TRANSFORMER_GPU_RECIPE = {"batch_size": 64, "lr": 7e-5, "length_buckets": True}
TRANSFORMER_SEARCH = {
    "lr": ("logfloat", 1e-5, 1e-4),
    "dropout": ("float", 0.0, 0.3),
}

TRANSFORMER = Architecture(
    name="transformer", title="Fine-tuned encoder (reference)", build=build, defaults=TRANSFORMER_DEFAULTS,
    recipe=TRANSFORMER_RECIPE, gpu_recipe=TRANSFORMER_GPU_RECIPE, search_space=TRANSFORMER_SEARCH,
    needs_pretrained=True,
    description="The pretrained GOEMO_PRETRAINED encoder fine-tuned end to end, mean pooling, linear head.",
)
