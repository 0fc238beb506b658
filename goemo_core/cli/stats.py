"""`stats`: split sizes and class balance."""

from __future__ import annotations

from . import emit


def register(commands, parent) -> None:
    parser = commands.add_parser("stats", parents=[parent], help="class balance of every split")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..data.goemotions import dataset_statistics

    stats = dataset_statistics()

    def text() -> str:
        lines = [f"source: {stats['source']}"]
        for split, s in stats["splits"].items():
            counts = " · ".join(f"{k} {v:,}" for k, v in s["ekman"].items())
            lines.append(f"{split:>10}: {s['examples']:,} examples, {s['multi_label_fraction']:.1%} multi-label, "
                         f"imbalance {s['imbalance_ratio']:.1f}x | {counts}")
        return "\n".join(lines)

    emit(args, stats, text)
    return 0
