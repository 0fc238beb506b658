"""`python -m goemo_core …`: every command the app offers. With --json, one JSON document on stdout; logs on stderr.
Bad arguments exit 2 with a one-line message; a missing resource exits 3 and says what to set; Ctrl-C exits
130 and SIGTERM 143, both after a training run has kept what it finished. `reference` writes the parsers out as the
documentation's CLI reference.

May import: every package of goemo_core."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
from typing import Any, Callable, Sequence

from ..errors import GoEmoError, InvalidConfig, Terminated, raise_terminated

COMMAND_MODULES = ("stats", "training", "ensemble", "augment", "tune", "bench", "worker", "export", "results",
                   "analysis", "report", "attack")


# C0/C1 control characters (ANSI escapes, carriage returns, backspaces), bidirectional overrides and lone
# surrogates: printed as they are, they recolour, rewrite or reorder the terminal, or cannot be encoded at all.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def terminal_safe(text: object) -> str:
    """`text` with every control character replaced by U+FFFD, for text-mode output (JSON output stays exact)."""
    return _UNSAFE.sub("\ufffd", str(text))


def one_line(text: object) -> str:
    """A message as one safe terminal line."""
    return terminal_safe(" ".join(str(text).splitlines()))


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2 (argparse prints the whole usage)
        sys.stderr.write(f"{self.prog}: error: {one_line(message)}\n")
        raise SystemExit(2)


def log(message: str) -> None:
    print("\n".join(terminal_safe(line) for line in str(message).split("\n")), file=sys.stderr, flush=True)


def emit(args: argparse.Namespace, document: Any, text: str | Callable[[], str]) -> None:
    """The command's result: JSON with --json, else a readable text."""
    if getattr(args, "json", False):
        print(strict_json(document))
    else:
        text = text() if callable(text) else text
        print("\n".join(terminal_safe(line) for line in text.split("\n")))


def strict_json(document: Any) -> str:
    """Standard JSON (no NaN or Infinity, which most parsers refuse): a non-finite number is printed as null, and a
    note on stderr says where."""
    replaced: list[str] = []

    def finite(value: Any, where: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            replaced.append(where or "the document")
            return None
        if isinstance(value, dict):
            return {key: finite(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [finite(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return value

    text = json.dumps(finite(document, ""), default=str, allow_nan=False)
    if replaced:
        shown = ", ".join(replaced[:5]) + (f" and {len(replaced) - 5} more" if len(replaced) > 5 else "")
        log(f"note: {len(replaced)} non-finite number(s) printed as null: {shown}")
    return text


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
    previous = _handle_sigterm()
    try:
        return int(args.handler(args) or 0)
    except GoEmoError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `runs list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _handle_sigterm() -> Any:
    """SIGTERM raises Terminated (a KeyboardInterrupt) like Ctrl-C, so a training run keeps its best weights and
    metrics and ends `cancelled`. Returns the previous handler (None off the main thread, where none is set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, raise_terminated)
