"""Architectures and their registry. `build_model` is the one way the Trainer and predictor make a model.

May import: runs, settings, errors."""

from .common import EmbeddingInit, load_pretrained_embeddings
from .registry import Architecture, architectures, get_architecture, resolve_params

__all__ = ["Architecture", "EmbeddingInit", "architectures", "get_architecture", "load_pretrained_embeddings",
           "resolve_params"]
