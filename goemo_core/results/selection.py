"""Choosing among many runs: filters by architecture, task, tag, name and status, a comparison written to and read
from a URL's query (`?task=ekman&run=ID&run=ID&arch=gru&tag=baseline`), so a copied link reopens the same task and
selection, and the selection a comparison starts at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..runs.folder import Run
from .recipes import recipe_key, task_of

LIST_KEYS = ("arch", "task", "tag", "status")  # the list filters
# Query keys that may repeat; "name" is one text, "run" the ids, "task" the one task a comparison shows (the pages
# that keep a link show one task at a time, so its runs need no task filter).
QUERY_KEYS = ("arch", "tag", "status")


@dataclass(frozen=True)
class RunFilter:
    """Which runs to show: each list keeps runs matching any of its values (empty: no condition); `name` keeps
    runs whose name or id contains it (case-insensitive)."""

    arch: tuple[str, ...] = ()
    task: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    name: str = ""

    def keeps(self, run: Run) -> bool:
        config, label = run.config, run.label
        needle = self.name.strip().lower()
        return ((not self.arch or config.get("arch") in self.arch)
                and (not self.task or task_of(config) in self.task)
                and (not self.tag or bool(set(label.tags) & set(self.tag)))
                and (not self.status or run.status in self.status)
                and (not needle or needle in label.name.lower() or needle in run.run_id.lower()))

    def apply(self, runs: Sequence[Run]) -> list[Run]:
        return [run for run in runs if self.keeps(run)]

    @property
    def active(self) -> bool:
        return any((self.arch, self.task, self.tag, self.status, self.name.strip()))


def filter_options(runs: Sequence[Run]) -> dict[str, list[str]]:
    """The values each list filter can take among `runs`, sorted."""
    return {"arch": sorted({str(run.config.get("arch")) for run in runs}),
            "task": sorted({task_of(run.config) for run in runs}),
            "tag": sorted({tag for run in runs for tag in run.label.tags}),
            "status": sorted({run.status for run in runs})}


@dataclass(frozen=True)
class Permalink:
    """A comparison as a URL query holds it: its task, the filters and the ids of the selected runs."""

    filter: RunFilter = field(default_factory=RunFilter)
    runs: tuple[str, ...] = ()
    task: str | None = None

    def to_query(self) -> dict[str, list[str] | str]:
        """Query parameters (lists repeat their key); empty ones are left out, so a plain page keeps a plain URL."""
        query: dict[str, list[str] | str] = {"task": self.task} if self.task else {}
        query.update({key: list(getattr(self.filter, key)) for key in QUERY_KEYS if getattr(self.filter, key)})
        if self.filter.name.strip():
            query["name"] = self.filter.name.strip()
        if self.runs:
            query["run"] = list(self.runs)
        return query

    def task_among(self, runs: Sequence[Run]) -> str | None:
        """The task the link shows: the one it names, else the task most of its linked runs were trained on (a
        link written before links named their task), else None."""
        if self.task:
            return self.task
        linked = [task_of(run.config) for run in runs if run.run_id in self.runs]
        return max(dict.fromkeys(linked), key=linked.count) if linked else None

    @classmethod
    def from_query(cls, query: Mapping[str, Sequence[str] | str]) -> "Permalink":
        """Read back what `to_query` wrote (a value may come as one text or a list; commas also separate)."""
        def values(key: str) -> tuple[str, ...]:
            raw = query.get(key) or ()
            items = [raw] if isinstance(raw, str) else list(raw)
            return tuple(dict.fromkeys(part.strip() for item in items for part in item.split(",") if part.strip()))

        name = query.get("name") or ""
        name = name if isinstance(name, str) else " ".join(name)
        task = values("task")
        return cls(RunFilter(**{key: values(key) for key in QUERY_KEYS}, name=name), values("run"),
                   task[0] if task else None)


DEFAULT_SELECTION = 8  # runs a comparison starts with (more when the newest recipe alone has more seeds)


def default_selection(runs: Sequence[Run], max_runs: int = DEFAULT_SELECTION) -> list[int]:
    """Positions (in `runs`, newest first) of the runs a comparison starts with: whole recipes, never part of one
    (every completed seed of a recipe together, so the summary pools them all), newest recipe first, as many as fit
    in `max_runs`; the newest recipe is taken whole even when it alone has more."""
    recipes: dict[str, list[int]] = {}
    for i, run in enumerate(runs):
        if run.status == "completed" and run.problem is None:
            recipes.setdefault(recipe_key(run.config), []).append(i)
    chosen: list[int] = []
    for positions in recipes.values():  # in the order of each recipe's newest run
        if chosen and len(chosen) + len(positions) > max_runs:
            break
        chosen += positions
    return sorted(chosen)
