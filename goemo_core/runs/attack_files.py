"""A run's attack files: attacks/<recipe>.json (the settings and TextAttack's figures, see goemo_core.attacks) and
attacks/<recipe>-examples.jsonl (one attacked example a line). Read through their schemas: a file that does not fit
is reported as that attack's problem ("unreadable: reason") and the attack is shown as missing; the run itself stays
usable. The figures file is written last, so it only ever stands beside a complete examples file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Literal, Sequence

from pydantic import Field, ValidationError, model_validator

from .atomic import write_atomic, write_json
from .folder import Run
from .schemas import (
    MAX_WHOLE,
    Count,
    FileSchema,
    Percent,
    Share,
    Text,
    Unreadable,
    Whole,
    describe_error,
    parse_document,
    read_document,
    read_text,
)

ATTACK_RESULTS = ("successful", "failed", "skipped")  # TextAttack's result types
Span = Annotated[list[Count], Field(min_length=2, max_length=2)]  # [start, end) in characters


class AttackFigures(FileSchema):
    """An attack's figures with TextAttack's definitions (percentages 0–100, null where no example qualifies)."""

    examples: Annotated[int, Field(strict=True, ge=1, lt=MAX_WHOLE)]
    successful: Count
    failed: Count
    skipped: Count
    original_accuracy: Percent
    accuracy_under_attack: Percent
    attack_success_rate: Percent
    skipped_percent: Percent
    avg_perturbed_word_percent: Percent | None = None
    avg_queries: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def adds_up(self) -> "AttackFigures":
        if self.successful + self.failed + self.skipped != self.examples:
            raise ValueError("successful, failed and skipped do not add up to the examples")
        return self


class AttackSample(FileSchema):
    """Which test examples were attacked: the first `n` of the test split shuffled by `seed`."""

    split: Literal["test"]
    n: Annotated[int, Field(strict=True, ge=1, lt=MAX_WHOLE)]
    seed: Whole
    ids_sha256: Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]


class RunAttack(FileSchema):
    """attacks/<recipe>.json: one TextAttack recipe run against the run on a seeded sample of test examples."""

    recipe: Annotated[str, Field(strict=True, pattern=r"^[a-z0-9-]{1,40}$")]
    textattack_recipe: Text
    task: Text
    classes: Annotated[list[Text], Field(min_length=2, max_length=1000)]
    sample: AttackSample
    figures: AttackFigures
    seconds: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    examples_per_minute: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None


class AttackExampleRecord(FileSchema):
    """One line of attacks/<recipe>-examples.jsonl: an attacked example as TextAttack left it."""

    id: Text
    result: Literal[ATTACK_RESULTS]
    label: Text
    original: Text
    perturbed: Text
    original_label: Text
    perturbed_label: Text
    original_probabilities: list[Share]
    perturbed_probabilities: list[Share]
    queries: Count
    words: Count
    changed: list[Count]
    original_spans: list[Span] = []
    perturbed_spans: list[Span] = []


ATTACKS_DIR = "attacks"
_RECIPE_NAME = re.compile(r"^[a-z0-9-]{1,40}$")


def attacks_dir(run: Run) -> Path:
    return run.path / ATTACKS_DIR


def attack_path(run: Run, recipe: str) -> Path:
    if not _RECIPE_NAME.match(recipe):
        raise ValueError(f"not a recipe name: {recipe!r}")
    return attacks_dir(run) / f"{recipe}.json"


def examples_path(run: Run, recipe: str) -> Path:
    return attack_path(run, recipe).with_name(f"{recipe}-examples.jsonl")


def attacked_recipes(run: Run) -> list[str]:
    """The recipes with a figures file in the run folder (readable or not), sorted."""
    try:
        names = [p.stem for p in attacks_dir(run).glob("*.json")]
    except OSError:
        return []
    return sorted(name for name in names if _RECIPE_NAME.match(name))


def read_attack(run: Run, recipe: str) -> dict | None:
    """attacks/<recipe>.json through its schema; None when absent; Unreadable says why it does not fit."""
    document = read_document(attack_path(run, recipe), RunAttack)
    if document is not None and document["recipe"] != recipe:
        raise Unreadable(f"attacks/{recipe}.json names recipe '{document['recipe']}'")
    return document


def run_attacks(run: Run) -> tuple[dict[str, dict], dict[str, str]]:
    """The run's readable attacks by recipe, and the reason each unreadable one is left out. A run read from a
    results file (goemo_core.results.reference) gives the attack files it carried."""
    if getattr(run, "reference", False):
        return carried_attacks(getattr(run, "files", {}) or {})
    found, problems = {}, {}
    for recipe in attacked_recipes(run):
        try:
            document = read_attack(run, recipe)
        except Unreadable as exc:
            problems[recipe] = str(exc)
            continue
        if document is not None:
            found[recipe] = document
    return found, problems


def read_attack_examples(run: Run, recipe: str) -> list[dict]:
    """attacks/<recipe>-examples.jsonl, one schema-checked record a line ([] when absent, and for a run read from a
    results file: those carry the figures only)."""
    if getattr(run, "reference", False):
        return []
    text = read_text(examples_path(run, recipe))
    name = f"attacks/{recipe}-examples.jsonl"
    return [parse_document(f"{name} line {number}", line, AttackExampleRecord)
            for number, line in enumerate((text or "").splitlines(), start=1) if line.strip()]


def write_attack(run: Run, recipe: str, document: dict, examples: Sequence[dict]) -> None:
    """The examples, then the figures (each atomically): a reader never sees figures without their examples."""
    RunAttack.model_validate(document)
    for record in examples:
        AttackExampleRecord.model_validate(record)
    attacks_dir(run).mkdir(exist_ok=True)
    write_atomic(examples_path(run, recipe),
                 "".join(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n" for record in examples))
    write_json(attack_path(run, recipe), document)


def carried_attacks(files: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """The attacks among a results file's run files ({"attacks/<recipe>.json": document}), each through its schema."""
    found, problems = {}, {}
    for name, document in files.items():
        recipe = name.removeprefix(f"{ATTACKS_DIR}/").removesuffix(".json")
        if not (name.startswith(f"{ATTACKS_DIR}/") and name.endswith(".json") and _RECIPE_NAME.match(recipe)):
            continue
        try:
            RunAttack.model_validate(document)
            if document["recipe"] != recipe:
                raise Unreadable(f"{name} names recipe '{document['recipe']}'")
            found[recipe] = document
        except ValidationError as exc:
            problems[recipe] = describe_error(name, exc)
        except Unreadable as exc:
            problems[recipe] = str(exc)
    return found, problems
