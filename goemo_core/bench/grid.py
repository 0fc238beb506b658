"""A benchmark grid as an Optuna study on the shared storage: each cell (architecture, seed, task, recipe overrides)
is a waiting trial with the cell as fixed params and user attributes, trained by `goemo worker`s on any machine
(goemo_core.jobs.worker). The study is the grid's whole state: which cells wait, which run (on which worker), which
are done (the run id and metrics as trial attributes) and which failed. A trial whose worker died is failed by its
heartbeat and queued again once (tune.storage.RETRY_ATTR).

Cells are added with `study.enqueue_trial` (a WAITING trial with the cell as `fixed_params` and as the `cell` user
attribute, which optuna-dashboard shows). Enqueueing again adds only the missing cells: those with no trial that
waits, runs or is complete (a cell whose every trial failed is queued again)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..data.tasks import DEFAULT_TASK, get_task
from ..errors import InvalidConfig
from ..models import get_architecture
from ..settings import mask_url
from ..training.config import MAX_SEED, RECIPE_KEYS, TrainConfig, make_config
from ..tune.plan import GRID_ATTR, STUDY_ATTR, name_metric
from ..tune.storage import RETRY_ATTR, open_storage, storage_url, uses_heartbeats

if TYPE_CHECKING:
    import optuna

CELL_ATTR = "cell"  # a trial's user attribute: the cell it trains
RETRIES = 1  # a cell whose worker died is queued again once; a second death fails it
METRIC_NAME = "validation accuracy (%) or macro-F1 (multi-label tasks)"
CELL_KEYS = {"seed", "task"}  # a cell's own fields, never an override
WORKER_KEYS = {"device", "recipe"}  # decided by the worker that trains the cell (its device and that device's recipe)
STATES = {"WAITING": "waiting", "RUNNING": "running", "COMPLETE": "done", "FAIL": "failed", "PRUNED": "failed"}
RESULT_ATTRS = ("worker", "host", "device", "run_id", "status", "val_accuracy", "val_macro_f1", "test_accuracy",
                "test_macro_f1", "seconds", "error")


class CellAttr(BaseModel):
    """A trial's `cell` attribute as read back from any storage."""

    model_config = ConfigDict(strict=True, extra="forbid")
    arch: Annotated[str, Field(min_length=1, max_length=100)]
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)]
    task: Annotated[str, Field(min_length=1, max_length=100)]
    overrides: dict[str, Any] = {}


@dataclass(frozen=True)
class Cell:
    """One cell of a grid: what to train (the worker adds its device)."""

    arch: str
    seed: int
    task: str = DEFAULT_TASK
    overrides: tuple[tuple[str, Any], ...] = ()  # (key, value), sorted: recipe fields and model hyperparameters

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.overrides)

    def key(self) -> str:
        """What makes two cells the same cell."""
        return json.dumps([self.arch, self.seed, self.task, self.settings], sort_keys=True, default=str)

    def to_attr(self) -> dict:
        return {"arch": self.arch, "seed": self.seed, "task": self.task, "overrides": self.settings}

    def params(self) -> dict[str, Any]:
        return {"arch": self.arch, "seed": self.seed, "task": self.task}

    def train_config(self, device: str) -> TrainConfig:
        """The cell's resolved configuration on the worker's `device` (with that device's recipe)."""
        return make_config(self.arch, {**self.settings, "seed": self.seed, "task": self.task, "device": device})

    def changes(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.overrides) or "defaults"

    def title(self) -> str:
        task = "" if self.task == DEFAULT_TASK else f" · {self.task}"
        return f"{self.arch} seed {self.seed}{task} ({self.changes()})"

    @classmethod
    def from_attr(cls, value: Any) -> "Cell":
        """A cell read back from a trial's attribute; InvalidConfig when it is not one."""
        try:
            attr = CellAttr.model_validate(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or CELL_ATTR
            raise InvalidConfig(f"not a grid cell ({CELL_ATTR}.{where}: {first['msg']})") from None
        return cls(attr.arch, attr.seed, attr.task, tuple(sorted(attr.overrides.items())))


def canonical_overrides(arch: str, task: str, overrides: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """`overrides` (text from --set, or typed values from a form) checked against a resolved configuration and kept
    as that configuration reads them, so `hidden_size=16` and `hidden_size="16"` are the same cell."""
    overrides = dict(overrides)
    params = overrides.pop("params", None) or {}
    overrides.update(params)
    for key in (CELL_KEYS | WORKER_KEYS) & set(overrides):
        raise InvalidConfig(f"{key}: {'a cell has its own' if key in CELL_KEYS else 'each worker decides its'} "
                            f"{key}; give it {'with its own flag' if key in CELL_KEYS else 'to the worker'}.")
    resolved = make_config(arch, {**overrides, "task": task, "device": "cpu"}).to_dict()
    kept = {key: resolved[key] if key in RECIPE_KEYS else resolved["params"][key] for key in overrides}
    return tuple(sorted(kept.items()))


def grid_cells(archs: Sequence[str], seeds: Sequence[int], task: str | None = None,
               overrides: dict[str, Any] | None = None) -> list[Cell]:
    """The cells of archs × seeds for one task and one set of overrides, each checked as a configuration."""
    task_name = get_task(task).name
    cells = []
    for arch in archs:
        get_architecture(arch)
        settings = canonical_overrides(arch, task_name, overrides or {})
        cells += [Cell(arch, int(seed), task_name, settings) for seed in seeds]
    return cells


# --- the study ---------------------------------------------------------------------------------------------------
def open_grid(name: str, storage: str | None = None, create: bool = True) -> "optuna.Study":
    """The grid's study: created (maximising each cell's validation metric, stale cells retried once) when `create`
    and it does not exist; a tuning study of that name, or a storage without heartbeats, is refused."""
    import optuna

    url = storage_url(storage)
    if not uses_heartbeats(url):
        raise InvalidConfig(f"storage: {mask_url(url)} keeps no heartbeat, so a dead worker's cell would never be "
                            "retried; give the grid a PostgreSQL (or, on one machine, SQLite) storage.")
    backend = open_storage(url)
    try:
        attrs = backend.get_study_user_attrs(backend.get_study_id_from_name(name))
    except KeyError:
        if not create:
            raise InvalidConfig(f"study: no grid '{name}' in {mask_url(url)}.") from None
        attrs = None
    if attrs is not None and GRID_ATTR not in attrs:
        raise InvalidConfig(f"study: '{name}' in {mask_url(url)} is "
                            f"{'a tuning study' if STUDY_ATTR in attrs else 'not a grid'}; choose another name.")
    study = optuna.create_study(study_name=name, storage=backend, direction="maximize", load_if_exists=True)
    if attrs is None:
        study.set_user_attr(GRID_ATTR, {"format": 1})
        study.set_user_attr(RETRY_ATTR, RETRIES)
        name_metric(study, METRIC_NAME)
    return study


def enqueue_cell(study: "optuna.Study", cell: Cell, carried: dict | None = None) -> None:
    """Add `cell` as a waiting trial: `study.enqueue_trial` with the cell as fixed params and user attribute; a cell
    queued again (released by a stopping worker) carries its retry history (`carried` system attributes)."""
    import optuna

    if not carried:
        study.enqueue_trial(cell.params(), user_attrs={CELL_ATTR: cell.to_attr()})
        return
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING,
                                              user_attrs={CELL_ATTR: cell.to_attr()},
                                              system_attrs={**carried, "fixed_params": cell.params()}))


def enqueue_grid(name: str, cells: Sequence[Cell], storage: str | None = None) -> dict:
    """Add the cells the grid lacks; returns {study, storage, cells, added, kept, counts}."""
    study = open_grid(name, storage)
    wanted = list({cell.key(): cell for cell in cells}.values())
    present = {row["key"] for row in cell_rows(study) if row["state"] in ("waiting", "running", "done")}
    added = [cell for cell in wanted if cell.key() not in present]
    for cell in added:
        enqueue_cell(study, cell)
    return {"study": name, "storage": mask_url(storage_url(storage)), "cells": len(wanted), "added": len(added),
            "kept": len(wanted) - len(added), "counts": state_counts(cell_rows(study))}


def cell_of(trial: "optuna.trial.FrozenTrial") -> Cell | None:
    try:
        return Cell.from_attr(trial.user_attrs.get(CELL_ATTR))
    except InvalidConfig:
        return None


def cell_rows(study: "optuna.Study") -> list[dict]:
    """One row per cell, in the order cells were added: its state (the state of its latest trial: waiting, running,
    done or failed), attempts (trials that ran it, releases not counted), and what its latest trial recorded."""
    trials: dict[str, list] = {}
    cells: dict[str, Cell] = {}
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        cell = cell_of(trial)
        if cell is not None:
            trials.setdefault(cell.key(), []).append(trial)
            cells[cell.key()] = cell
    rows = []
    for key, history in trials.items():
        latest, cell = history[-1], cells[key]
        state = STATES.get(latest.state.name, latest.state.name.lower())
        attrs = latest.user_attrs if state != "waiting" else {}
        rows.append({"key": key, "arch": cell.arch, "seed": cell.seed, "task": cell.task, "changes": cell.changes(),
                     "state": state, "trial": latest.number, "value": latest.value,
                     "attempts": sum(t.state.name != "WAITING" and not t.user_attrs.get("released") for t in history),
                     "started": latest.datetime_start, **{name: attrs.get(name) for name in RESULT_ATTRS}})
    return rows


def state_counts(rows: Sequence[dict]) -> dict[str, int]:
    counts = {state: 0 for state in ("done", "running", "waiting", "failed")}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts


def grid_progress(name: str, storage: str | None = None) -> dict:
    """{study, storage, counts, cells}: the grid's cells as its study holds them (for `bench grid` and the app)."""
    rows = cell_rows(open_grid(name, storage, create=False))
    cells = [{k: (v.isoformat(sep=" ", timespec="seconds") if hasattr(v, "isoformat") else v)
              for k, v in row.items() if k != "key"} for row in rows]
    return {"study": name, "storage": mask_url(storage_url(storage)), "counts": state_counts(rows), "cells": cells}


def list_grids(storage: str | None = None) -> list[str]:
    """The names of the grids in the storage, oldest first."""
    import optuna

    summaries = optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)
    return [s.study_name for s in sorted(summaries, key=lambda s: getattr(s, "_study_id", 0))
            if GRID_ATTR in s.user_attrs]


def progress_text(document: dict) -> str:
    """`bench grid`'s table: one line per cell."""
    counts = document["counts"]
    lines = [f"grid {document['study']} ({document['storage']}): " + ", ".join(f"{v} {k}" for k, v in counts.items())]
    for row in document["cells"]:
        value = f"{row['value']:.2f}" if isinstance(row["value"], (int, float)) else "-"
        where = row["worker"] or "-"
        lines.append(f"{row['state']:<8} {row['arch']:<11} seed {row['seed']:<6} {row['task']:<10} val {value:>6}  "
                     f"{row['run_id'] or '-':<28} {where}  ({row['changes']})"
                     + (f"  · {row['error']}" if row["state"] == "failed" and row["error"] else ""))
    return "\n".join(lines)
