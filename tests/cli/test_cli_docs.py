"""docs/cli.md names every command and flag the parsers accept, and its reference is what the parsers generate
today (`python scripts/docs_reference.py` rewrites it)."""

from __future__ import annotations

import re

from conftest import ROOT

from goemo_core.cli import build_parser
from goemo_core.cli.reference import cell, cli_markdown, commands, flags, synopsis

PAGE = ROOT / "docs" / "cli.md"


def sections(text: str) -> dict[str, str]:
    """The text under each command's heading (### `train`, #### `runs list`), by command."""
    parts = re.split(r"^#{3,4} `([^`]+)`\n", text, flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2])}


def test_every_command_and_flag_is_in_the_cli_reference():
    documented = sections(PAGE.read_text(encoding="utf-8"))
    found = list(commands(build_parser()))
    assert {"train", "runs list", "runs summary", "bench accuracy", "export onnx", "report"} <= {c.name for c in found}
    for command in found:
        assert command.name in documented, f"`{command.name}` has no section in docs/cli.md: run " \
                                           "python scripts/docs_reference.py"
        missing = [flag for flag in flags(command) if f"`{flag}`" not in documented[command.name]]
        assert not missing, f"`{command.name}`: {missing} missing from docs/cli.md: run " \
                            "python scripts/docs_reference.py"


def test_the_cli_reference_is_what_the_parsers_generate():
    assert cli_markdown() in PAGE.read_text(encoding="utf-8"), \
        "docs/cli.md is out of date: run python scripts/docs_reference.py"


def test_a_new_flag_or_command_is_caught():
    parser = build_parser()
    train = next(c for c in commands(parser) if c.name == "train").parser
    train.add_argument("--brand-new-flag", help="a flag nobody documented")
    documented = sections(PAGE.read_text(encoding="utf-8"))
    assert "`--brand-new-flag`" not in documented["train"]
    assert "`--brand-new-flag`" in sections(cli_markdown(parser))["train"]
    assert cli_markdown(parser) not in PAGE.read_text(encoding="utf-8")


def test_the_synopsis_and_cells_read_as_argparse_means_them():
    command = next(c for c in commands(build_parser()) if c.name == "report")
    text = synopsis("python -m goemo_core", command)
    assert text.startswith("python -m goemo_core report [--json] [RUN ...] [--all] [--task TASK] --html FILE")
    assert all(len(line) <= 100 for line in text.splitlines())
    assert cell("a <b> | `c | d`") == "a &lt;b&gt; \\| `c | d`"
