"""The one Trainer for every architecture: device-resident batches, the optimiser and schedule, adversarial
examples, a moving average of the weights, validation each epoch, early stopping with the best weights restored,
cancel between batches. What a batch is trained towards (targets and losses) is in objective.py.

Speed: batches are drawn by indexing device tensors with a permutation made on the host (so RNN lengths are known on
the host without a device sync); the loss and accuracy are accumulated on the device and read once per epoch; bf16
autocast on CUDA, and on a CPU where the recipe asks for it."""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..data.tasks import get_task
from ..data.text import EncodedSplit
from ..errors import Cancelled, Diverged, InvalidConfig
from ..evaluation.thresholds import task_metrics
from ..serving.inference import autocast, model_lengths, predict_logits
from .checkpoint import restore_training_state, training_state
from .config import TrainConfig
from .objective import Targets, TrainingLoss, batch_targets, evaluation_loss, hits, training_loss

EpochCallback = Callable[[dict], None]
CheckpointCallback = Callable[[dict], None]
BUCKET_WINDOW = 50  # batches sorted together by length: short enough that batches stay mixed across the epoch
FINITE_CHECK_EVERY = 50  # batches between reads of the summed loss (a host sync) to catch a diverging run


@dataclass(frozen=True)
class EpochProgress:
    """Where training is inside an epoch (epoch counts from 1)."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    examples_per_s: float

    @property
    def fraction(self) -> float:
        """Of the whole run (all epochs)."""
        return min(1.0, (self.epoch - 1 + self.batch / max(1, self.batches)) / max(1, self.epochs))


ProgressCallback = Callable[[EpochProgress], None]


class WeightAverage:
    """Exponential moving average of a model's floating-point weights. The decay warms up as (1+t)/(10+t), so the
    first epochs are not dominated by the random initial weights. One fused (foreach) update per step."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay, self.steps = decay, 0
        state = model.state_dict()  # tensors sharing the weights' storage: they follow every optimizer step
        self.sources = {k: v for k, v in state.items() if v.is_floating_point()}
        self.shadow = {k: v.detach().clone() for k, v in self.sources.items()}
        self.skip_frozen(model)

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        weight = 1 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self._shadows, self._sources, weight)

    def skip_frozen(self, model: nn.Module) -> None:
        """Weights that do not train (a frozen embedding table) need no averaging: the shadow stays a copy."""
        frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
        keys = [k for k in self.shadow if k not in frozen]
        self._shadows = [self.shadow[k] for k in keys]
        self._sources = [self.sources[k] for k in keys]

    @contextmanager
    def applied(self, model: nn.Module):
        """The model with the averaged weights inside the block, its own weights again after it."""
        own = {k: model.state_dict()[k].detach().clone() for k in self.shadow}
        model.load_state_dict(self.shadow, strict=False)
        try:
            yield model
        finally:
            model.load_state_dict(own, strict=False)


@dataclass
class TrainingSession:
    train: EncodedSplit
    train_dev: EncodedSplit
    lengths_cpu: torch.Tensor
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None
    loss_fn: nn.Module
    average: WeightAverage | None


class Trainer:
    """Trains one model on encoded splits; early stopping on the monitored validation metric restores the best
    weights. `cancel` (a threading.Event) is checked between batches."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: str):
        self.model, self.config, self.device = model.to(device), config, device
        self.task = get_task(config.task)
        self.use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.startswith("cuda"))
        self.generator = torch.Generator().manual_seed(config.seed)
        self.best_state: dict | None = None
        self.best_epoch = 0
        self.history: list[dict] = []
        self.notes: list[str] = []  # what the user should know about how the run was trained

    @property
    def precision(self) -> str:
        return "bf16" if self.use_bf16 else "fp32"

    # -- pieces -------------------------------------------------------------------------------------------
    def _optimizer(self) -> torch.optim.Optimizer:
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2 and "embedding.table" not in n]
        rest = [p for n, p in self.model.named_parameters() if not (p.ndim >= 2 and "embedding.table" not in n)]
        groups = [{"params": decay, "weight_decay": self.config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        lr, on_gpu = self.config.lr, self.device.startswith("cuda")
        fused = {"fused": True} if on_gpu else {"foreach": True}  # one kernel for all parameters on a GPU
        if self.config.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=lr, **fused)
        if self.config.optimizer == "adam":  # L2 penalty as in torch's Adam
            return torch.optim.Adam(groups, lr=lr, **fused)
        return torch.optim.RMSprop(groups, lr=lr, foreach=True)

    def _schedules(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> tuple[
            torch.optim.lr_scheduler.LRScheduler | None, torch.optim.lr_scheduler.ReduceLROnPlateau | None]:
        """torch's own schedulers: a per-batch one (a linear warm-up, then a cosine decay or multistep cuts) and, for
        `plateau`, a per-epoch cut by `gamma` when the monitored metric stalls. The per-batch schedulers change the
        rate relative to its current value, so a plateau's cut stays cut."""
        from torch.optim.lr_scheduler import (ConstantLR, CosineAnnealingLR, LinearLR, MultiStepLR, ReduceLROnPlateau,
                                              SequentialLR)

        cfg = self.config
        total = max(1, cfg.epochs * steps_per_epoch)
        warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total - 1)
        parts = [LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup - 1)] if warmup > 1 else []
        warmup = warmup if parts else 0
        if cfg.scheduler == "cosine":
            parts.append(CosineAnnealingLR(optimizer, T_max=max(1, total - warmup)))
        elif cfg.scheduler == "multistep":  # milestones in epochs, counted from the end of the warm-up
            steps = sorted({max(1, m * steps_per_epoch - warmup) for m in cfg.milestones})
            parts.append(MultiStepLR(optimizer, milestones=steps, gamma=cfg.gamma))
        elif parts:
            parts.append(ConstantLR(optimizer, factor=1.0, total_iters=0))
        plateau = (ReduceLROnPlateau(optimizer, mode="max", factor=cfg.gamma, patience=2)
                   if cfg.scheduler == "plateau" else None)
        if len(parts) > 1:
            return SequentialLR(optimizer, parts, milestones=[warmup]), plateau
        return (parts[0] if parts else None), plateau

    def _set_embedding_frozen(self, epoch: int) -> None:
        embedding = getattr(self.model, "embedding", None)
        if embedding is None or not getattr(embedding, "pretrained", False):
            return  # random embeddings are always trained
        k = self.config.freeze_embedding_epochs
        embedding.set_frozen(k == -1 or epoch < k)

    def _loss_fn(self, train: EncodedSplit) -> TrainingLoss:
        return training_loss(self.task, self.config, train, self.device)

    def _epoch_order(self, train: EncodedSplit) -> torch.Tensor:
        """Example indices for one epoch: a permutation (or class-balanced draws), cut to the per-epoch budget."""
        n = len(train)
        if self.config.balanced_sampler:  # every class equally likely per draw
            labels = train.labels.cpu()
            counts = torch.bincount(labels, minlength=self.task.num_labels).float().clamp_min(1)
            order = torch.multinomial((1.0 / counts)[labels], n, replacement=True, generator=self.generator)
        else:
            order = torch.randperm(n, generator=self.generator)
        if self.config.batches_per_epoch:
            order = order[: self.config.batches_per_epoch * self.config.batch_size]
        return order

    def _epoch_batches(self, train: EncodedSplit) -> list[torch.Tensor]:
        """The epoch's batches of example indices (on the host). With `length_buckets`, each window of
        BUCKET_WINDOW batches is sorted by length before it is cut, and the batches are shuffled: a batch's padded
        width shrinks to what its texts need, every example is still visited once."""
        order, size = self._epoch_order(train), self.config.batch_size
        if self.config.length_buckets:
            lengths = train.lengths.cpu()[order]
            window = size * BUCKET_WINDOW
            order = torch.cat([order[start:start + window][torch.argsort(lengths[start:start + window], stable=True)]
                               for start in range(0, len(order), window)]) if len(order) else order
        batches = list(torch.split(order, size))
        if self.config.length_buckets and len(batches) > 1:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        return batches

    def _targets(self, train: EncodedSplit, idx: torch.Tensor, labels: torch.Tensor) -> Targets:
        return batch_targets(self.task, self.config.soft_labels, train, idx, labels)

    def _backward(self, ids: torch.Tensor, lengths: torch.Tensor, targets: Targets,
                  loss_fn: TrainingLoss) -> tuple[torch.Tensor, torch.Tensor]:
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
        with autocast(self.device, self.use_bf16):
            return self.model(ids, lengths)

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
            cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None,
            on_checkpoint: CheckpointCallback | None = None, resume: dict | None = None) -> list[dict]:
        """Train for up to `epochs`, validating after each; stops `patience` epochs after the best one and leaves
        the model with the best weights. After each epoch that training goes on from, `on_checkpoint` gets the
        whole training state (see checkpoint.training_state); `resume`, such a state, continues after its epoch."""
        with deterministic_kernels(self.config.deterministic):
            return self._fit(train, validation, on_epoch, cancel, on_progress, on_checkpoint, resume)

    def _fit(self, train: EncodedSplit, validation: EncodedSplit, on_epoch: EpochCallback | None,
             cancel: threading.Event | None, on_progress: ProgressCallback | None,
             on_checkpoint: CheckpointCallback | None, resume: dict | None) -> list[dict]:
        cfg = self.config
        session = self.start(train)
        val_dev = validation.to(self.device)
        best_value, stale, first = -math.inf, 0, 1
        if resume is not None:
            best_value, stale, first = restore_training_state(self, session, resume)
        for epoch in range(first, cfg.epochs + 1):
            started = time.perf_counter()
            loss, accuracy, seen = self.train_epoch(session, epoch, cancel, on_progress)
            with session.average.applied(self.model) if session.average is not None else nullcontext():
                val = self.evaluate(val_dev, limit=cfg.val_examples)  # the plain loss: no smoothing, no weights
                if not math.isfinite(val["loss"]):  # the last step left non-finite weights
                    raise Diverged(f"the validation loss became non-finite after epoch {epoch}: lower lr")
                improved = val[cfg.monitor.removeprefix("val_")] > best_value
                if improved:  # the weights just validated: the average's when there is one
                    self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            seconds = time.perf_counter() - started
            record = {"epoch": epoch, "train_loss": loss, "train_accuracy": accuracy, "val_loss": val["loss"],
                      "val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"],
                      "lr": session.optimizer.param_groups[0]["lr"], "seconds": seconds,
                      "examples_per_s": seen / seconds}
            self.history.append(record)
            if improved:
                best_value, stale, self.best_epoch = record[cfg.monitor], 0, epoch
                record["best"] = True
            else:
                stale += 1
            if session.plateau is not None:
                session.plateau.step(record[cfg.monitor])
            if on_epoch is not None:
                on_epoch(record)
            if stale >= cfg.patience:
                break
            if on_checkpoint is not None and epoch < cfg.epochs:
                on_checkpoint(training_state(self, session, epoch, best_value, stale))
        self.restore_best()
        return self.history

    def start(self, train: EncodedSplit) -> "TrainingSession":
        """Everything one fit keeps between epochs: the split on the device, optimiser, schedules, loss, average."""
        cfg, device = self.config, self.device
        train_dev, lengths_cpu = train.to(device), train.lengths.cpu()
        self._check_bf16(train_dev, lengths_cpu)
        steps_per_epoch = len(self._epoch_batches(train))
        self.generator.manual_seed(cfg.seed)  # the probe above must not shift the epoch orders
        optimizer = self._optimizer()
        scheduler, plateau = self._schedules(optimizer, steps_per_epoch)
        return TrainingSession(
            train=train, train_dev=train_dev, lengths_cpu=lengths_cpu, optimizer=optimizer,
            scheduler=scheduler, plateau=plateau,
            loss_fn=self._loss_fn(train),
            average=WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None)

    def train_epoch(self, session: "TrainingSession", epoch: int = 1, cancel: threading.Event | None = None,
                    on_progress: ProgressCallback | None = None) -> tuple[float, float, int]:
        """One pass over the epoch's batches: (mean train loss, train accuracy %, examples seen). The loss and the
        hits are summed on the device and read once, at the end."""
        cfg, device, model = self.config, self.device, self.model
        started = time.perf_counter()
        self._set_embedding_frozen(epoch - 1)
        if session.average is not None:
            session.average.skip_frozen(model)
        model.train()
        train_dev, lengths_cpu, optimizer = session.train_dev, session.lengths_cpu, session.optimizer
        batches = self._epoch_batches(session.train)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for step, idx_cpu in enumerate(batches, start=1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the user")
            idx = idx_cpu.to(device, non_blocking=True)
            batch_lengths = lengths_cpu[idx_cpu]
            width = int(batch_lengths.max())  # host tensor: no device sync
            ids, labels = train_dev.ids[idx, :width], train_dev.labels[idx]
            optimizer.zero_grad(set_to_none=True)
            logits, loss = self._backward(ids, model_lengths(model, batch_lengths, train_dev.lengths[idx]),
                                          self._targets(train_dev, idx, labels), session.loss_fn)
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
            optimizer.step()
            if session.scheduler is not None:
                session.scheduler.step()
            if session.average is not None:
                session.average.update()
            loss_sum += loss.detach() * len(idx_cpu)
            correct += hits(self.task, self.config.threshold, logits.detach(), labels)
            seen += len(idx_cpu)
            if (step % FINITE_CHECK_EVERY == 0 or step == len(batches)) and not torch.isfinite(loss_sum):
                raise Diverged(f"the training loss became non-finite in epoch {epoch} (by batch {step} of "
                               f"{len(batches)}): lower lr, or keep grad_clip on")
            if on_progress is not None:
                on_progress(EpochProgress(epoch, cfg.epochs, step, len(batches),
                                          seen / max(1e-9, time.perf_counter() - started)))
        seen_at_least_one = max(1, seen)
        return float(loss_sum) / seen_at_least_one, float(correct) / seen_at_least_one * 100, seen

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def predict_logits(self, split: EncodedSplit, limit: int | None = None) -> torch.Tensor:
        """Logits of the first `limit` examples of a split (all when None)."""
        n = len(split) if limit is None else min(limit, len(split))
        return predict_logits(self.model, split.ids[:n], split.lengths[:n], self.config.eval_batch_size,
                              self.use_bf16)

    @torch.no_grad()
    def evaluate(self, split: EncodedSplit, loss_fn: nn.Module | None = None, limit: int | None = None) -> dict:
        """Loss and the task's metrics on (the first `limit` examples of) a split; a multi-label task applies the
        run's fixed threshold here (tuned thresholds are chosen once, after training)."""
        logits = self.predict_logits(split, limit)
        labels = split.labels[: len(logits)].to(logits.device)
        loss_fn = loss_fn or evaluation_loss(self.task)
        loss = float(loss_fn(logits, labels)) if len(logits) else 0.0
        scores = (torch.sigmoid(logits) if self.task.multi_label else logits).cpu().numpy()  # argmax: logits do
        thresholds = [self.config.threshold] * self.task.num_labels if self.task.multi_label else None
        return {"loss": loss, **task_metrics(self.task, labels.cpu().numpy(), scores, thresholds)}


@contextmanager
def deterministic_kernels(enabled: bool):
    """With `deterministic`, cuDNN and torch use deterministic kernels inside the block (a kernel without one warns
    instead of failing); the process's previous settings come back after it."""
    if not enabled:
        yield
        return
    import os

    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what cuBLAS needs to be deterministic
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]


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
                                  model_lengths(trainer.model, lengths_cpu[:n], train_dev.lengths[:n]))
        logits.float().sum().backward()
        return None
    except RuntimeError as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        trainer.model.zero_grad(set_to_none=True)
