"""docs/run-folder.md documents every field of every run file as the schemas define it (generated from them by
scripts/docs_reference.py)."""

from __future__ import annotations

from conftest import ROOT

from goemo_core.runs.reference import bounds_text, documented_fields, schema_markdown, type_text
from goemo_core.runs.schemas import STATUSES

PAGE = ROOT / "docs" / "run-folder.md"


def test_the_file_reference_is_what_the_schemas_generate():
    assert schema_markdown() in PAGE.read_text(encoding="utf-8"), \
        "docs/run-folder.md is out of date: run python scripts/docs_reference.py"


def test_every_field_of_every_run_file_is_documented():
    text = PAGE.read_text(encoding="utf-8")
    fields = documented_fields()
    assert {"config.json", "metrics.json", "info.json", "label.json", "owner.json", "history.jsonl",
            "ClassScores", "Cost"} <= set(fields)
    assert "val_accuracy" in fields["history.jsonl"] and "cpu_latency_ms" in fields["Cost"]
    for name, names in fields.items():
        assert f"`{name}`" in text or f"#### {name}" in text, name
        assert all(f"| `{field}` |" in text for field in names), name
    assert all(f"`{status}`" in text for status in STATUSES)


def test_types_and_bounds_read_as_words():
    refs: dict[str, str] = {}
    assert type_text({"anyOf": [{"type": "integer", "minimum": 1, "maximum": 512}, {"type": "null"}]}, refs) == \
        "whole number (1 to 512) or null"
    assert type_text({"type": "array", "items": {"$ref": "#/$defs/Cost"}}, refs) == "list of [Cost](#cost)"
    assert refs == {"Cost": "Cost"}
    assert bounds_text({"minimum": 0, "exclusiveMaximum": 2 ** 63}) == "≥ 0"  # the 64-bit guard is not shown
    assert bounds_text({"minimum": 0, "exclusiveMaximum": 100, "maxLength": 80}) == \
        "≥ 0, < 100, at most 80 characters"
