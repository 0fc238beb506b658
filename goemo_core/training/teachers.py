"""The teachers of a distilled student: the runs (or ensemble runs) it learns from, checked against the student's
data and task, and their mean class probabilities on the train texts, computed once through their own predictors
and cached. Validation and test never see a teacher. The loss the student learns with is the objective's
(objective.distillation_loss)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import torch

from ..data.goemotions import NUM_CLASSES, evaluation_fingerprint
from ..errors import InvalidConfig, MissingResource
from ..runs.atomic import save_tensors
from ..runs.folder import Run, weights_stamp
from ..runs.store import RunStore
from ..serving.ensemble import check_compatible, check_evaluated_on, fits
from ..serving.predict import load_predictor
from ..settings import Settings, ensure_folder, get_settings
from .config import TrainConfig


def check_teachers(config: TrainConfig, settings: Settings | None = None, store: RunStore | None = None) -> list[Run]:
    """The teacher runs of `config`, or an InvalidConfig naming the teacher that is missing, unfinished or was
    trained on other data than the student's."""
    settings = settings or get_settings()
    store = store or RunStore(settings=settings)
    teachers = []
    for run_id in config.teachers:
        try:
            teachers.append(store.get(run_id))
        except MissingResource:
            raise InvalidConfig(f"teacher {run_id}: no such run (see `python -m goemo_core runs list`).") from None
    if not teachers:
        return []
    check_compatible(teachers, "teacher", task=config.task)
    for teacher in teachers:
        source, limit = teacher.config.get("data_source"), teacher.config.get("limit")
        if source != settings.data_source or limit not in (None, config.limit):
            raise InvalidConfig(f"teacher {teacher.run_id} was trained on other data than this run "
                                f"({source}, limit {limit} vs {settings.data_source}, limit {config.limit}).")
        check_evaluated_on([teacher], evaluation_fingerprint(settings, limit), "teacher")
        if teacher.is_ensemble:
            store.members(teacher)  # gone or looping members are refused before any work
    return teachers


def teacher_probabilities(teachers: Sequence[Run], texts: Sequence[str], cache_dir: Path) -> torch.Tensor:
    """The teachers' mean class probabilities [N, C] (float32) on the student's train texts, computed once per
    (teachers, their weights, texts) and kept under `cache_dir`/teachers."""
    key = hashlib.sha256(repr((sorted((t.run_id, weights_stamp(t)) for t in teachers),
                               hashlib.sha256("\0".join(texts).encode("utf-8", "surrogatepass")).hexdigest()))
                         .encode()).hexdigest()[:20]
    path = Path(cache_dir) / "teachers" / f"{key}.safetensors"
    if path.is_file():
        from safetensors.torch import load_file

        try:
            cached = load_file(str(path))["probabilities"]
            if fits(cached, len(texts)):
                return cached
        except Exception:  # a damaged cache entry (wrong shape, NaN, not a safetensors file) is computed again
            pass
    ensure_folder(path.parent)  # before the work: a file in the cache's place is said at once
    probabilities = torch.stack([load_predictor(teacher).probabilities(list(texts)) for teacher in teachers]).mean(0)
    if not fits(probabilities, len(texts)):
        raise InvalidConfig(f"teachers {', '.join(t.run_id for t in teachers)} give probabilities that are not "
                            f"finite [examples, {NUM_CLASSES}] rows summing to 1; a student cannot "
                            "learn from them.")
    save_tensors(path, {"probabilities": probabilities.float()})
    return probabilities.float()
