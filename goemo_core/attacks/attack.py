"""Attacking runs: a recipe over the seeded sample of test examples, written to the run folder (attacks/<recipe>.json
with the settings and figures, attacks/<recipe>-examples.jsonl with every example) and mirrored to MLflow when the
mirror is on; many runs and recipes one after the other; one sentence at a time for the Classify page."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from .. import __version__
from ..data.tasks import get_task
from ..errors import InvalidConfig, MissingResource
from ..integrations.mlflow_mirror import mirror_again
from ..runs.attack_files import read_attack, write_attack
from ..runs.folder import Run
from ..runs.schemas import Unreadable
from ..runs.store import RunStore
from ..serving.predict import clean_text, load_predictor
from ..settings import effective_device
from .adapter import attack_examples, attack_text, build_attack, describe_result, example_seed, textattack_version
from .figures import figures_from_results
from .recipes import Recipe, get_recipe
from .sample import DEFAULT_N, DEFAULT_SEED, Sample, attack_sample

Log = Callable[[str], None]
PROGRESS_EVERY_S = 5.0  # how often a progress line is logged (the callback hears every example)
# Torch threads while attacking: TextAttack asks for many small batches, and on a shared CPU two threads meeting at a
# barrier every recurrent step cost far more than they gain (docs/robustness.md has the timings).
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class Progress:
    """Where an attack is: examples done of total, TextAttack's result counts so far, examples per minute."""

    recipe: str
    run_id: str
    done: int
    total: int
    counts: dict[str, int]
    per_minute: float

    def text(self) -> str:
        left = (self.total - self.done) / self.per_minute if self.per_minute > 0 else None
        eta = f" · about {left:.0f} min left" if left is not None and left >= 1 else ""
        return (f"{self.recipe} on {self.run_id}: {self.done:,}/{self.total:,} examples · "
                + " · ".join(f"{n} {kind}" for kind, n in self.counts.items()) + f" · {self.per_minute:.0f}/min{eta}")


def check_attackable(run: Run) -> None:
    """Only a completed single-label run is attacked: TextAttack's classification goals take one label a text."""
    if run.problem:
        raise MissingResource(f"Run {run.run_id} cannot be attacked: {run.problem}.")
    task = get_task(run.config.get("task"))
    if task.multi_label:
        raise InvalidConfig(f"run {run.run_id} is multi-label (task {task.name}): TextAttack's classification goals "
                            "take one label per text, so only single-label runs are attacked.")
    if run.status != "completed":
        raise InvalidConfig(f"run {run.run_id} is {run.status}: only completed runs are attacked.")


def stored(run: Run, recipe: Recipe) -> dict | None:
    """The run's readable stored attack of `recipe`, or None."""
    try:
        return read_attack(run, recipe.name)
    except Unreadable:
        return None


def reusable(run: Run, recipe: Recipe, sample: Sample) -> dict | None:
    """The run's stored attack of `recipe` when it was made on the same sample (its figures then stand)."""
    document = stored(run, recipe)
    return document if document is not None and document["sample"]["ids_sha256"] == sample.ids_sha256 else None


def check_replaceable(run: Run, recipe: Recipe, sample: Sample, fresh: bool) -> None:
    """A stored attack on another sample is replaced only when asked (`fresh`): it may have cost an hour."""
    document = stored(run, recipe)
    if fresh or document is None or document["sample"]["ids_sha256"] == sample.ids_sha256:
        return
    other = document["sample"]
    raise InvalidConfig(f"run {run.run_id} already has a {recipe.name} attack on another sample (n={other['n']}, "
                        f"seed {other['seed']}); attack again with --fresh (on Compare: Attack again) to replace it.")


def attack_run(run: Run, recipe_name: str, n: int = DEFAULT_N, seed: int = DEFAULT_SEED, device: str = "cpu",
               fresh: bool = False, sample: Sample | None = None, log: Log = lambda message: None,
               on_progress: Callable[[Progress], None] | None = None,
               check_cancel: Callable[[], None] | None = None, threads: int = DEFAULT_THREADS) -> dict:
    """Attack `run` with a recipe on the first `n` test examples of the permutation seeded by `seed`; returns the
    attack document (as written), or the stored one when the same sample was attacked before (unless `fresh`)."""
    with torch_threads(threads):
        return _attack_run(run, recipe_name, n, seed, device, fresh, sample, log, on_progress, check_cancel)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    import torch

    if threads < 1:
        raise InvalidConfig(f"threads: {threads} must be at least 1.")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _attack_run(run: Run, recipe_name: str, n: int, seed: int, device: str, fresh: bool, sample: Sample | None,
                log: Log, on_progress: Callable[[Progress], None] | None,
                check_cancel: Callable[[], None] | None) -> dict:
    recipe = get_recipe(recipe_name)
    check_attackable(run)
    task = get_task(run.config.get("task"))
    sample = sample or attack_sample(task, n, seed)
    check_replaceable(run, recipe, sample, fresh)
    if not fresh and (kept := reusable(run, recipe, sample)) is not None:
        log(f"{recipe.name} on {run.run_id}: kept the stored attack of this sample (--fresh attacks it again)")
        return {**kept, "reused": True}
    device = effective_device(device)
    log(f"{recipe.name} on {run.run_id}: loading the model and TextAttack")
    attack = build_attack(recipe, load_predictor(run, device))
    classes = list(task.labels)
    counts = {"successful": 0, "failed": 0, "skipped": 0}
    load_before, started = _load(), time.perf_counter()
    last_log = [started]

    def on_result(done: int, result: Any, record: dict) -> None:
        counts[record["result"]] += 1
        elapsed = time.perf_counter() - started
        where = Progress(recipe.name, run.run_id, done, len(sample.examples), dict(counts), done * 60.0 / elapsed)
        if on_progress is not None:
            on_progress(where)
        if time.perf_counter() - last_log[0] >= PROGRESS_EVERY_S or done == where.total:
            last_log[0] = time.perf_counter()
            log(where.text())

    results, records = attack_examples(attack, sample.examples, recipe.name, sample.seed, classes, on_result,
                                       check_cancel)
    seconds = time.perf_counter() - started
    import torch

    document = {"recipe": recipe.name, "textattack_recipe": recipe.textattack_class, "title": recipe.title,
                "textattack_version": textattack_version(), "run_id": run.run_id, "task": task.name,
                "classes": classes, "sample": sample.describe(), "figures": figures_from_results(results),
                "seconds": round(seconds, 3), "examples_per_minute": round(len(results) * 60.0 / seconds, 2),
                "device": device, "threads": torch.get_num_threads(), "load": {"before": load_before,
                                                                              "after": _load()},
                "created": time.strftime("%Y-%m-%d %H:%M:%S"), "code_version": __version__}
    write_attack(run, recipe.name, document, records)
    mirror_again(run.refresh(), log)
    return document


def attack_runs(run_ids: Sequence[str], recipes: Sequence[str], n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
                device: str = "cpu", fresh: bool = False, store: RunStore | None = None, log: Log = lambda m: None,
                on_progress: Callable[[Progress, int, int], None] | None = None,
                check_cancel: Callable[[], None] | None = None, threads: int = DEFAULT_THREADS) -> list[dict]:
    """Every run under every recipe, one after the other, on one sample per task. Every run and recipe is checked
    before the first attack starts. `on_progress(progress, pair, pairs)` counts (run, recipe) pairs from 0."""
    store = store or RunStore()
    chosen = [get_recipe(name) for name in dict.fromkeys(recipes)]
    if not chosen or not run_ids:
        raise InvalidConfig("attack: name at least one run and one recipe.")
    runs = [store.get(run_id) for run_id in dict.fromkeys(run_ids)]
    for run in runs:
        check_attackable(run)
    samples: dict[str, Sample] = {}
    for run in runs:  # one sample per task, every stored attack checked before the first attack starts
        task = get_task(run.config.get("task"))
        if task.name not in samples:
            samples[task.name] = attack_sample(task, n, seed)
        for recipe in chosen:
            check_replaceable(run, recipe, samples[task.name], fresh)
    pairs = [(run, recipe) for run in runs for recipe in chosen]
    documents = []
    for index, (run, recipe) in enumerate(pairs):
        sample = samples[get_task(run.config.get("task")).name]
        documents.append(attack_run(run, recipe.name, n, seed, device, fresh, sample, log,
                                    None if on_progress is None else lambda p, i=index: on_progress(p, i, len(pairs)),
                                    check_cancel, threads))
    return documents


def attack_sentence(run: Run, recipe_name: str, text: str, seed: int = DEFAULT_SEED, predictor: Any = None) -> dict:
    """One sentence attacked against the run's own prediction (untargeted: any other class is a success): the
    record of the examples file, plus the seconds it took."""
    recipe = get_recipe(recipe_name)
    check_attackable(run)
    text = clean_text(text).strip()
    if not text:
        raise InvalidConfig("text: give a sentence to attack.")
    predictor = predictor or load_predictor(run)
    classes = list(get_task(run.config.get("task")).labels)
    label = int(predictor.probabilities([text])[0].argmax())
    attack = build_attack(recipe, predictor)
    started = time.perf_counter()
    with torch_threads(DEFAULT_THREADS):
        result = attack_text(attack, text, label, example_seed(seed, recipe.name, text))
    return {**describe_result(result, "sentence", classes), "seconds": round(time.perf_counter() - started, 3)}


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None
