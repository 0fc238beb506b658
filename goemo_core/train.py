"""One Trainer for every architecture, and `train_run`: data → model → Trainer → run directory.

Speed: each split is tokenised once and kept on the training device; batches are drawn by indexing device tensors
with a permutation made on the host (so RNN lengths are known on the host without a device sync); the loss and
accuracy are accumulated on the device and read once per epoch; bf16 autocast on CUDA."""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .data import (EKMAN_CLASSES, NUM_CLASSES, class_counts, data_fingerprint, ekman_distribution, limit_split,
                   load_goemotions)
from .errors import Cancelled, InvalidConfig
from .evaluate import classification_metrics
from .models import get_architecture, load_pretrained_embeddings, resolve_params
from .models.common import EmbeddingInit, distilled_embeddings
from .runs import Run, RunStore
from .settings import Settings, describe_device, ensure_home, get_settings, resolve_device
from .text import EncodedSplit, encode_split, get_tokenizer, pad_id

OPTIMIZERS = ("adamw", "adam", "rmsprop")
SCHEDULERS = ("none", "multistep", "cosine", "plateau")
MONITORS = ("val_accuracy", "val_macro_f1")
PRETRAINED_VECTORS = ("input", "distilled")  # the encoder's input embeddings, or static vectors distilled from it
USE_ENV = "env"  # pretrained="env": take GOEMO_PRETRAINED (unset → none)


@dataclass
class TrainConfig:
    """Everything a training run depends on. Architecture hyperparameters live in `params`
    (the registry's defaults fill what is not given); the rest is the training recipe and the data options."""

    arch: str = "lstm"
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    scheduler: str = "cosine"
    milestones: list[int] = field(default_factory=lambda: [10, 50])  # multistep, in epochs
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # > 0: validate, keep and test an exponential moving average of the weights
    adversarial: float = 0.0  # > 0: also train on embeddings moved along the loss gradient by this × their norm
    soft_labels: float = 0.0  # weight of all of an example's Ekman groups in the target (0: primary label only)
    class_weights: bool = False
    class_weight_power: float = 1.0  # with class_weights: (N / (C · n_c)) ** power; 0.5 is a milder correction
    balanced_sampler: bool = False
    patience: int = 5
    monitor: str = "val_accuracy"
    seed: int = 211
    max_length: int = 30
    limit: int | None = None  # cap every split at its first N examples
    augment: str | None = None  # name of a cached augmented train split
    pretrained: str | None = USE_ENV  # encoder folder / hub id; None: learnt vocabulary, random embeddings
    pretrained_vectors: str = "input"  # input | distilled (see models.common.distilled_embeddings)
    freeze_embedding_epochs: int = 0  # embeddings frozen for the first N epochs; -1: always
    device: str = "auto"
    batches_per_epoch: int | None = None  # per-trial budget for studies
    val_batches: int | None = None
    eval_batch_size: int = 512
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU

    def to_dict(self) -> dict:
        return asdict(self)


RECIPE_KEYS = {f.name for f in fields(TrainConfig)} - {"arch", "params"}


def make_config(arch: str, overrides: dict[str, Any] | None = None, **recipe: Any) -> TrainConfig:
    """A validated config: TrainConfig defaults ← the architecture's recipe ← `recipe` ← `overrides`.
    Keys in `overrides` may be recipe fields or architecture hyperparameters (as `--set key=value` gives them)."""
    spec = get_architecture(arch)
    config = TrainConfig(arch=arch)
    model_overrides: dict[str, Any] = {}
    for key, value in {**spec.recipe, **recipe, **(overrides or {})}.items():
        if key == "params":
            model_overrides.update(value or {})
        elif key in RECIPE_KEYS:
            setattr(config, key, _coerce_recipe(key, value))
        elif key in spec.defaults:
            model_overrides[key] = value
        else:
            raise InvalidConfig(f"{key}: unknown setting for {arch} (recipe: {', '.join(sorted(RECIPE_KEYS))}; "
                                f"model: {', '.join(sorted(spec.defaults))}).")
    config.params = resolve_params(spec, model_overrides)
    validate(config)
    return config


def _coerce_recipe(key: str, value: Any) -> Any:
    from .models.registry import coerce

    default = getattr(TrainConfig(), key)
    if key in ("limit", "batches_per_epoch", "val_batches"):
        return None if value in (None, "", "none", "None") else coerce(key, value, int)
    if key in ("augment", "pretrained"):
        return None if value in (None, "", "none", "None") else str(value)
    if key == "milestones":
        if isinstance(value, str):
            value = [v for v in value.replace(";", ",").split(",") if v.strip()]
        return [coerce(key, v, int) for v in value]
    return coerce(key, value, type(default))


def validate(config: TrainConfig) -> None:
    """Refuse impossible values before any work starts; each message names the parameter."""
    get_architecture(config.arch)
    checks = [
        ("epochs", config.epochs >= 1, "must be at least 1"),
        ("batch_size", config.batch_size >= 1, "must be at least 1"),
        ("lr", config.lr > 0 and math.isfinite(config.lr), "must be a positive number"),
        ("weight_decay", config.weight_decay >= 0, "must not be negative"),
        ("grad_clip", config.grad_clip >= 0, "must not be negative (0 turns clipping off)"),
        ("label_smoothing", 0 <= config.label_smoothing < 1, "must be in [0, 1)"),
        ("ema_decay", 0 <= config.ema_decay < 1, "must be in [0, 1) (0 turns the average off)"),
        ("class_weight_power", 0 <= config.class_weight_power <= 2, "must be between 0 and 2"),
        ("adversarial", 0 <= config.adversarial <= 1, "must be in [0, 1] (a fraction of the embeddings' norm)"),
        ("soft_labels", 0 <= config.soft_labels <= 1, "must be in [0, 1]"),
        ("patience", config.patience >= 1, "must be at least 1"),
        ("max_length", 2 <= config.max_length <= 512, "must be between 2 and 512"),
        ("warmup_epochs", config.warmup_epochs >= 0, "must not be negative"),
        ("gamma", 0 < config.gamma <= 1, "must be in (0, 1]"),
        ("eval_batch_size", config.eval_batch_size >= 1, "must be at least 1"),
        ("limit", config.limit is None or config.limit >= 1, "must be at least 1"),
        ("batches_per_epoch", config.batches_per_epoch is None or config.batches_per_epoch >= 1, "must be ≥ 1"),
        ("val_batches", config.val_batches is None or config.val_batches >= 1, "must be at least 1"),
        ("freeze_embedding_epochs", config.freeze_embedding_epochs >= -1, "must be -1 (always) or ≥ 0"),
        ("optimizer", config.optimizer in OPTIMIZERS, f"must be one of {', '.join(OPTIMIZERS)}"),
        ("scheduler", config.scheduler in SCHEDULERS, f"must be one of {', '.join(SCHEDULERS)}"),
        ("monitor", config.monitor in MONITORS, f"must be one of {', '.join(MONITORS)}"),
        ("pretrained_vectors", config.pretrained_vectors in PRETRAINED_VECTORS,
         f"must be one of {', '.join(PRETRAINED_VECTORS)}"),
        ("precision", config.precision in ("auto", "fp32", "bf16"), "must be auto, fp32 or bf16"),
    ]
    for name, ok, why in checks:
        if not ok:
            raise InvalidConfig(f"{name}: {getattr(config, name)!r} {why}.")
    if any(m < 1 for m in config.milestones):
        raise InvalidConfig(f"milestones: {config.milestones} must be epochs ≥ 1.")
    resolve_params(get_architecture(config.arch), config.params)
    if get_architecture(config.arch).needs_pretrained and not pretrained_source(config):
        raise InvalidConfig(f"pretrained: {config.arch} fine-tunes a pretrained encoder; set GOEMO_PRETRAINED "
                            "or pass --pretrained.")


def pretrained_source(config: TrainConfig, settings: Settings | None = None) -> str | None:
    if config.pretrained == USE_ENV:
        return (settings or get_settings()).pretrained
    return config.pretrained


# -------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class PreparedData:
    tokenizer: Any
    train: EncodedSplit
    validation: EncodedSplit
    test: EncodedSplit
    test_texts: list[str]
    test_ids: list[str]
    embedding_init: EmbeddingInit | None
    pretrained: str | None
    data_key: str


def prepare_data(config: TrainConfig, settings: Settings | None = None) -> PreparedData:
    """Load the splits, swap in the augmented train split if asked, tokenise everything once (cached)."""
    settings = settings or get_settings()
    data = load_goemotions(settings)
    splits = {name: limit_split(data[name], config.limit) for name in ("train", "validation", "test")}
    train_texts, train_labels = list(splits["train"]["text"]), list(splits["train"]["label"])
    shares = [ekman_distribution(ids) for ids in splits["train"]["labels"]]
    if config.augment:
        from .augment import load_augmented_rows

        extra_texts, extra_labels = load_augmented_rows(config.augment, settings, limit=config.limit)
        train_texts, train_labels = train_texts + extra_texts, train_labels + extra_labels
        shares += [[float(label == c) for c in range(NUM_CLASSES)] for label in extra_labels]  # primary only
    source = pretrained_source(config, settings)
    data_key = data_fingerprint(train_texts)
    ensure_home(settings)
    tokenizer = get_tokenizer(train_texts, source, settings.cache_dir, data_key)
    cache = settings.cache_dir

    def encode(texts, labels):
        return encode_split(tokenizer, texts, labels, config.max_length, cache)

    train = encode(train_texts, train_labels)
    train.distributions = torch.tensor(shares, dtype=torch.float32)
    return PreparedData(
        tokenizer=tokenizer,
        train=train,
        validation=encode(list(splits["validation"]["text"]), list(splits["validation"]["label"])),
        test=encode(list(splits["test"]["text"]), list(splits["test"]["label"])),
        test_texts=list(splits["test"]["text"]),
        test_ids=list(splits["test"]["id"]),
        embedding_init=embedding_vectors(config, source, tokenizer, settings),
        pretrained=source,
        data_key=data_key,
    )


def embedding_vectors(config: TrainConfig, source: str | None, tokenizer,
                      settings: Settings) -> EmbeddingInit | None:
    """The vectors that initialise the token embedding; a fine-tuned encoder keeps its own input embeddings."""
    if not source:
        return None
    if config.pretrained_vectors == "distilled" and not get_architecture(config.arch).needs_pretrained:
        return distilled_embeddings(source, tokenizer, settings.cache_dir)
    return load_pretrained_embeddings(source)


def build_model(config: TrainConfig, vocab_size: int, pad: int, init: EmbeddingInit | None,
                device: str = "cpu") -> nn.Module:
    spec = get_architecture(config.arch)
    params = spec.run_params(resolve_params(spec, config.params), device, config.max_length)
    return spec.build(params, vocab_size, pad, NUM_CLASSES, init)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -------------------------------------------------------------------------------------------------------------
# Trainer

EpochCallback = Callable[[dict], None]
ProgressCallback = Callable[[float], None]


class WeightAverage:
    """Exponential moving average of a model's floating-point weights. The decay warms up as (1+t)/(10+t), so the
    first epochs are not dominated by the random initial weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay, self.steps = decay, 0
        state = model.state_dict()  # tensors sharing the weights' storage: they follow every optimizer step
        self.sources = {k: v for k, v in state.items() if v.is_floating_point()}
        self.shadow = {k: v.detach().clone() for k, v in self.sources.items()}
        self.frozen: frozenset[str] = frozenset()

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        weight = 1 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        for key, average in self.shadow.items():
            if key not in self.frozen:
                average.lerp_(self.sources[key], weight)

    def skip_frozen(self, model: nn.Module) -> None:
        """Weights that do not train (a frozen embedding table) need no averaging: the shadow stays a copy."""
        self.frozen = frozenset(name for name, p in model.named_parameters() if not p.requires_grad)

    @contextmanager
    def applied(self, model: nn.Module):
        """The model with the averaged weights inside the block, its own weights again after it."""
        own = {k: model.state_dict()[k].detach().clone() for k in self.shadow}
        model.load_state_dict(self.shadow, strict=False)
        try:
            yield model
        finally:
            model.load_state_dict(own, strict=False)


class Trainer:
    """Trains one model on encoded splits; early stopping on the monitored validation metric restores the best
    weights. `cancel` (a threading.Event) is checked between batches."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: str):
        self.model, self.config, self.device = model.to(device), config, device
        self.use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.startswith("cuda"))
        self.generator = torch.Generator().manual_seed(config.seed)
        self.best_state: dict | None = None
        self.best_epoch = 0
        self.history: list[dict] = []
        self.notes: list[str] = []  # what the user should know about how the run was trained

    @property
    def precision(self) -> str:
        return "bf16" if self.use_bf16 and self.device.startswith("cuda") else "fp32"

    # -- pieces -------------------------------------------------------------------------------------------
    def _optimizer(self) -> torch.optim.Optimizer:
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "embedding.table" not in n]
        rest = [p for n, p in self.model.named_parameters() if not (p.ndim >= 2 and "embedding.table" not in n)]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        lr = self.config.lr
        if self.config.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=lr)
        if self.config.optimizer == "adam":  # L2 penalty as in torch's Adam
            return torch.optim.Adam(groups, lr=lr)
        return torch.optim.RMSprop(groups, lr=lr)

    def _lr_factor(self, steps_per_epoch: int) -> Callable[[int], float]:
        """Per-step multiplier: linear warm-up, then cosine decay or multistep drops (plateau acts per epoch)."""
        cfg, total = self.config, max(1, self.config.epochs * steps_per_epoch)
        warmup = int(cfg.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            scale = min(1.0, (step + 1) / warmup) if warmup else 1.0
            if cfg.scheduler == "cosine":
                progress = min(1.0, max(0, step - warmup) / max(1, total - warmup))
                scale *= 0.5 * (1 + math.cos(math.pi * progress))
            elif cfg.scheduler == "multistep":
                epoch = step // steps_per_epoch
                scale *= cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
            return scale

        return factor

    def _set_embedding_frozen(self, epoch: int) -> None:
        embedding = getattr(self.model, "embedding", None)
        if embedding is None or not getattr(embedding, "pretrained", False):
            return  # random embeddings are always trained
        k = self.config.freeze_embedding_epochs
        embedding.set_frozen(k == -1 or epoch < k)

    def _loss_fn(self, train: EncodedSplit) -> nn.Module:
        weight = None
        if self.config.class_weights:
            counts = torch.bincount(train.labels.cpu(), minlength=NUM_CLASSES).float().clamp_min(1)
            weight = ((counts.sum() / (NUM_CLASSES * counts)) ** self.config.class_weight_power).to(self.device)
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=self.config.label_smoothing)

    def _epoch_order(self, train: EncodedSplit) -> torch.Tensor:
        n = len(train)
        if self.config.balanced_sampler:  # every class equally likely per draw
            labels = train.labels.cpu()
            counts = torch.bincount(labels, minlength=NUM_CLASSES).float().clamp_min(1)
            order = torch.multinomial((1.0 / counts)[labels], n, replacement=True, generator=self.generator)
        else:
            order = torch.randperm(n, generator=self.generator)
        if self.config.batches_per_epoch:
            order = order[: self.config.batches_per_epoch * self.config.batch_size]
        return order

    def _targets(self, train: EncodedSplit, idx: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Class ids, or with `soft_labels` a mix of the primary label and all of the examples' Ekman groups."""
        weight = self.config.soft_labels
        if weight <= 0 or train.distributions is None:
            return labels
        primary = nn.functional.one_hot(labels, NUM_CLASSES).float()
        return (1 - weight) * primary + weight * train.distributions[idx]

    def _backward(self, ids: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor,
                  loss_fn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward one batch; returns the clean logits and loss. With `adversarial` > 0 (Miyato et al.,
        2017) a second pass moves each example's embedded tokens along its own loss gradient, by that fraction of
        their norm, and adds that loss: the model learns to hold its prediction in a neighbourhood of each text."""
        if self.config.adversarial <= 0:
            logits = self._forward(ids, lengths)
            loss = loss_fn(logits.float(), targets)
            loss.backward()
            return logits, loss
        embedding = input_embedding(self.model)
        captured: list[torch.Tensor] = []

        def capture(module: nn.Module, args: tuple, vectors: torch.Tensor) -> torch.Tensor:
            if not vectors.requires_grad:  # a frozen table with no projection after it
                vectors = vectors.detach().requires_grad_()
            vectors.retain_grad()
            captured.append(vectors)
            return vectors

        handle = embedding.register_forward_hook(capture)
        try:
            logits = self._forward(ids, lengths)
        finally:
            handle.remove()
        loss = loss_fn(logits.float(), targets)
        loss.backward()
        vectors = captured[0]
        grad = vectors.grad.float()
        size = vectors.detach().float().flatten(1).norm(dim=1) * self.config.adversarial
        delta = (grad * (size / grad.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, *[1] * (grad.ndim - 1)))
        handle = embedding.register_forward_hook(lambda module, args, out: out + delta.to(out.dtype))
        try:
            loss_fn(self._forward(ids, lengths).float(), targets).backward()
        finally:
            handle.remove()
        return logits, loss

    def _forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.use_bf16 and self.device.startswith("cuda")):
            return self.model(ids, lengths)

    def _lengths_for_model(self, lengths_cpu: torch.Tensor, lengths_dev: torch.Tensor) -> torch.Tensor:
        return lengths_cpu if getattr(self.model, "lengths_on_cpu", False) else lengths_dev

    def _check_bf16(self, train_dev: EncodedSplit, lengths_cpu: torch.Tensor) -> None:
        """Older cuDNN builds cannot run recurrent layers in bf16: try one small step before the first epoch.
        `auto` falls back to fp32 and says so; an explicit `bf16` is refused with the reason."""
        if not self.use_bf16:
            return
        error = bf16_step_error(self, train_dev, lengths_cpu)
        if error is None:
            return
        if self.config.precision == "bf16":
            raise InvalidConfig(f"precision: bf16 does not run for {self.config.arch} on this device ({error}); "
                                "use auto or fp32")
        self.use_bf16 = False
        self.notes.append(f"bf16 autocast failed on this device ({error}); trained in fp32")

    # -- training -----------------------------------------------------------------------------------------
    def fit(self, train: EncodedSplit, validation: EncodedSplit, on_epoch: EpochCallback | None = None,
            cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None) -> list[dict]:
        cfg, device = self.config, self.device
        train_dev, lengths_cpu = train.to(device), train.lengths.cpu()
        val_dev = validation.to(device)
        self._check_bf16(train_dev, lengths_cpu)
        steps_per_epoch = math.ceil(len(self._epoch_order(train)) / cfg.batch_size)
        self.generator.manual_seed(cfg.seed)  # the probe above must not shift the epoch orders
        optimizer = self._optimizer()
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor(steps_per_epoch))
        plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=cfg.gamma, patience=2)
                   if cfg.scheduler == "plateau" else None)
        loss_fn = self._loss_fn(train)
        average = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        best_value, stale = -math.inf, 0
        for epoch in range(cfg.epochs):
            started = time.perf_counter()
            self._set_embedding_frozen(epoch)
            if average is not None:
                average.skip_frozen(self.model)
            self.model.train()
            order = self._epoch_order(train)
            order_dev = order.to(device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for step, start in enumerate(range(0, len(order), cfg.batch_size)):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled by the user")
                idx_cpu, idx = order[start:start + cfg.batch_size], order_dev[start:start + cfg.batch_size]
                batch_lengths = lengths_cpu[idx_cpu]
                width = int(batch_lengths.max())  # host tensor: no device sync
                ids, labels = train_dev.ids[idx, :width], train_dev.labels[idx]
                targets = self._targets(train_dev, idx, labels)
                lengths = self._lengths_for_model(batch_lengths, train_dev.lengths[idx])
                optimizer.zero_grad(set_to_none=True)
                logits, loss = self._backward(ids, lengths, targets, loss_fn)
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                optimizer.step()
                scheduler.step()
                if average is not None:
                    average.update()
                loss_sum += loss.detach() * len(idx_cpu)
                correct += (logits.argmax(-1) == labels).sum()
                if on_progress is not None and step % 10 == 0:
                    on_progress(epoch + start / max(1, len(order)))
            seen = max(1, len(order))
            with average.applied(self.model) if average is not None else nullcontext():
                val = self.evaluate(val_dev, loss_fn, limit_batches=cfg.val_batches)
                improved = val[cfg.monitor.removeprefix("val_")] > best_value
                if improved:  # the weights just validated: the average's when there is one
                    self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            record = {
                "epoch": epoch + 1,
                "train_loss": float(loss_sum) / seen,
                "train_accuracy": float(correct) / seen * 100,
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "val_macro_f1": val["macro_f1"],
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - started,
                "examples_per_s": seen / max(1e-9, time.perf_counter() - started),
            }
            self.history.append(record)
            value = record[cfg.monitor]
            if improved:
                best_value, stale, self.best_epoch = value, 0, epoch + 1
                record["best"] = True
            else:
                stale += 1
            if plateau is not None:
                plateau.step(value)
            if on_epoch is not None:
                on_epoch(record)
            if stale >= cfg.patience:
                break
        self.restore_best()
        return self.history

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    @torch.no_grad()
    def predict_logits(self, split: EncodedSplit, limit_batches: int | None = None) -> torch.Tensor:
        return predict_logits(self.model, split, self.device, self.config.eval_batch_size,
                              limit=limit_batches * self.config.batch_size if limit_batches else None,
                              bf16=self.use_bf16)

    @torch.no_grad()
    def evaluate(self, split: EncodedSplit, loss_fn: nn.Module | None = None, limit_batches: int | None = None) -> dict:
        logits = self.predict_logits(split, limit_batches)
        labels = split.labels[: len(logits)].to(logits.device)
        loss = float((loss_fn or nn.CrossEntropyLoss())(logits, labels)) if len(logits) else 0.0
        metrics = classification_metrics(labels.cpu().numpy(), logits.argmax(-1).cpu().numpy())
        return {"loss": loss, **metrics}


def input_embedding(model: nn.Module) -> nn.Module:
    """The module that turns token ids into vectors: ours, or a pretrained encoder's word embeddings."""
    embedding = getattr(model, "embedding", None)
    if embedding is None and hasattr(getattr(model, "encoder", None), "get_input_embeddings"):
        embedding = model.encoder.get_input_embeddings()
    if embedding is None:
        raise InvalidConfig(f"adversarial: {type(model).__name__} has no token embedding to perturb.")
    return embedding


def bf16_step_error(trainer: Trainer, train_dev: EncodedSplit, lengths_cpu: torch.Tensor) -> str | None:
    """One forward and backward pass on two examples under bf16 autocast, leaving the weights untouched:
    None when it runs, else the error's first line."""
    n = min(2, len(lengths_cpu))
    if n == 0:
        return None
    width = int(lengths_cpu[:n].max())
    try:
        logits = trainer._forward(train_dev.ids[:n, :width],
                                  trainer._lengths_for_model(lengths_cpu[:n], train_dev.lengths[:n]))
        logits.float().sum().backward()
        return None
    except RuntimeError as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        trainer.model.zero_grad(set_to_none=True)


@torch.no_grad()
def predict_logits(model: nn.Module, split: EncodedSplit, device: str, batch_size: int = 512,
                   limit: int | None = None, bf16: bool = False) -> torch.Tensor:
    """Logits [N, C] (float32) of a model in eval mode, batch by batch, trimmed to each batch's longest text."""
    was_training = model.training
    model.eval()
    n = len(split) if limit is None else min(limit, len(split))
    ids, lengths_cpu = split.ids.to(device), split.lengths.cpu()
    lengths_dev = split.lengths.to(device)
    out = []
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        width = int(lengths_cpu[start:stop].max())
        lengths = lengths_cpu[start:stop] if getattr(model, "lengths_on_cpu", False) else lengths_dev[start:stop]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and str(device).startswith("cuda")):
            out.append(model(ids[start:stop, :width], lengths).float())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, NUM_CLASSES), device=device)


# -------------------------------------------------------------------------------------------------------------
# A whole run: data → model → fit → test metrics → run directory


@dataclass
class RunResult:
    run: Run
    history: list[dict]
    best_epoch: int
    metrics: dict | None
    status: str

    def to_json(self) -> dict:
        return {"run_id": self.run.run_id, "run_dir": str(self.run.path), "status": self.status,
                "best_epoch": self.best_epoch, "history": self.history, "test": self.metrics}


def code_version() -> str:
    """The package version, plus the git commit (and '+dirty') when running from a checkout."""
    import subprocess
    from pathlib import Path

    from . import __version__

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty=+dirty"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def train_run(config: TrainConfig, store: RunStore | None = None, on_epoch: EpochCallback | None = None,
              cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None,
              log: Callable[[str], None] = lambda message: None, settings: Settings | None = None,
              on_run_created: Callable[[Run], None] | None = None) -> RunResult:
    """Train `config` end to end and write its run directory. Invalid settings and missing data raise before the
    run directory exists; a failure after that leaves a 'failed' run with its history and error; a cancel leaves a
    'cancelled' run with its history and, when an epoch finished, its best weights and test metrics."""
    settings = settings or get_settings()
    validate(config)
    device = resolve_device(config.device if config.device != "auto" else settings.device)
    log(f"loading data and tokenising (limit={config.limit}, augment={config.augment or 'no'})")
    data = prepare_data(config, settings)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    model = build_model(config, data.tokenizer.get_vocab_size(), pad_id(data.tokenizer), data.embedding_init, device)
    store = store or RunStore(settings=settings)
    run = store.create({
        **config.to_dict(),
        "params": resolve_params(get_architecture(config.arch), config.params),
        "pretrained": data.pretrained,
        "embedding_init_dim": int(data.embedding_init.weight.shape[1]) if data.embedding_init is not None else None,
        "device": device, "device_name": describe_device(device), "code_version": code_version(),
        "data_source": settings.data_source, "train_fingerprint": data.data_key, "classes": list(EKMAN_CLASSES),
        "vocab_size": data.tokenizer.get_vocab_size(), "pad_id": pad_id(data.tokenizer),
        "train_examples": len(data.train), "train_class_counts": class_counts(data.train.labels.tolist()),
    })
    data.tokenizer.save(str(run.tokenizer_path))
    if on_run_created is not None:
        on_run_created(run)
    trainer = Trainer(model, config, device)
    parameters = count_parameters(model)
    log(f"run {run.run_id}: {config.arch}, {parameters:,} parameters, {len(data.train):,} train examples on {device}")
    started = time.perf_counter()

    def epoch_done(record: dict) -> None:
        if record["epoch"] == 1:
            for note in trainer.notes:
                log(note)
        run.write_history(trainer.history)
        log(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, val acc {record['val_accuracy']:.2f}%, "
            f"val macro-F1 {record['val_macro_f1']:.3f} ({record['seconds']:.1f}s)")
        if on_epoch is not None:
            on_epoch(record)

    status, error = "completed", None
    try:
        trainer.fit(data.train, data.validation, on_epoch=epoch_done, cancel=cancel, on_progress=on_progress)
    except Cancelled:
        status = "cancelled"
        trainer.restore_best()
        log("cancelled: keeping the history and the best weights so far")
    except BaseException as exc:
        status, error = "failed", exc
    metrics = None
    try:
        run.write_history(trainer.history)
        if trainer.best_state is not None and status != "failed":
            run.save_weights(trainer.model.state_dict())
            metrics = finish_test_metrics(run, trainer, data)
        run.write_json("info.json", {"best_epoch": trainer.best_epoch, "seconds": time.perf_counter() - started,
                                     "parameters": parameters, "epochs_run": len(trainer.history),
                                     "precision": trainer.precision, "notes": trainer.notes,
                                     "error": None if error is None else f"{type(error).__name__}: {error}"})
    finally:
        run.set_status(status)
    if error is not None:
        raise error
    return RunResult(run, trainer.history, trainer.best_epoch, metrics, status)


def finish_test_metrics(run: Run, trainer: Trainer, data: PreparedData) -> dict:
    """Evaluate the restored best weights on the test split; write metrics.json and the per-example predictions."""
    import pandas as pd

    logits = trainer.predict_logits(data.test)
    probabilities = torch.softmax(logits, -1).cpu().numpy()
    predicted = probabilities.argmax(-1)
    truth = data.test.labels.numpy()
    metrics = classification_metrics(truth, predicted)
    metrics.update({"split": "test", "examples": int(len(truth)), "best_epoch": trainer.best_epoch})
    run.write_json("metrics.json", metrics)
    frame = pd.DataFrame({"id": data.test_ids, "text": data.test_texts,
                          "true": [EKMAN_CLASSES[i] for i in truth], "predicted": [EKMAN_CLASSES[i] for i in predicted],
                          "confidence": probabilities.max(-1).round(4)})
    from .runs import write_atomic

    write_atomic(run.predictions_path, frame.to_csv(index=False))
    return metrics


__all__ = ["TrainConfig", "Trainer", "RunResult", "make_config", "validate", "train_run", "prepare_data",
           "build_model", "predict_logits"]
