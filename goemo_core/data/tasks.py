"""Tasks: what a model learns to predict from GoEmotions' label lists. A task is a set of label names, a rule that
builds an example's target from its raw label ids, and whether it is single-label (one class per example, softmax,
accuracy) or multi-label (a 0/1 flag per label, a sigmoid per label, macro-F1 under a decision threshold).

`ekman` is the seed's protocol and the default; the multi-label tasks are the GoEmotions paper's (Demszky et al.,
ACL 2020): its full taxonomy, its Ekman grouping and its sentiment grouping, each with a label predicted when its
probability is at least 0.3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import InvalidConfig
from .goemotions import EKMAN_GROUPS, GOEMOTIONS_LABELS, primary_group

# The paper's sentiment grouping (its sentiment_mapping.json), in this class order.
SENTIMENT_GROUPS: dict[str, tuple[str, ...]] = {
    "positive": ("amusement", "excitement", "joy", "love", "desire", "optimism", "caring", "pride", "admiration",
                 "gratitude", "relief", "approval"),
    "negative": ("fear", "nervousness", "remorse", "embarrassment", "disappointment", "sadness", "grief", "disgust",
                 "anger", "annoyance", "disapproval"),
    "ambiguous": ("realization", "surprise", "curiosity", "confusion"),
    "neutral": ("neutral",),
}  # fmt: skip
IDENTITY_GROUPS: dict[str, tuple[str, ...]] = {name: (name,) for name in GOEMOTIONS_LABELS}
DEFAULT_TASK = "ekman"
DEFAULT_THRESHOLD = 0.3  # the paper's decision rule for multi-label tasks


@dataclass(frozen=True)
class Task:
    """One protocol: `labels` in class order, each grouping raw GoEmotions labels; `multi_label` picks the target."""

    name: str
    groups: dict[str, tuple[str, ...]]
    multi_label: bool
    description: str

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.groups)

    @property
    def num_labels(self) -> int:
        return len(self.groups)

    @property
    def accuracy_name(self) -> str:
        """What "accuracy" measures here: on a multi-label task, the share of examples with every label right."""
        return "exact-match accuracy" if self.multi_label else "accuracy"

    @property
    def group_of(self) -> dict[str, int]:
        """Raw label name → the index of its group."""
        return {raw: i for i, members in enumerate(self.groups.values()) for raw in members}

    def target(self, label_ids: Sequence[int], names: Sequence[str] = GOEMOTIONS_LABELS) -> int | list[int]:
        """Single-label: the primary group (most frequent; a tie goes to the group listed first). Multi-label: a
        0/1 flag per label, 1 for every group one of the example's raw labels belongs to."""
        if len(label_ids) == 0:
            raise ValueError("an example needs at least one label")
        if not self.multi_label:
            return primary_group(label_ids, self.group_of, names)
        return self.flags(label_ids, names)

    def flags(self, label_ids: Sequence[int], names: Sequence[str] = GOEMOTIONS_LABELS) -> list[int]:
        """A 0/1 flag per label: 1 for every group one of the example's raw labels belongs to."""
        group_of, flags = self.group_of, [0] * self.num_labels
        for i in label_ids:
            flags[group_of[names[i]]] = 1
        return flags

    def shares(self, label_ids: Sequence[int], names: Sequence[str] = GOEMOTIONS_LABELS) -> list[float]:
        """The share of an example's raw labels in each group (sums to 1): the soft-label target of a single-label
        task, which keeps what the primary label drops."""
        if len(label_ids) == 0:
            raise ValueError("an example needs at least one label")
        group_of, shares = self.group_of, [0.0] * self.num_labels
        for i in label_ids:
            shares[group_of[names[i]]] += 1.0 / len(label_ids)
        return shares

    def counts(self, targets: "numpy.ndarray") -> dict[str, int]:  # noqa: F821
        """Examples per label: class ids counted (single-label) or 0/1 flags summed per column (multi-label)."""
        import numpy as np

        targets = np.asarray(targets, dtype=np.int64)
        totals = targets.reshape(-1, self.num_labels).sum(0) if self.multi_label else np.bincount(
            targets.reshape(-1), minlength=self.num_labels)
        return {name: int(totals[i]) for i, name in enumerate(self.labels)}

    def targets(self, label_lists: Sequence[Sequence[int]], names: Sequence[str] = GOEMOTIONS_LABELS) -> list:
        return [self.target(ids, names) for ids in label_lists]


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("ekman", EKMAN_GROUPS, False, "Ekman's 6 emotions + neutral, one primary label per example (the seed's)"),
    Task("ekman-multilabel", EKMAN_GROUPS, True, "Ekman's 6 emotions + neutral, every annotated group (the paper's)"),
    Task("goemotions", IDENTITY_GROUPS, True, "the 27 emotions + neutral, every annotated label (the paper's)"),
    Task("sentiment", SENTIMENT_GROUPS, True, "positive, negative, ambiguous, neutral, multi-label (the paper's)"),
    Task("sentiment-single", SENTIMENT_GROUPS, False, "the sentiment groups, one primary label per example"),
)}  # fmt: skip
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def task_of_config(config: dict) -> str:
    """The task a run folder's config names (runs from before tasks existed: the default)."""
    return get_task(config.get("task")).name


def tasks_present(configs: Sequence[dict]) -> list[str]:
    """The tasks of these run configs, in TASK_NAMES order: what a page's task select offers."""
    present = {task_of_config(config) for config in configs}
    return [name for name in TASK_NAMES if name in present]


def get_task(name: str | None) -> Task:
    """The task called `name` (None: the default, what runs from before tasks existed were trained on)."""
    key = DEFAULT_TASK if name in (None, "") else str(name)
    if key not in TASKS:
        raise InvalidConfig(f"task: '{key}' is not one of {', '.join(TASK_NAMES)}.")
    return TASKS[key]


# ---------------------------------------------------------------------------------------------------------------
# Statistics per task


def task_distribution(splits: dict, task: Task) -> "pandas.DataFrame":  # noqa: F821
    """Long table split/label/examples/share: examples per label of the task in each split (`splits`: name → a
    split with a `labels` column). Multi-label shares can add up to more than 1 (an example counts for each label)."""
    import pandas as pd

    rows = []
    for name, split in splits.items():
        counts = task.counts(task.targets(split["labels"]))
        rows += [{"split": name, "label": label, "examples": count, "share": count / max(len(split), 1)}
                 for label, count in counts.items()]
    return pd.DataFrame(rows, columns=["split", "label", "examples", "share"])


def label_cooccurrence(split, task: Task) -> "pandas.DataFrame":  # noqa: F821
    """Long table a/b/examples/share: how many examples of `split` carry both labels a and b of the task (the
    diagonal: each label's own count); share is of the examples carrying a."""
    import numpy as np
    import pandas as pd

    flags = np.asarray([task.flags(ids) for ids in split["labels"]], dtype=np.int64).reshape(-1, task.num_labels)
    both = flags.T @ flags
    own = np.diag(both)
    return pd.DataFrame([{"a": a, "b": b, "examples": int(both[i, j]), "share": float(both[i, j] / max(own[i], 1))}
                         for i, a in enumerate(task.labels) for j, b in enumerate(task.labels)])
