"""`bench pipeline`, `bench speed`, `bench accuracy` (here, or as a grid for workers), `bench grid`, `bench cost`
and `bench distill`."""

from __future__ import annotations

from ..errors import InvalidConfig
from . import emit, log, parse_pairs


def register(commands, parent) -> None:
    bench = commands.add_parser("bench", help="speed and accuracy benchmarks")
    kinds = bench.add_subparsers(dest="bench", required=True)
    pipeline = kinds.add_parser("pipeline", parents=[parent],
                                help="samples/s of the notebook-style input pipeline vs ours, same BiLSTM")
    pipeline.add_argument("--device", help="auto, cpu or cuda")
    pipeline.add_argument("--batches", type=int, default=50, help="timed training batches per pipeline")
    pipeline.add_argument("--batch-size", type=int, default=64, help="the notebook pipeline's batch size")
    pipeline.add_argument("--our-batch-size", type=int, help="the Trainer's (default: its recipe's: 256 on CUDA, "
                                                             "128 on a CPU with native bf16, else 64)")
    pipeline.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                          help="the Trainer's (default: its recipe's: bf16 on CUDA and on a CPU with native bf16)")
    pipeline.set_defaults(handler=run_pipeline)

    speed = kinds.add_parser("speed", parents=[parent],
                             help="training examples/s of each architecture's default recipe, side by side")
    speed.add_argument("--archs", nargs="+", default=["gru", "lstm", "xlstm", "rwkv", "transformer"])
    speed.add_argument("--batches", type=int, default=40, help="timed batches per architecture and round")
    speed.add_argument("--rounds", type=int, default=2, help="rounds alternating the architectures (median)")
    speed.add_argument("--device")
    speed.add_argument("--limit", type=int, help="cap every split (quick checks only)")
    speed.set_defaults(handler=run_speed)

    accuracy = kinds.add_parser("accuracy", parents=[parent],
                                help="every architecture's default recipe on the full data, several seeds")
    accuracy.add_argument("--seeds", type=int, default=3)
    accuracy.add_argument("--archs", nargs="+", default=["lstm", "gru", "xlstm", "rwkv", "transformer"])
    accuracy.add_argument("--baseline", action="store_true", help="add TF-IDF + logistic regression")
    accuracy.add_argument("--task", help="the task every run trains on (default ekman)")
    accuracy.add_argument("--limit", type=int, help="cap every split (quick checks only)")
    accuracy.add_argument("--epochs", type=int, help="override the recipes' epochs (quick checks only)")
    accuracy.add_argument("--device")
    accuracy.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="a recipe field or model hyperparameter for every run (e.g. adversarial=0.05)")
    accuracy.add_argument("--parallel", type=int, default=1, metavar="K",
                          help="train K runs at once, each in a process of its own (several share one GPU)")
    accuracy.add_argument("--fresh", action="store_true",
                          help="train every run again (default: reuse completed runs with the same settings and seed)")
    accuracy.add_argument("--plan", action="store_true",
                          help="train nothing: list what running this grid now would do with each run (reuse, "
                               "resume, wait for another process, train)")
    accuracy.add_argument("--study", metavar="NAME",
                          help="do not train here: add every cell (architecture, seed, task, --set) to the grid NAME "
                               "on the shared storage for `goemo worker`s; again: only the missing cells")
    accuracy.add_argument("--storage", metavar="URL", help="with --study: the Optuna storage the workers share "
                                                           "(default: GOEMO_OPTUNA_STORAGE)")
    accuracy.set_defaults(handler=run_accuracy)

    grid = kinds.add_parser("grid", parents=[parent], help="a grid's cells: done, running (where), waiting, failed")
    grid.add_argument("--study", required=True, metavar="NAME", help="the grid (bench accuracy --study NAME)")
    grid.add_argument("--storage", metavar="URL", help="default: GOEMO_OPTUNA_STORAGE")
    grid.set_defaults(handler=run_grid)

    cost = kinds.add_parser("cost", parents=[parent],
                            help="measure the CPU cost of existing runs again, one after the other, and record it")
    which = cost.add_mutually_exclusive_group(required=True)
    which.add_argument("--runs", nargs="+", metavar="RUN", help="run ids to measure")
    which.add_argument("--all", action="store_true", help="every completed run with weights")
    cost.add_argument("--repeats", type=int, help="timings per run; the figures are their median (default 5)")
    cost.set_defaults(handler=run_cost)

    distill = kinds.add_parser("distill", parents=[parent],
                               help="a student over a grid of distill_weight × distill_temperature × transfer "
                                    "variants, chosen on validation")
    distill.add_argument("--arch", default="gru", help="the student's architecture (default gru)")
    distill.add_argument("--teacher", action="append", required=True, metavar="RUN",
                         help="a teacher run or ensemble run (repeatable: several are averaged), or best:ARCH for "
                              "that architecture's completed run best on validation (same task and data)")
    distill.add_argument("--weights", nargs="+", type=float, default=[0.5], metavar="α",
                         help="distill_weight values (0: the student without the teachers' term, trained once)")
    distill.add_argument("--temperatures", nargs="+", type=float, default=[2.0], metavar="T")
    distill.add_argument("--transfer", nargs="+", type=int, default=[0], metavar="N",
                         help="transfer variants per train sentence (0: none)")
    distill.add_argument("--seeds", type=int, default=1, help="seeds per point (211, 212, …)")
    distill.add_argument("--limit", type=int, help="cap every split (the teachers must have the same limit)")
    distill.add_argument("--epochs", type=int, help="override the recipe's epochs")
    distill.add_argument("--device")
    distill.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="any other recipe field or model hyperparameter, the same for every point")
    distill.add_argument("--parallel", type=int, default=1, metavar="K", help="train K runs at once")
    distill.add_argument("--fresh", action="store_true", help="train every point again (default: reuse runs)")
    distill.add_argument("--plan", action="store_true",
                         help="train nothing: list what running this sweep now would do with each run")
    distill.set_defaults(handler=run_distill)


def run_pipeline(args) -> int:
    from ..bench.pipeline import bench_pipeline

    if args.batches < 1 or args.batch_size < 1 or (args.our_batch_size is not None and args.our_batch_size < 1):
        raise InvalidConfig("--batches and batch sizes must be at least 1.")
    result = bench_pipeline(args.device, args.batches, args.batch_size, args.our_batch_size, args.precision)
    emit(args, result, lambda: (
        f"{result['device']}: notebook-style {result['seed_style_samples_per_s']:,.0f} samples/s "
        f"(batch {result['seed_style_batch_size']}, fp32) · ours {result['ours_samples_per_s']:,.0f} samples/s "
        f"(batch {result['ours_batch_size']}, {result['ours_precision']}) · speed-up {result['speedup']:.2f}x · "
        f"one train epoch ≈ {result['ours_epoch_seconds']:.1f} s" + "".join(f"\n{n}" for n in result["notes"])))
    return 0


def run_speed(args) -> int:
    from ..bench.speed import bench_speed, speed_table
    from ..models import get_architecture

    if args.batches < 1 or args.rounds < 1 or (args.limit is not None and args.limit < 1):
        raise InvalidConfig("--batches, --rounds and --limit must be at least 1.")
    for arch in args.archs:
        get_architecture(arch)
    document = bench_speed(args.archs, args.batches, args.rounds, args.device, args.limit, log=log)
    emit(args, document, lambda: speed_table(document))
    return 0


def run_accuracy(args) -> int:
    from ..bench.accuracy import accuracy_table, bench_accuracy
    from ..models import get_architecture

    if args.seeds < 1:
        raise InvalidConfig("--seeds must be at least 1.")
    for name in ("limit", "epochs"):  # leaving a flag out means "the default"; 0 is not a quiet synonym for it
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InvalidConfig(f"--{name}: {value} must be at least 1 (leave it out for the default).")
    if args.parallel < 1:
        raise InvalidConfig("--parallel must be at least 1.")
    for arch in args.archs:
        get_architecture(arch)
    settings = parse_pairs(args.set, "--set")
    for key in {"seed", "task", "limit", "epochs", "device"} & set(settings):
        raise InvalidConfig(f"--set {key}: bench accuracy sets it itself; use its own flag.")
    if args.plan and (args.study is not None or args.storage is not None):
        raise InvalidConfig("--plan: a grid of workers shows its cells with `bench grid --study NAME`.")
    if args.study is not None or args.storage is not None:
        given = {"limit": args.limit, "epochs": args.epochs}
        return enqueue_accuracy(args, {**settings, **{k: v for k, v in given.items() if v is not None}})
    if args.plan:
        from ..bench.accuracy import grid_configs, grid_plan, plan_table

        rows = grid_plan(grid_configs(args.archs, args.seeds, args.limit, args.epochs, args.device, args.task,
                                      settings), args.fresh)
        emit(args, {"rows": rows}, lambda: plan_table(rows))
        return 0
    document = bench_accuracy(args.archs, args.seeds, args.baseline, args.limit, args.epochs, args.device, args.fresh,
                              args.parallel, log=log, task=args.task, settings=settings)
    emit(args, document, lambda: accuracy_table(document))
    return 0


def enqueue_accuracy(args, overrides: dict) -> int:
    """`bench accuracy --study NAME`: the cells go to the grid on the shared storage; workers train them."""
    import optuna

    from ..bench.grid import enqueue_grid, grid_cells
    from .tune import check_study_name

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.study is None:
        raise InvalidConfig("--storage: name the grid with --study NAME (without both, bench accuracy trains here).")
    check_study_name(args.study)
    for flag, given in (("--parallel", args.parallel != 1), ("--fresh", args.fresh), ("--baseline", args.baseline),
                        ("--device", args.device is not None)):
        if given:
            raise InvalidConfig(f"{flag}: with --study the workers train the cells (each on its own device, one "
                                "slot per cell); leave it out.")
    cells = grid_cells(args.archs, range(211, 211 + args.seeds), args.task, overrides)
    document = enqueue_grid(args.study, cells, args.storage)
    log(f"start workers on any machine that reaches the storage: goemo worker --storage URL --study {args.study}")
    emit(args, document, lambda: (
        f"grid {document['study']} ({document['storage']}): added {document['added']} of {document['cells']} cells "
        f"({document['kept']} already there); " + ", ".join(f"{v} {k}" for k, v in document["counts"].items())))
    return 0


def run_grid(args) -> int:
    import optuna

    from ..bench.grid import grid_progress, progress_text
    from .tune import check_study_name

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_study_name(args.study)
    document = grid_progress(args.study, args.storage)
    emit(args, document, lambda: progress_text(document))
    return 0


def run_cost(args) -> int:
    from ..bench.cost import bench_cost, cost_table

    if args.repeats is not None and args.repeats < 1:
        raise InvalidConfig(f"--repeats: {args.repeats} must be at least 1 (leave it out for the default).")
    document = bench_cost(None if args.all else args.runs, args.repeats, log=log)
    emit(args, document, lambda: cost_table(document))
    return 0


def run_distill(args) -> int:
    from ..bench.distill_sweep import SWEPT, bench_distill, sweep_table

    for name in ("seeds", "parallel", "limit", "epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InvalidConfig(f"--{name}: {value} must be at least 1.")
    overrides = parse_pairs(args.set, "--set")
    for key in {*SWEPT, "teachers", "seed"} & set(overrides):
        raise InvalidConfig(f"--set {key}: swept or set by bench distill itself; use its own flags.")
    overrides.update({k: v for k, v in (("limit", args.limit), ("epochs", args.epochs), ("device", args.device))
                      if v is not None})
    if args.plan:
        from ..bench.accuracy import plan_table
        from ..bench.distill_sweep import distill_plan

        rows = distill_plan(args.arch, args.teacher, args.weights, args.temperatures, args.transfer, args.seeds,
                            overrides, args.fresh, log=log)
        emit(args, {"rows": rows}, lambda: plan_table(rows))
        return 0
    document = bench_distill(args.arch, args.teacher, args.weights, args.temperatures, args.transfer, args.seeds,
                             overrides, args.parallel, args.fresh, log=log)
    emit(args, document, lambda: sweep_table(document))
    return 0
