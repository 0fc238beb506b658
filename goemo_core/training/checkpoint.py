"""A run that stops part-way (the machine is needed, the session ends, SIGTERM) goes on from its last finished epoch
instead of starting again: after each epoch the whole training state is written to the run folder's checkpoint.pt,
and removed once the run is complete. A resumed run trains exactly as it would have without the stop (the same
batches, dropout masks and schedule), because every random state is in the checkpoint too."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InvalidConfig
from ..runs.atomic import write_with
from ..runs.folder import Run
from ..runs.store import RunStore

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_FORMAT = 1  # what training_state holds; a run checkpointed in another format is trained again
STOPPED = ("cancelled", "interrupted")  # statuses of a run that may go on


def training_state(trainer: Any, session: Any, epoch: int, best_value: float, stale: int) -> dict:
    """Everything a Trainer (with its TrainingSession) needs to go on after `epoch` as if it had never stopped: the
    weights, the optimiser, the schedules, the weight average, the best weights so far, the history and every random
    state. Typed loosely: this module sits below the Trainer, which imports it."""
    def copy(state: dict) -> dict:
        return {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in state.items()}

    return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "best_value": best_value, "stale": stale,
            "best_epoch": trainer.best_epoch, "history": list(trainer.history), "notes": list(trainer.notes),
            "use_bf16": trainer.use_bf16, "model": copy(trainer.model.state_dict()), "best_state": trainer.best_state,
            "optimizer": session.optimizer.state_dict(),
            "scheduler": session.scheduler.state_dict() if session.scheduler is not None else None,
            "plateau": session.plateau.state_dict() if session.plateau is not None else None,
            "average": ({"steps": session.average.steps, "shadow": copy(session.average.shadow)}
                        if session.average is not None else None),
            "generator": trainer.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_training_state(trainer: Any, session: Any, state: dict) -> tuple[float, int, int]:
    """Load a training_state into `trainer` and `session`; returns (best value, stale epochs, next epoch)."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise InvalidConfig(f"the checkpoint is of format {state.get('format')!r}, not {CHECKPOINT_FORMAT}")
    trainer.model.load_state_dict(state["model"])
    session.optimizer.load_state_dict(state["optimizer"])
    for part, saved in ((session.scheduler, state["scheduler"]), (session.plateau, state["plateau"])):
        if (part is None) != (saved is None):
            raise InvalidConfig("the checkpoint's schedule does not match the run's config")
        if part is not None:
            part.load_state_dict(saved)
    if (session.average is None) != (state["average"] is None):
        raise InvalidConfig("the checkpoint's weight average does not match the run's config")
    if session.average is not None:
        session.average.steps = state["average"]["steps"]
        for key, value in state["average"]["shadow"].items():
            session.average.shadow[key].copy_(value)
    trainer.best_state, trainer.best_epoch = state["best_state"], state["best_epoch"]
    trainer.history, trainer.notes, trainer.use_bf16 = list(state["history"]), list(state["notes"]), state["use_bf16"]
    trainer.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["best_value"], state["stale"], state["epoch"] + 1


def save_checkpoint(run: Run, state: dict) -> None:
    """Write the state atomically: a stop while it is written leaves the previous epoch's checkpoint."""
    write_with(run.path / CHECKPOINT_FILE, lambda tmp: torch.save(state, tmp))


def load_checkpoint(run: Run) -> dict | None:
    """The run's checkpoint, or None when it has none or it cannot be read (the run is then trained again)."""
    path = run.path / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged or foreign file: not a state to go on from
        return None
    return state if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT else None


def remove_checkpoint(run: Run) -> None:
    (run.path / CHECKPOINT_FILE).unlink(missing_ok=True)


def resumable_runs(store: RunStore) -> list[Run]:
    """The runs that stopped part-way and can go on: cancelled, interrupted (marked so when a server found it left
    running), or still marked running by a process that is gone, with a checkpoint. Newest first."""
    live = {run.run_id for run in store.live()}
    return [run for run in store.list()
            if (run.status in STOPPED or (run.status == "running" and run.run_id not in live))
            and (run.path / CHECKPOINT_FILE).is_file()]
