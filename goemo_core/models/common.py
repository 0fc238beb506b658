"""Parts every architecture shares: the token embedding (optionally pretrained) and the dense head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import MissingResource
from ..runs.atomic import save_tensors
from ..settings import ensure_folder

# Hyperparameters every architecture takes, with (type, lowest, highest) bounds used to refuse bad values early.
COMMON_PARAMS: dict[str, tuple[type, float, float]] = {
    "embedding_dim": (int, 1, 4096),
    "embedding_dropout": (float, 0.0, 0.95),
    "hidden_size": (int, 1, 8192),
    "num_layers": (int, 1, 32),
    "dropout": (float, 0.0, 0.95),
    "head_layers": (int, 0, 8),
    "head_units": (int, 1, 8192),
    "head_dropout": (float, 0.0, 0.95),
}

# On a GPU a step of these small models costs about the same at batch 64 as at 256: larger batches with a rate
# scaled by the square root of the batch ratio, and batches of similar lengths (narrower padding).
RECURRENT_GPU_RECIPE = {"batch_size": 256, "lr": 4e-3, "length_buckets": True}

# The course notebook's search ranges, shared by the recurrent architectures.
SHARED_SEARCH = {
    "embedding_dim": ("int", 64, 256),
    "dropout": ("float", 0.1, 0.5),
    "head_layers": ("int", 1, 4),
    "head_units": ("int", 64, 256),
    "head_dropout": ("float", 0.1, 0.5),
    "lr": ("logfloat", 1e-5, 1e-2),
    "optimizer": ("categorical", ["adam", "rmsprop"]),
}
RECURRENT_SEARCH = {**SHARED_SEARCH, "num_layers": ("int", 2, 5), "hidden_size": ("int", 64, 256)}


@dataclass
class EmbeddingInit:
    """Input embeddings of a pretrained encoder, to initialise the token embedding."""

    weight: torch.Tensor  # [vocab, dim] float32
    source: str


def load_pretrained_embeddings(name_or_path: str) -> EmbeddingInit:
    """The input-embedding matrix of a Hugging Face encoder (local folder or hub id), as float32."""
    folder = Path(name_or_path).expanduser()
    weights = folder / "model.safetensors"
    try:
        if weights.is_file():  # read just the one tensor, not the whole encoder
            from safetensors import safe_open

            with safe_open(str(weights), framework="pt") as handle:
                key = next((k for k in handle.keys() if k.endswith("word_embeddings.weight")), None)
                if key is not None:
                    return EmbeddingInit(handle.get_tensor(key).float(), str(name_or_path))
        from transformers import AutoModel

        model = AutoModel.from_pretrained(name_or_path, torch_dtype=torch.float32)
        return EmbeddingInit(model.get_input_embeddings().weight.detach().float().clone(), str(name_or_path))
    except Exception as exc:
        raise MissingResource(f"Could not load the input embeddings of '{name_or_path}' ({type(exc).__name__}: "
                              f"{str(exc)[:150]}). Set GOEMO_PRETRAINED to a local encoder folder, or unset it "
                              "to train embeddings from scratch.") from None


def distilled_embeddings(name_or_path: str, tokenizer, cache_dir: Path, batch_size: int = 1024) -> EmbeddingInit:
    """Static token vectors distilled from a sentence encoder (as Model2Vec does): each vocabulary token alone,
    between the encoder's special tokens, mean-pooled over its output states. Unlike the input embeddings, these
    carry what the encoder's layers learnt; rescaled to the input embeddings' mean norm. Cached per encoder."""
    import hashlib

    from safetensors.torch import load_file

    source = Path(name_or_path).expanduser()
    stamp = [str(source.resolve()) if source.exists() else name_or_path]
    if (source / "model.safetensors").is_file():
        stat = (source / "model.safetensors").stat()
        stamp += [str(stat.st_size), str(stat.st_mtime_ns)]
    path = Path(cache_dir) / "distilled" / f"{hashlib.sha1('|'.join(stamp).encode()).hexdigest()[:16]}.safetensors"
    if path.is_file():
        try:
            return EmbeddingInit(load_file(str(path))["weight"], str(name_or_path))
        except Exception:
            path.unlink(missing_ok=True)  # a corrupt cache entry is rebuilt
    inputs = load_pretrained_embeddings(name_or_path)
    from transformers import AutoModel

    try:
        encoder = AutoModel.from_pretrained(name_or_path, dtype=torch.float32).eval()
    except Exception as exc:
        raise MissingResource(f"Could not load the encoder '{name_or_path}' to distil its vectors "
                              f"({type(exc).__name__}: {str(exc)[:150]}).") from None
    specials = tokenizer.encode("", add_special_tokens=True).ids  # e.g. [CLS] [SEP]
    vocab = inputs.weight.shape[0]
    rows = []
    with torch.no_grad():
        for start in range(0, vocab, batch_size):
            tokens = torch.arange(start, min(vocab, start + batch_size))[:, None]
            before = torch.tensor(specials[:1]).expand(len(tokens), -1)
            after = torch.tensor(specials[1:]).expand(len(tokens), -1)
            ids = torch.cat([before, tokens, after], dim=1)
            rows.append(encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(1))
    weight = torch.cat(rows)
    weight *= inputs.weight.norm(dim=1).mean() / weight.norm(dim=1).mean()
    ensure_folder(path.parent)
    save_tensors(path, {"weight": weight})
    return EmbeddingInit(weight, str(name_or_path))


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """`nn.functional.dropout`, with the mask drawn from uniform numbers on a CPU: PyTorch's CPU `bernoulli_` draws
    its numbers several times slower, enough to show in a recurrent training step. Same distribution, same
    scaling; identity outside training."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    if p == 1.0:
        return x * 0.0
    return x * torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))


class Dropout(nn.Module):
    """`nn.Dropout` through `dropout` above (no parameters: state dicts are unchanged)."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TokenEmbedding(nn.Module):
    """Token ids → vectors of `dim`. With a pretrained matrix of another width, a linear projection maps it to `dim`
    (the pretrained matrix is really used, whatever the tuned embedding size)."""

    def __init__(self, vocab_size: int, dim: int, pad_id: int, dropout: float = 0.0,
                 init: EmbeddingInit | None = None):
        super().__init__()
        if init is not None:
            if init.weight.shape[0] != vocab_size:
                raise MissingResource(f"The pretrained embeddings of {init.source} have {init.weight.shape[0]} rows "
                                      f"but the tokenizer has {vocab_size} tokens; use the encoder's own tokenizer.")
            self.table = nn.Embedding.from_pretrained(init.weight.clone(), freeze=False, padding_idx=pad_id)
            width = init.weight.shape[1]
            self.project = nn.Linear(width, dim) if width != dim else nn.Identity()
        else:
            self.table = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
            self.project = nn.Identity()
        self.dropout = Dropout(dropout)
        self.pretrained = init is not None  # only pretrained vectors are worth freezing

    def set_frozen(self, frozen: bool) -> None:
        self.table.weight.requires_grad_(not frozen)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.project(self.table(ids)))


class DenseHead(nn.Module):
    """`layers` × (Linear → GELU → LayerNorm → Dropout), then the class layer. No dropout on the logits."""

    def __init__(self, in_dim: int, num_classes: int, layers: int, units: int, dropout: float):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, units), nn.GELU(), nn.LayerNorm(units), Dropout(dropout)]
            width = units
        self.body = nn.Sequential(*blocks)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(features))


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """[B, L] bool, True at real tokens."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the real positions of [B, L, D] states."""
    mask = padding_mask(lengths, states.shape[1]).to(states.dtype).unsqueeze(-1)
    return (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)


class SequenceClassifier(nn.Module):
    """embedding → encoder (ids' vectors + lengths → one feature vector per example) → dense head.
    Architectures differ only in `encoder`; `lengths_on_cpu` says where the Trainer should keep lengths."""

    lengths_on_cpu = False

    def __init__(self, embedding: TokenEmbedding, encoder: nn.Module, feature_dim: int, num_classes: int,
                 params: dict):
        super().__init__()
        self.embedding = embedding
        self.encoder = encoder
        self.head = DenseHead(feature_dim, num_classes, params["head_layers"], params["head_units"],
                              params["head_dropout"])

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embedding(ids), lengths))
