"""The examples an attack runs on: the test split shuffled by a seed, its first N. The same for every run of a task
(whatever the run's limit), so runs compare on the same texts, and a smaller N is the start of a larger one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..data.goemotions import load_goemotions
from ..data.tasks import Task
from ..errors import InvalidConfig
from ..settings import Settings

DEFAULT_N = 500
DEFAULT_SEED = 211


@dataclass(frozen=True)
class Example:
    id: str  # GoEmotions' example id
    text: str
    label: int  # the task's class index


@dataclass(frozen=True)
class Sample:
    n: int
    seed: int
    examples: tuple[Example, ...]

    @property
    def ids_sha256(self) -> str:
        """A digest of the example ids in order: equal digests, same texts."""
        return hashlib.sha256("\n".join(e.id for e in self.examples).encode()).hexdigest()

    def describe(self) -> dict:
        return {"split": "test", "n": self.n, "seed": self.seed, "ids_sha256": self.ids_sha256}


def attack_sample(task: Task, n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
                  settings: Settings | None = None) -> Sample:
    """The first `n` test examples in the order a permutation seeded by `seed` gives, with the task's labels."""
    import numpy as np

    if task.multi_label:
        raise InvalidConfig(f"task {task.name} is multi-label: an attack needs one label per example.")
    test = load_goemotions(settings)["test"]
    if not 1 <= int(n) <= len(test):
        raise InvalidConfig(f"--n: {n} must be between 1 and the test split's {len(test):,} examples.")
    order = np.random.default_rng(int(seed)).permutation(len(test))[: int(n)].tolist()
    rows = test.select(order)
    labels = task.targets(rows["labels"])
    examples = tuple(Example(str(i), str(t), int(label)) for i, t, label in zip(rows["id"], rows["text"], labels))
    return Sample(int(n), int(seed), examples)
