"""`results export` and `results headline`: a finished benchmark's runs kept as a committed results file, and the
headline tables rendered from such files."""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidConfig
from . import emit, log


def register(commands, parent) -> None:
    results = commands.add_parser("results", help="benchmark results kept as files: export runs, render headlines")
    actions = results.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", parents=[parent],
                                help="write the completed full-data runs of a task (under GOEMO_HOME) to a results "
                                     "file: configs, metrics, histories, the machine and packages; no weights")
    export.add_argument("--task", default="ekman", help="the task whose runs are exported (default ekman)")
    export.add_argument("--out", required=True, metavar="FILE", help="e.g. results/ekman-cpu.json")
    export.add_argument("--baseline", action="store_true",
                        help="also measure and keep the TF-IDF + logistic regression floor of the task")
    export.set_defaults(handler=run_export)
    headline = actions.add_parser("headline", parents=[parent],
                                  help="the headline table of results files as Markdown (the README's results)")
    headline.add_argument("files", nargs="*", metavar="FILE",
                          help="results files (default: every *.json in --dir)")
    headline.add_argument("--dir", default="results", help="where results files are (default: ./results)")
    headline.add_argument("--write", metavar="FILE",
                          help="replace the block between <!-- headline:start --> and <!-- headline:end --> of FILE "
                               "(e.g. README.md) with the table")
    headline.set_defaults(handler=run_headline)


def run_export(args) -> int:
    from ..data.tasks import get_task
    from ..results.reference import export_results, write_results
    from ..runs.store import RunStore

    task = get_task(args.task).name
    baseline = None
    if args.baseline:
        from ..bench.baseline import tfidf_baseline

        log("measuring the TF-IDF + logistic regression floor")
        baseline = tfidf_baseline(task=task)
    document = export_results(RunStore().list(), task, baseline)
    path = write_results(args.out, document)
    summary = {"file": str(path), "task": task, "runs": len(document["runs"]),
               "architectures": sorted({r["config"]["arch"] for r in document["runs"]})}
    emit(args, summary, lambda: f"{summary['runs']} runs of {task} ({', '.join(summary['architectures'])}) "
                                f"written to {path}")
    return 0


def run_headline(args) -> int:
    from ..results.headline import headline_markdown

    files = [Path(f) for f in args.files] or sorted(Path(args.dir).glob("*.json"))
    if not files:
        raise InvalidConfig(f"no results files given and none in {args.dir}/ (see `results export`).")
    text = headline_markdown(files)
    if args.write:
        from ..results.headline import with_headline
        from ..runs.atomic import write_atomic

        target = Path(args.write)
        try:
            write_atomic(target, with_headline(target.read_text(encoding="utf-8"), text))
        except (OSError, ValueError) as exc:
            raise InvalidConfig(f"--write {target}: {getattr(exc, 'strerror', None) or exc}") from None
        log(f"headline written into {target}")
    emit(args, {"files": [str(f) for f in files], "markdown": text}, lambda: text.rstrip("\n"))
    return 0
