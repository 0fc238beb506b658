"""`tune` (an Optuna study, or one worker of a shared one) and `dashboard` (optuna-dashboard on 127.0.0.1)."""

from __future__ import annotations

from ..errors import InvalidConfig
from . import emit, log, parse_pairs


def port_number(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535, for argparse."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def register(commands, parent) -> None:
    tune = commands.add_parser("tune", parents=[parent], help="run an Optuna study (or join one as a worker)",
                               description="Several `tune` processes given the same --study and --storage share "
                                           "one study; a worker joining an existing study trains with the budget "
                                           "and search space it was created with unless given here.")
    tune.add_argument("--arch", required=True, help="lstm, gru, xlstm, rwkv or transformer")
    tune.add_argument("--n-trials", type=int, help="trials this worker runs")
    tune.add_argument("--enqueue", type=int, metavar="N",
                      help="run nothing here: queue N trials of the study for `goemo worker`s on the storage")
    tune.add_argument("--timeout", type=float, metavar="S", help="stop starting trials after S seconds")
    tune.add_argument("--storage", metavar="URL", help="Optuna storage (default: GOEMO_OPTUNA_STORAGE); any "
                                                       "SQLAlchemy URL or journal:///path/to/file.log")
    tune.add_argument("--study", metavar="NAME", help="study name; an existing study is continued")
    tune.add_argument("--task", help="the task every trial trains on (default ekman); multi-label tasks "
                                     "maximise validation macro-F1")
    tune.add_argument("--limit", type=int, help="cap every split at its first N examples")
    tune.add_argument("--epochs", type=int, help="epochs per trial (default 10; 3 under a --limit below 5000)")
    tune.add_argument("--batches-per-epoch", type=int, metavar="B", help="train batches per epoch (default 100; "
                                                                         "0: the whole split)")
    tune.add_argument("--val-examples", type=int, metavar="N", help="validation examples per epoch (default: all; "
                                                                      "0: all)")
    tune.add_argument("--pruner", choices=("median", "hyperband", "none"), help="default: median")
    tune.add_argument("--seed", type=int, help="sampler seed (default 211)")
    tune.add_argument("--device", default="auto", help="auto, cpu or cuda")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="fix a setting for every trial (recipe field or model parameter; taken out of the search)")
    tune.add_argument("--range", action="append", default=[], metavar="KEY=LO:HI|A,B",
                      help="narrow a searched range (LO:HI) or its choices (A,B)")
    tune.set_defaults(handler=run_tune)

    dashboard = commands.add_parser("dashboard", parents=[parent],
                                    help="optuna-dashboard on the configured storage, bound to 127.0.0.1")
    dashboard.add_argument("--port", type=port_number, default=8080, help="port (default 8080; 0: any free port)")
    dashboard.add_argument("--storage", metavar="URL", help="default: GOEMO_OPTUNA_STORAGE")
    dashboard.set_defaults(handler=run_dashboard)


MAX_STUDY_NAME = 200  # characters; Optuna's storages keep up to 512, some databases fewer bytes


def check_study_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_STUDY_NAME or any(ord(c) < 32 for c in name):
        raise InvalidConfig(f"--study: a study name has 1 to {MAX_STUDY_NAME} printable characters "
                            f"(got {len(name)}).")
    return name


def tune_config(args):
    from ..training.config import MAX_SEED
    from ..tune import TuneConfig, base_space, parse_range

    if (args.n_trials is None) == (args.enqueue is None):
        raise InvalidConfig("tune: give --n-trials N (trials run here) or --enqueue N (trials queued for workers).")
    for name in ("n_trials", "enqueue", "limit", "epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InvalidConfig(f"--{name.replace('_', '-')}: {value} must be at least 1.")
    for name in ("batches_per_epoch", "val_examples"):  # 0 means "all"; below that means nothing
        value = getattr(args, name)
        if value is not None and value < 0:
            raise InvalidConfig(f"--{name.replace('_', '-')}: {value} must be 0 (all) or more.")
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise InvalidConfig(f"--timeout: {args.timeout} must be a positive number of seconds.")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise InvalidConfig(f"--seed: {args.seed} must be between 0 and {MAX_SEED}.")
    if args.study is not None:
        check_study_name(args.study)
    space = base_space(args.arch)
    ranges = {key: parse_range(space, key, text) for key, text in parse_pairs(args.range, "--range").items()}
    return TuneConfig(arch=args.arch, n_trials=args.n_trials, timeout=args.timeout, study=args.study,
                      storage=args.storage, limit=args.limit, epochs=args.epochs,
                      batches_per_epoch=args.batches_per_epoch, val_examples=args.val_examples, pruner=args.pruner,
                      seed=args.seed, space=ranges, fixed=fixed_settings(args), device=args.device)


def fixed_settings(args) -> dict:
    """--set pairs, with --task as one more fixed setting (given once)."""
    fixed = parse_pairs(args.set, "--set")
    if args.task is not None:
        if "task" in fixed:
            raise InvalidConfig(f"task: given twice (--task {args.task} and --set task={fixed['task']}); give it once.")
        fixed["task"] = args.task
    return fixed


def run_tune(args) -> int:
    import optuna

    from ..tune import run_study

    config = tune_config(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our one line per trial instead (failures still warn)
    if args.enqueue is not None:
        from ..tune.study import enqueue_trials

        summary = enqueue_trials(config, args.enqueue)
        log(f"queued {args.enqueue} trial(s) of {summary['study']}: goemo worker --storage URL --study "
            f"{summary['study']} trains them")
    else:
        summary = run_study(config, log=log)

    def text() -> str:
        states = ", ".join(f"{k} {v}" for k, v in summary["states"].items())
        best = (f"best {summary.get('objective', 'val accuracy')} {summary['best_value']:.4g} with "
                f"{summary['best_params']}"
                if summary["best_value"] is not None else "no completed trial yet")
        return f"study {summary['study']} ({summary['storage']}): {summary['n_trials']} trials ({states})\n{best}"

    emit(args, summary, text)
    return 0


def run_dashboard(args) -> int:
    import json

    from ..settings import mask_url
    from ..tune import storage_url
    from ..tune.dashboard import serve_dashboard

    storage = storage_url(args.storage)

    def ready(url: str) -> None:
        if args.json:
            print(json.dumps({"url": url, "storage": mask_url(storage)}), flush=True)
        else:
            print(url, flush=True)
        log(f"optuna-dashboard on {mask_url(storage)} at {url} (Ctrl+C to stop)")

    serve_dashboard(storage, args.port, on_ready=ready)
    return 0
