"""A run's attack files: attacks/<recipe>.json (the settings and TextAttack's figures, see goemo_core.attacks) and
attacks/<recipe>-examples.jsonl (one attacked example a line). Read through their schemas: a file that does not fit
is reported as that attack's problem ("unreadable: reason") and the attack is shown as missing; the run itself stays
usable. The figures file is written last, so it only ever stands beside a complete examples file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

from pydantic import ValidationError

from .atomic import write_atomic, write_json
from .folder import Run
from .schemas import (AttackExampleRecord, RunAttack, Unreadable, describe_error, parse_document, read_document,
                      read_text)

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
