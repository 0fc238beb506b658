"""`report`: one self-contained HTML file over runs (summary over seeds, curves, confusion matrices, per-class
metrics, cost, the analysis sections whose files exist, the environment) that opens offline."""

from __future__ import annotations

from ..errors import InvalidConfig, MissingResource
from . import emit, log


def register(commands, parent) -> None:
    report = commands.add_parser("report", parents=[parent],
                                 help="write one self-contained HTML report over runs (opens offline, sends nothing)")
    report.add_argument("runs", nargs="*", metavar="RUN", help="the runs to report (ids, see `runs list`)")
    report.add_argument("--all", action="store_true", help="every run (a part per task)")
    report.add_argument("--task", help="every run of this task")
    report.add_argument("--html", required=True, metavar="FILE", help="where to write the report")
    report.add_argument("--title", help="the report's title (default: GoEmotions benchmark report)")
    report.set_defaults(handler=run_report)


def run_report(args) -> int:
    from ..data.tasks import get_task
    from ..reports import DEFAULT_TITLE, write_report
    from ..reports.document import task_name
    from ..runs.store import RunStore

    chosen = [bool(args.runs), args.all, args.task is not None]
    if sum(chosen) != 1:
        raise InvalidConfig("report: name the runs, or give --all, or --task T (one of them).")
    store = RunStore()
    unreadable = []
    if args.runs:
        runs = [store.get(run_id) for run_id in dict.fromkeys(args.runs)]
    else:
        store.mark_interrupted()
        runs = store.list()
        unreadable = store.unreadable()
        if args.task is not None:
            task = get_task(args.task).name
            runs = [run for run in runs if task_name(run) == task]
            unreadable = []  # their task cannot be read: they belong to no task's report
    if not runs and not unreadable:
        raise MissingResource(f"report: no runs under {store.root}" + (f" for task {args.task}" if args.task else "")
                              + ". Train one first (`train`), or set GOEMO_HOME to the folder that holds them.")
    try:
        held = write_report(runs, args.html, args.title or DEFAULT_TITLE, unreadable)
    except OSError as exc:
        raise MissingResource(f"report: cannot write {args.html} ({exc.strerror or exc}); choose a folder you can "
                              "write to.") from None
    if held["unreadable"]:
        log(f"left out {len(held['unreadable'])} unreadable run(s): {', '.join(held['unreadable'][:10])} "
            "(the report says why)")
    emit(args, held, lambda: f"wrote {held['file']} ({held['bytes']:,} bytes): {len(held['runs'])} run(s), "
                             f"task(s) {', '.join(held['tasks']) or 'none'}, {held['charts']} chart(s)")
    return 0
