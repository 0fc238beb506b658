"""The CLI reference as Markdown, generated from the argparse parsers themselves (docs/cli.md holds it, and a test
compares the two), so the documentation names every command and flag the program accepts."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Iterator

WIDTH = 100  # synopsis lines


@dataclass(frozen=True)
class Command:
    """One command (`runs list`), its parser and the help line its group gives it."""

    path: tuple[str, ...]
    parser: argparse.ArgumentParser
    help: str

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def leaf(self) -> bool:
        return not any(isinstance(action, argparse._SubParsersAction) for action in self.parser._actions)

    def options(self) -> list[argparse.Action]:
        """The arguments a user gives (not -h and not a group's subcommand choice)."""
        return [action for action in self.parser._actions if not isinstance(
            action, (argparse._HelpAction, argparse._SubParsersAction))]


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help: str = "") -> Iterator[Command]:
    """Every command and command group below `parser`, depth first, in the order they were registered."""
    if path:
        yield Command(path, parser, help)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: (choice.help or "").replace("%%", "%") for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name), helps.get(name, ""))


def flags(command: Command) -> list[str]:
    """Every option string of a command (`--arch`, `-n`, …)."""
    return [flag for action in command.options() for flag in action.option_strings]


def expand_help(action: argparse.Action, prog: str) -> str:
    """The help text as argparse prints it (`%(default)s` and `%%` expanded)."""
    text = action.help or ""
    if "%" not in text:
        return text
    params = {key: value for key, value in vars(action).items() if value is not argparse.SUPPRESS}
    if params.get("choices") is not None:
        params["choices"] = ", ".join(map(str, params["choices"]))
    return text % {**params, "prog": prog}


def metavar(action: argparse.Action) -> str:
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest if not action.option_strings else action.dest.upper()


def takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def usage_part(action: argparse.Action) -> str:
    """How one argument reads in the synopsis, e.g. `[--seed SEED]`, `--arch ARCH`, `[RUN ...]`."""
    value = metavar(action)
    if action.nargs == "?":
        value = f"[{value}]"
    elif action.nargs == "*":
        value = f"[{value} ...]"
    elif action.nargs == "+":
        value = f"{value} [{value} ...]"
    elif isinstance(action.nargs, int) and action.nargs > 1:
        value = " ".join([value] * action.nargs)
    if not action.option_strings:
        return value
    text = action.option_strings[-1] if not takes_value(action) else f"{action.option_strings[-1]} {value}"
    repeated = " ..." if isinstance(action, argparse._AppendAction) else ""
    return f"{text}{repeated}" if action.required else f"[{text}]{repeated}"


def synopsis(prog: str, command: Command) -> str:
    parts = [usage_part(action) for action in command.options()]
    if not command.leaf:
        parts.append("{" + ",".join(sub.path[-1] for sub in commands(command.parser, command.path)
                                    if len(sub.path) == len(command.path) + 1) + "} ...")
    lines = [" ".join([prog, *command.path])]
    for part in parts:  # wrapped between arguments, never inside one
        if len(lines[-1]) + 1 + len(part) > WIDTH:
            lines.append("    " + part)
        else:
            lines[-1] += " " + part
    return "\n".join(lines)


_CODE = re.compile(r"(`[^`]*`)")


def cell(text: str) -> str:
    """Text for a Markdown table cell: HTML-significant characters and pipes escaped outside code spans (a table
    row keeps the pipes of its code spans)."""
    pieces = _CODE.split(" ".join(str(text).split()))
    return "".join(piece if piece.startswith("`") else piece.replace("&", "&amp;").replace("<", "&lt;")
                   .replace(">", "&gt;").replace("|", "\\|") for piece in pieces)


def default_text(action: argparse.Action) -> str:
    if action.required and action.nargs not in ("*", "?"):
        return "required"
    if action.default in (None, False, [], "", argparse.SUPPRESS) or not takes_value(action):
        return ""
    shown = " ".join(map(str, action.default)) if isinstance(action.default, (list, tuple)) else action.default
    return f"`{shown}`"


def command_markdown(prog: str, command: Command) -> str:
    level = "#" * min(2 + len(command.path), 4)  # under the page's "Reference" heading
    lines = [f"{level} `{command.name}`", ""]
    description = command.help or command.parser.description or ""
    if description:
        lines += [cell(description[:1].upper() + description[1:]) + ("" if description.endswith(".") else "."), ""]
    lines += ["```text", synopsis(prog, command), "```", ""]
    options = command.options()
    if options:
        lines += ["| argument | value | default | what it does |", "| --- | --- | --- | --- |"]
        for action in options:
            names = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{metavar(action)}`"
            value = f"`{metavar(action)}`" if action.option_strings and takes_value(action) else ""
            if isinstance(action, argparse._AppendAction):
                value += " (repeatable)"
            lines.append(f"| {names} | {value.strip()} | {default_text(action)} | "
                         f"{cell(expand_help(action, command.parser.prog))} |")
        lines.append("")
    return "\n".join(lines)


def cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference of every command: a heading per command (groups before their subcommands), its synopsis and a
    table of its arguments."""
    from . import build_parser

    parser = parser or build_parser()
    prog = "python -m goemo_core"
    found = list(commands(parser))
    index = ["| command | what it does |", "| --- | --- |"]
    index += [f"| [`{c.name}`](#{anchor(c.name)}) | {cell(c.help)} |" for c in found if c.leaf]
    return "\n".join([*index, "", *(command_markdown(prog, command) for command in found)]).rstrip() + "\n"


def anchor(name: str) -> str:
    """The id MkDocs' table of contents gives a heading `name` in backticks."""
    return re.sub(r"[^\w\- ]", "", name.lower()).strip().replace(" ", "-")
