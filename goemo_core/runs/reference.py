"""The run-folder format as Markdown, generated from the schemas every run file is read through (docs/run-folder.md
holds it, and a test compares the two), so the documented fields, types and bounds are the ones enforced."""

from __future__ import annotations

import textwrap
from typing import Any

from .folder import SCHEMAS
from .schemas import STATUSES, EpochRecord, FileSchema

HUGE = 2 ** 62  # bounds this large only keep a number inside 64 bits: not worth a reader's attention


def type_text(schema: dict, refs: dict[str, str]) -> str:
    """A JSON-schema property as words: 'whole number', 'list of text', 'object of number', a link to an object."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        refs[name] = name
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        kinds = [type_text(option, refs) for option in schema["anyOf"] if option.get("type") != "null"]
        nullable = any(option.get("type") == "null" for option in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    if "const" in schema:
        return f'`"{schema["const"]}"`'
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_text(schema.get('items', {}), refs)}" + bounds_text(schema, suffix=True)
    if kind == "object":
        inner = schema.get("additionalProperties")
        return f"object of {type_text(inner, refs)}" if isinstance(inner, dict) else "object"
    words = {"integer": "whole number", "number": "number", "string": "text", "boolean": "true or false"}
    return words.get(kind, "any") + bounds_text(schema, suffix=True)


def bounds_text(schema: dict, suffix: bool = False) -> str:
    """The bounds a value must keep, e.g. ' (0 to 100)', ' (≤ 80 characters)'."""
    parts = []
    low_key = "exclusiveMinimum" if "exclusiveMinimum" in schema else "minimum"
    high_key = "exclusiveMaximum" if "exclusiveMaximum" in schema else "maximum"
    low, high = schema.get(low_key), schema.get(high_key)
    low = None if low is not None and abs(low) >= HUGE else low
    high = None if high is not None and abs(high) >= HUGE else high
    if low is not None and high is not None and low_key == "minimum" and high_key == "maximum":
        parts.append(f"{low} to {high}")
    else:
        if low is not None:
            parts.append(f"{'>' if low_key == 'exclusiveMinimum' else '≥'} {low}")
        if high is not None:
            parts.append(f"{'<' if high_key == 'exclusiveMaximum' else '≤'} {high}")
    if "minLength" in schema and schema["minLength"] > 0:
        parts.append(f"at least {schema['minLength']} character{'s' if schema['minLength'] > 1 else ''}")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']:,} characters")
    if "minItems" in schema:
        parts.append(f"at least {schema['minItems']} item{'s' if schema['minItems'] > 1 else ''}")
    if "maxItems" in schema:
        parts.append(f"at most {schema['maxItems']:,} items")
    return f" ({', '.join(parts)})" if parts and suffix else ", ".join(parts)


def default_text(name: str, schema: dict, required: list[str]) -> str:
    if name in required:
        return "required"
    default = schema.get("default")
    if default is None:
        return "optional"
    return f"optional, default `{default!r}`".replace("'", '"')


def model_table(schema: dict, refs: dict[str, str]) -> list[str]:
    rows = ["| field | type | when |", "| --- | --- | --- |"]
    required = schema.get("required", [])
    for name, prop in schema.get("properties", {}).items():
        rows.append(f"| `{name}` | {type_text(prop, refs)} | {default_text(name, prop, required)} |")
    return rows


def model_section(title: str, schema: dict, refs: dict[str, str], level: str = "###") -> list[str]:
    lines = [f"{level} {title}", ""]
    description = " ".join(schema.get("description", "").split())
    if description.startswith(title.strip("`") + ": "):  # "config.json: what was trained …" under its own heading
        description = description.split(": ", 1)[1]
    if description:
        lines += [*textwrap.wrap(description[:1].upper() + description[1:], 116, break_on_hyphens=False), ""]
    lines += model_table(schema, refs)
    if schema.get("additionalProperties"):
        lines += ["", "Other keys pass through unchecked (later additions; in `config.json`, the training recipe's",
                  "own fields, which the training configuration checks)."]
    return [*lines, ""]


def schema_markdown() -> str:
    """Every run file's fields: type, bounds, required or optional, then the nested objects they refer to."""
    refs: dict[str, str] = {}
    nested: dict[str, dict] = {}
    lines: list[str] = []
    documents: dict[str, type[FileSchema]] = {**SCHEMAS, "history.jsonl": EpochRecord}
    for name, model in documents.items():
        schema = model.model_json_schema()
        nested.update(schema.get("$defs", {}))
        title = f"`{name}`" + (" (one JSON object per line, an epoch each)" if name.endswith(".jsonl") else "")
        lines += model_section(title, schema, refs)
    lines += ["### `status`", "", "One word: " + ", ".join(f"`{status}`" for status in STATUSES) + ".", ""]
    for name in sorted(nested):
        lines += model_section(name, nested[name], refs, level="####")
    return "\n".join(lines).rstrip() + "\n"


def documented_fields() -> dict[str, list[str]]:
    """The fields of every run file and nested object, by file or object name (what the reference must name)."""
    fields: dict[str, list[str]] = {}
    for name, model in {**SCHEMAS, "history.jsonl": EpochRecord}.items():
        schema: dict[str, Any] = model.model_json_schema()
        fields[name] = list(schema.get("properties", {}))
        for inner, definition in schema.get("$defs", {}).items():
            fields[inner] = list(definition.get("properties", {}))
    return fields
