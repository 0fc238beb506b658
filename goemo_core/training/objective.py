"""What a batch is trained towards and how a prediction counts: the targets (class ids, soft labels, 0/1 flags,
the teachers' probabilities), the losses (cross-entropy with class weights, binary cross-entropy per label,
distillation) and the hits behind the training accuracy. The Trainer builds them from its task and config."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..data.tasks import Task
from ..data.text import EncodedSplit
from .config import TrainConfig


@dataclass
class Targets:
    """What a batch is trained towards: class ids or class distributions, the teachers' probabilities, and each
    example's weight on its own label (None: 1 for all; 0 for a transfer variant, learnt from the teachers alone)."""

    labels: torch.Tensor
    teacher: torch.Tensor | None = None
    hard: torch.Tensor | None = None


class TrainingLoss(nn.Module):
    """The usual target's loss, or with teachers (1 − α)·that + α·T²·KL(teacher_T ‖ student_T). Called with a
    plain tensor of labels it is the usual loss alone (validation reports `evaluation_loss` instead). A transfer
    variant (hard weight 0) has no label of its own: its loss is the distillation term alone."""

    def __init__(self, target_loss: nn.Module, distill_weight: float = 0.0, temperature: float = 1.0):
        super().__init__()
        self.target_loss, self.distill_weight, self.temperature = target_loss, distill_weight, temperature

    def forward(self, logits: torch.Tensor, targets: Targets | torch.Tensor) -> torch.Tensor:
        if not isinstance(targets, Targets):
            return self.target_loss(logits, targets)
        if targets.hard is None:
            loss = self.target_loss(logits, targets.labels)
        else:  # each example's target term times its weight, averaged over the whole batch (class weights included)
            loss = (per_example_loss(self.target_loss, logits, targets.labels) * targets.hard).mean()
        if targets.teacher is None or self.distill_weight <= 0:
            return loss
        distilled = distillation_loss(logits, targets.teacher, self.temperature)
        return (1 - self.distill_weight) * loss + self.distill_weight * distilled


class MultiLabelLoss(nn.Module):
    """Binary cross-entropy with a sigmoid per label on 0/1 targets (optionally weighting each label's positives);
    label smoothing moves the targets towards 0.5 by that fraction."""

    def __init__(self, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.pos_weight, self.label_smoothing = pos_weight, label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.float() * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight)


def training_loss(task: Task, config: TrainConfig, train: EncodedSplit, device: str) -> TrainingLoss:
    """The loss a run trains on. With `class_weights`, a class weighs (examples / (classes × its count)) ** power;
    on a multi-label task each label's positives weigh (negatives / positives) ** power. With teachers (the split
    carries their probabilities) the distillation term joins it."""
    if task.multi_label:
        pos_weight = None
        if config.class_weights:
            positives = train.labels.cpu().float().sum(0).clamp_min(1)
            negatives = (len(train) - positives).clamp_min(1)
            pos_weight = ((negatives / positives) ** config.class_weight_power).to(device)
        return TrainingLoss(MultiLabelLoss(pos_weight, config.label_smoothing))
    weight, classes = None, task.num_labels
    if config.class_weights:
        counts = torch.bincount(train.labels.cpu(), minlength=classes).float().clamp_min(1)
        weight = ((counts.sum() / (classes * counts)) ** config.class_weight_power).to(device)
    distill = config.distill_weight if train.teacher is not None else 0.0
    return TrainingLoss(nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing),
                        distill, config.distill_temperature)


def evaluation_loss(task: Task) -> nn.Module:
    """The plain loss reported on validation and test: no weights, no smoothing."""
    return MultiLabelLoss() if task.multi_label else nn.CrossEntropyLoss()


def batch_targets(task: Task, soft_labels: float, train: EncodedSplit, idx: torch.Tensor,
                  labels: torch.Tensor) -> Targets:
    """Class ids, or with `soft_labels` a mix of the primary label and all of the examples' Ekman groups; with
    teachers, their probabilities for the batch too."""
    teacher = None if train.teacher is None else train.teacher[idx]
    hard = None if train.hard is None else train.hard[idx]
    if soft_labels <= 0 or train.distributions is None:
        return Targets(labels, teacher, hard)
    primary = nn.functional.one_hot(labels, task.num_labels).float()
    return Targets((1 - soft_labels) * primary + soft_labels * train.distributions[idx], teacher, hard)


def hits(task: Task, threshold: float, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Examples predicted right: the class (single-label) or every label at the threshold (multi-label)."""
    if not task.multi_label:
        return (logits.argmax(-1) == labels).sum()
    flagged = logits >= math.log(threshold / (1 - threshold))  # sigmoid ≥ threshold
    return (flagged == labels.bool()).all(-1).sum()


def per_example_loss(loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`loss_fn`'s loss of each example [N]: the same module unreduced (a per-class loss is averaged over classes)."""
    unreduced = copy.copy(loss_fn)
    unreduced.reduction = "none"
    return unreduced(logits, targets).reshape(len(logits), -1).mean(1)


def distillation_loss(student_logits: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(teacher_T ‖ student_T), averaged over the batch: `teacher` holds probabilities, softened to
    p^(1/T) / Σ p^(1/T) (the softmax of their logarithms over T); T² keeps the gradients' scale independent of T."""
    soft_teacher = torch.softmax(torch.log(teacher.clamp_min(1e-12)) / temperature, dim=-1)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=-1)
    return F.kl_div(log_student, soft_teacher, reduction="batchmean") * temperature ** 2
