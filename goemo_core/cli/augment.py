"""`augment preview|build|list`: EDA variants of a sentence, the balanced augmented train split, the cached splits."""

from __future__ import annotations

import sys
import time

from . import emit, log, terminal_safe

RECIPE_HELP = "eda (default), synonym-swap, synonym-insertion, random-swap or random-deletion"


def register(commands, parent) -> None:
    augment = commands.add_parser("augment", help="EDA augmentation of the train split")
    actions = augment.add_subparsers(dest="action", required=True)

    preview = actions.add_parser("preview", parents=[parent], help="variants of one sentence")
    preview.add_argument("--text", required=True, help="the sentence to augment")
    preview.add_argument("-n", type=int, default=4, help="number of variants (default 4)")
    _recipe_options(preview)
    preview.set_defaults(handler=run_preview)

    build = actions.add_parser("build", parents=[parent], help="grow the train classes below a target (cached)")
    target = build.add_mutually_exclusive_group()
    target.add_argument("--target-ratio", type=float, help="target = R × the largest class (default 0.25)")
    target.add_argument("--target-count", type=int, help="target = N examples per class")
    build.add_argument("--limit", type=int, help="augment only the first N train examples (quick runs, tests)")
    build.add_argument("--force", action="store_true", help="rebuild even when the split is cached")
    _recipe_options(build)
    build.set_defaults(handler=run_build)

    listing = actions.add_parser("list", parents=[parent], help="the cached augmented splits, newest first")
    listing.set_defaults(handler=run_list)


def _recipe_options(parser) -> None:
    from ..augment import DEFAULT_PCT, DEFAULT_SEED, RECIPES

    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    parser.add_argument("--recipe", default="eda", choices=list(RECIPES), metavar="R", help=RECIPE_HELP)
    parser.add_argument("--pct", type=float, default=DEFAULT_PCT,
                        help=f"share of the words changed per variant (default {DEFAULT_PCT})")


def run_preview(args) -> int:
    from ..augment import augment_text

    variants = augment_text(args.text, n=args.n, seed=args.seed, recipe=args.recipe, pct=args.pct)
    if len(variants) < args.n:
        log(f"only {len(variants)} distinct variant(s) found for this text")

    def text() -> str:
        return "\n".join(terminal_safe(line) for line in
                         [args.text, *(f"{i}. {v}" for i, v in enumerate(variants, start=1))])

    emit(args, {"original": args.text, "augmented": variants}, text)
    return 0


class ProgressBar:
    """A progress bar on stderr: redrawn in place on a terminal, one line per 10 % otherwise."""

    def __init__(self, stream=None, width: int = 30):
        self.stream, self.width = stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self.last = -1
        self.started = time.time()

    def __call__(self, done: int, total: int, text: str) -> None:
        percent = int(100 * done / total) if total else 100
        step = 1 if self.tty else 10
        if percent // step == self.last // step and done < total:
            return
        self.last = percent
        filled = self.width * percent // 100
        line = (f"[{'#' * filled}{' ' * (self.width - filled)}] {percent:3d}% {done:,}/{total:,} "
                f"{time.time() - self.started:.0f} s · {text}")
        self.stream.write(f"\r{line:<100}" if self.tty else line + "\n")
        if self.tty and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_build(args) -> int:
    from ..augment import build_augmented
    from ..data.goemotions import EKMAN_CLASSES

    config = {"target_ratio": args.target_ratio, "target_count": args.target_count, "seed": args.seed,
              "recipe": args.recipe, "pct": args.pct, "limit": args.limit}
    result = build_augmented(config, progress=ProgressBar(), log=log, force=args.force)
    before = {name: result["before"][name] for name in EKMAN_CLASSES}
    after = {name: result["after"][name] for name in EKMAN_CLASSES}
    document = {"before": before, "after": after, "added": result["added"], "cache": result["cache"],
                "name": result["name"], "target": result["target"], "seconds": result["seconds"],
                "reused": result["reused"]}

    def text() -> str:
        state = "cached" if result["reused"] else f"built in {result['seconds']:.1f} s"
        lines = [f"{result['name']} ({state}): target {result['target']:,} per class, +{result['added']:,} texts",
                 *(f"{name:>9}: {before[name]:>6,} → {after[name]:>6,}" for name in EKMAN_CLASSES),
                 f"cache: {result['cache']}"]
        return "\n".join(lines)

    emit(args, document, text)
    return 0


def run_list(args) -> int:
    from ..augment import list_augmented

    splits = list_augmented()
    document = [{"name": s["name"], "cache": s["path"], **_settings(s["meta"])} for s in splits]

    def text() -> str:
        if not splits:
            return "no augmented split yet: run `python -m goemo_core augment build`"
        return "\n".join(f"{d['name']}: +{d['added']:,} texts, target {d['target']:,}, "
                         f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(d['created']))}" for d in document)

    emit(args, document, text)
    return 0


def _settings(meta: dict) -> dict:
    keys = ("recipe", "pct", "target_ratio", "target_count", "seed", "limit", "target", "added", "before", "after",
            "seconds", "created")
    return {k: meta.get(k) for k in keys}
