"""`python -m goemo_core …`: every command the app offers. With --json, one JSON document on stdout; logs on stderr.
Bad arguments exit 2 with a one-line message; a missing resource exits 3 and says what to set."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Sequence

from ..errors import GoEmoError, InvalidConfig

COMMAND_MODULES = ("stats", "training", "augment", "tune", "bench")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2 (argparse prints the whole usage)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(args: argparse.Namespace, document: Any, text: str | Callable[[], str]) -> None:
    """The command's result: JSON with --json, else a readable text."""
    if getattr(args, "json", False):
        print(json.dumps(document, default=str))
    else:
        print(text() if callable(text) else text)


def parse_pairs(items: list[str], flag: str) -> dict[str, str]:
    """KEY=VALUE arguments (repeatable flags such as --set) as a dict; a malformed one is refused."""
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidConfig(f"{flag}: '{item}' is not KEY=VALUE.")
        pairs[key.strip()] = value.strip()
    return pairs


def json_flag() -> ArgumentParser:
    parent = ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return parent


def build_parser() -> ArgumentParser:
    import importlib

    parser = ArgumentParser(prog="python -m goemo_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(commands, json_flag())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except GoEmoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `runs list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
