"""`train`, `predict`, `runs list|summary|compare|delete|push|pull`."""

from __future__ import annotations

import sys

from ..data.tasks import TASK_NAMES, get_task
from ..errors import InvalidConfig
from . import emit, log, parse_pairs, terminal_safe

TASK_HELP = f"{', '.join(TASK_NAMES)} (default ekman: one primary Ekman class per example)"


def register(commands, parent) -> None:
    train = commands.add_parser("train", parents=[parent], help="train one model and write its run directory")
    train.add_argument("--arch", required=True, help="lstm, gru, xlstm, rwkv or transformer")
    train.add_argument("--task", help=TASK_HELP)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--limit", type=int, help="cap every split at its first N examples")
    train.add_argument("--augment", nargs="?", const="default", metavar="NAME",
                       help="train on the augmented train split (the default balanced one, or NAME)")
    train.add_argument("--pretrained", metavar="P", help="encoder folder or hub id ('none': learnt vocabulary); "
                                                         "default: GOEMO_PRETRAINED")
    train.add_argument("--device", help="auto, cpu or cuda")
    train.add_argument("--seed", type=int)
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any recipe field or model hyperparameter, e.g. --set hidden_size=128 --set lr=3e-4")
    train.add_argument("--teacher", action="append", default=[], metavar="RUN",
                       help="distil from this run or ensemble run (repeatable: several are averaged), or best:ARCH "
                            "for that architecture's completed run best on validation (same task and data); see "
                            "--set distill_weight=… and --set distill_temperature=…")
    train.add_argument("--transfer-augment", type=int, metavar="N",
                       help="with --teacher: add N EDA variants of each train sentence, learnt from the teachers' "
                            "probabilities alone (0: off)")
    train.add_argument("--name", default="", help="what to call the run (legends and pickers show it)")
    train.add_argument("--tag", action="append", default=[], help="a tag for the run (repeatable)")
    train.add_argument("--note", default="", help="a note kept with the run")
    train.set_defaults(handler=run_train)

    predict = commands.add_parser("predict", parents=[parent], help="classify texts with a trained run")
    predict.add_argument("--run", required=True, help="a run id (see `runs list`)")
    predict.add_argument("--text", action="append", default=[], help="a text (repeatable); default: stdin lines")
    predict.add_argument("--task", help="the task the run must have been trained on (refused otherwise)")
    predict.add_argument("--onnx", action="store_true",
                         help="serve from the run's verified ONNX export (`export onnx`) through ONNX Runtime")
    predict.add_argument("--calibrated", action="store_true",
                         help="probabilities rescaled by the temperature fitted on the run's validation split "
                              "(the predicted labels stay the same)")
    predict.set_defaults(handler=run_predict)

    runs = commands.add_parser("runs", help="list, summarise or delete runs")
    actions = runs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[parent], help="all runs, newest first")
    listing.set_defaults(handler=run_list)
    summary = actions.add_parser("summary", parents=[parent],
                                 help="runs with the same settings pooled over their seeds: mean ± std, the recipe "
                                      "chosen on validation per architecture")
    summary.add_argument("--format", choices=["text", "markdown", "latex", "csv"], default="text",
                         help="a table for a paper: markdown, a LaTeX booktabs table body, or CSV (one table per task)")
    summary.add_argument("--task", choices=TASK_NAMES, help="only this task's recipes (default: every task, each in "
                                                            "a table of its own)")
    summary.add_argument("--from", dest="results", action="append", metavar="FILE",
                         help="summarise the runs of a results file (e.g. results/ekman-cpu.json; repeatable) "
                              "instead of the runs under GOEMO_HOME")
    summary.set_defaults(handler=run_summary)
    compare = actions.add_parser("compare", parents=[parent],
                                 help="is A's recipe better than B's? Differences with 95 %% intervals and p-values")
    compare.add_argument("run_a", help="a run standing for its recipe (all completed seeds of its settings)")
    compare.add_argument("run_b")
    compare.set_defaults(handler=run_compare)
    resume = actions.add_parser("resume", parents=[parent],
                                help="go on training a run stopped part-way, from its last finished epoch")
    resume.add_argument("run_id")
    resume.set_defaults(handler=run_resume)
    delete = actions.add_parser("delete", parents=[parent], help="delete a run directory")
    delete.add_argument("run_id")
    delete.set_defaults(handler=run_delete)
    push = actions.add_parser("push", parents=[parent], help="mirror runs to MLflow (again: same MLflow run)")
    push.add_argument("run_ids", nargs="*", metavar="RUN")
    push.add_argument("--all", action="store_true", help="every readable run")
    push.add_argument("--tracking-uri", help="default: GOEMO_MLFLOW_TRACKING_URI")
    push.set_defaults(handler=run_push)
    pull = actions.add_parser("pull", parents=[parent],
                              help="import the completed runs mirrored to MLflow (by workers anywhere) as run folders "
                                   "here; checksums verified, pulling again adds nothing")
    pull.add_argument("--experiment", action="append", default=[], metavar="NAME",
                      help="an MLflow experiment to pull from (repeatable; default: every one on the server)")
    pull.add_argument("--since", metavar="WHEN", help="only runs started since: a span (30m, 12h, 7d, 2w) or a "
                                                      "date or time (2026-12-01, 2026-12-01T14:30)")
    pull.add_argument("--tracking-uri", help="default: GOEMO_MLFLOW_TRACKING_URI")
    pull.set_defaults(handler=run_pull)

    from .analysis import register_runs_actions

    register_runs_actions(actions, parent)


def run_train(args) -> int:
    from ..runs.folder import RunLabel
    from ..training.config import make_config
    from ..training.run import train_run

    overrides = parse_pairs(args.set, "--set")
    flags = {"task": args.task, "epochs": args.epochs, "batch_size": args.batch_size, "limit": args.limit,
             "device": args.device, "seed": args.seed, "pretrained": args.pretrained, "teachers": args.teacher or None,
             "transfer_augment": args.transfer_augment}
    for key, value in flags.items():
        if value is None:
            continue
        if key in overrides:
            flag = "--teacher" if key == "teachers" else f"--{key.replace('_', '-')}"
            raise InvalidConfig(f"{key}: given twice ({flag} {value} and --set {key}={overrides[key]}); give it once.")
        overrides[key] = value
    if args.augment:
        from ..augment import resolve_augmented_name

        overrides["augment"] = resolve_augmented_name(args.augment)
    config = make_config(args.arch, overrides)
    if config.teachers:
        from ..results.choice import resolve_teachers
        from ..runs.store import RunStore

        teachers = resolve_teachers(config.teachers, RunStore().list(), config.task, config.limit, log)
        config = make_config(args.arch, {**overrides, "teachers": teachers})
    label = RunLabel.clean(args.name, args.tag, args.note)
    return report_training(args, config, train_run(config, log=log, label=label))


def run_resume(args) -> int:
    from ..runs.store import RunStore
    from ..training.checkpoint import resumable_runs
    from ..training.config import stored_config
    from ..training.run import train_run

    store = RunStore()
    run = store.get(args.run_id)
    if run.run_id not in {stopped.run_id for stopped in resumable_runs(store)}:
        raise InvalidConfig(f"runs resume: {run.run_id} is {run.status} with no checkpoint to go on from; only a run "
                            "stopped part-way (cancelled, interrupted, or left running by a process that is gone) "
                            "resumes.")
    config = stored_config(run.config)
    return report_training(args, config, train_run(config, log=log, resume=run))


def report_training(args, config, result) -> int:
    """A finished `train` or `runs resume`: the run and its test headline; exit 0 only when it completed."""
    document = result.to_json()
    test = result.metrics or {}

    def text() -> str:
        if not test:
            return f"{result.status}: run {result.run.run_id} ({result.run.path}), no test metrics"
        accuracy = get_task(config.task).accuracy_name
        headline = f"test {accuracy} {test['accuracy']:.2f}%, macro-F1 {test['macro_f1']:.3f}"
        if "micro_f1" in test:
            headline += f", micro-F1 {test['micro_f1']:.3f} (task {config.task})"
        return f"{result.status}: run {result.run.run_id} ({result.run.path})\nbest epoch {result.best_epoch}: " \
            + headline

    emit(args, document, text)
    return 0 if result.status == "completed" else 1


def run_predict(args) -> int:
    from ..serving.predict import predict_texts

    texts = args.text
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            raise InvalidConfig("--text: give a text with --text, or pipe lines on stdin.")
        texts = [line.rstrip("\n") for line in sys.stdin.buffer.read().decode("utf-8", "replace").splitlines()]
        texts = [t for t in texts if t.strip()]
    if not any(str(t).strip() for t in texts):
        raise InvalidConfig("--text: the text is empty; give a sentence to classify.")
    if args.task:
        check_run_task(args.run, args.task)
    if args.onnx or args.calibrated:
        from ..runs.store import RunStore
        from ..serving.calibrated import calibrated
        from ..serving.onnx_predictor import load_onnx_predictor
        from ..serving.predict import MAX_TEXTS, load_predictor

        if len(texts) > MAX_TEXTS:
            raise InvalidConfig(f"text: at most {MAX_TEXTS:,} texts per call (got {len(texts):,}); split the input.")
        run = RunStore().get(args.run)
        predictor = load_onnx_predictor(run) if args.onnx else load_predictor(run)
        predictions = (calibrated(predictor, run) if args.calibrated else predictor).predict(texts)
        if args.onnx:
            log(f"served from run {args.run}'s verified ONNX export through ONNX Runtime")
    else:
        predictions = predict_texts(args.run, texts)

    def text() -> str:
        lines = []
        for p in predictions:
            if p["label"] is None:
                lines.append(f"-- {p['note']}")
                continue
            top = sorted(p["probabilities"].items(), key=lambda kv: -kv[1])[:3]
            shown = ", ".join(p["labels"]) or "(none over the threshold)" if "labels" in p else p["label"]
            lines.append(f"{shown:>9}  " + ", ".join(f"{k} {v:.2f}" for k, v in top)
                         + f"  | {terminal_safe(p['text'][:80])}" + (f"  ({p['note']})" if p["note"] else ""))
        return "\n".join(lines)

    emit(args, {"predictions": predictions, "served_by": "onnxruntime" if args.onnx else "pytorch"}, text)
    return 0


def check_run_task(run_id: str, task: str) -> None:
    """`--task`: the run must have been trained on that task (runs from before tasks existed: ekman)."""
    from ..runs.store import RunStore

    wanted, trained = get_task(task).name, get_task(RunStore().get(run_id).config.get("task")).name
    if wanted != trained:
        raise InvalidConfig(f"--task: run {run_id} was trained on task {trained}, not {wanted}.")


def run_list(args) -> int:
    from ..runs.store import RunStore

    store = RunStore()
    store.mark_interrupted()
    rows = [run.summary() for run in store.list()]
    # Damaged run folders are listed (so they can be found and deleted) but summarised by nothing else.
    rows += [{"run_id": run_id, "name": None, "tags": [], "arch": None, "task": None, "limit": None,
              "status": "unreadable", "epochs": None, "test_accuracy": None, "test_macro_f1": None, "created": None,
              "reason": reason}
             for run_id, reason in store.unreadable()]

    def text() -> str:
        if not rows:
            return f"no runs under {store.root}"
        lines = [f"{'run_id':<28} {'name':<20} {'arch':<11} {'task':<16} {'status':<11} {'limit':>6} {'epochs':>6} "
                 f"{'test acc':>8} {'macro-F1':>8}  created"]
        for r in rows:
            acc = f"{r['test_accuracy']:.2f}" if r["test_accuracy"] is not None else "-"
            f1 = f"{r['test_macro_f1']:.3f}" if r["test_macro_f1"] is not None else "-"
            last = r["reason"] if r["status"] == "unreadable" else r["created"]
            lines.append(f"{terminal_safe(r['run_id']):<28} {terminal_safe((r['name'] or '-')[:20]):<20} "
                         f"{terminal_safe(r['arch'] or '?'):<11} {terminal_safe(r['task'] or '?'):<16} "
                         f"{r['status']:<11} {r['limit'] or 'all':>6} "
                         f"{r['epochs'] if r['epochs'] is not None else '-':>6} {acc:>8} {f1:>8}  "
                         f"{terminal_safe(last)}")
        return "\n".join(lines)

    emit(args, rows, text)
    return 0


def run_summary(args) -> int:
    from ..attacks.recipes import RECIPE_NAMES
    from ..results.summary import calibrate_pooled, left_out, mean_std, seed_summary
    from ..results.tables import SELECTION_RULE, by_task, paper_table, settings_text, varying_columns
    from ..runs.store import RunStore

    store = RunStore()
    if args.results:
        from ..results.reference import reference_runs

        runs = [run for path in args.results for run in reference_runs(path)]
    else:
        runs = store.list()
        calibrate_pooled(runs, log)  # ECE columns: computed once from each run's stored probabilities, then kept
    frame = seed_summary(runs)
    if args.task:
        frame = frame[frame["task"] == get_task(args.task).name].reset_index(drop=True)
    rows = [{**{k: None if isinstance(v, float) and v != v else v for k, v in row.items()},  # NaN → null
             "std": "sample (n − 1)"} for row in frame.to_dict(orient="records")]
    skipped = [] if args.results else store.unreadable()
    if skipped:
        log(f"skipped {len(skipped)} unreadable run folder(s): {', '.join(run_id for run_id, _ in skipped)} "
            "(`runs list` says why)")
    unpooled = left_out(runs)
    if unpooled:
        log(f"left out {len(unpooled)} run(s) that are not completed: "
            + ", ".join(f"{run.run_id} ({run.status})" for run in unpooled[:10])
            + ("…" if len(unpooled) > 10 else ""))
    if args.format != "text" and not args.json:
        print(paper_table(frame, args.format), end="")
        return 0

    def seeds_of(r: dict, metric: str) -> int | None:
        return (r.get("n_by_metric") or {}).get(metric)

    def table(task: str, task_rows: list[dict]) -> list[str]:
        spec, varying = get_task(task), varying_columns(frame[frame["task"] == task])
        if spec.multi_label:  # macro-F1 is the task's headline; accuracy is the strict exact match
            lines = [f"task {task} (multi-label: macro-F1 first, accuracy is exact match)",
                     f"{'':1} {'arch':<12} {'seeds':>5} {'val F1':>8} {'test macro-F1':>22} "
                     f"{'exact match (%)':>22} {'ECE → with T':>24}  vs best · settings"]
            cells = [("val_macro_f1_mean", 3), ("test_macro_f1", 3), ("test_accuracy", 2)]
        else:
            lines = [f"task {task}", f"{'':1} {'arch':<12} {'seeds':>5} {'val acc':>8} {'test acc (%)':>22} "
                     f"{'macro-F1':>22} {'ECE → with T':>24}  vs best · settings"]
            cells = [("val_accuracy_mean", 2), ("test_accuracy", 2), ("test_macro_f1", 3)]
        for r in task_rows:
            shown = []
            for key, digits in cells:
                if key.startswith("val"):
                    shown.append(f"{r[key]:.{digits}f}" if r[key] is not None else "-")
                else:
                    metric = key.removeprefix("test_")
                    shown.append(mean_std(r[f"{key}_mean"], r[f"{key}_std"], digits, seeds_of(r, metric)))
            ece = "-" if r["test_ece_mean"] is None else mean_std(r["test_ece_mean"], r["test_ece_std"], 3) \
                + f" → {r['test_ece_calibrated_mean']:.3f}"
            lines.append(f"{'✓' if r['chosen'] else ' '} {r['arch']:<12} {r['runs']:>5} {shown[0]:>8} "
                         f"{shown[1]:>22} {shown[2]:>22} {ece:>24}  {r['vs_best']} · {settings_text(r, varying)}")
            attacked = [f"{name} {mean_std(r[f'{name}_under_attack_mean'], r[f'{name}_under_attack_std'], 2)}"
                        + (f" (n={r[f'{name}_attacked']})" if r[f"{name}_attacked"] != r["runs"] else "")
                        for name in RECIPE_NAMES if r.get(f"{name}_under_attack_mean") is not None]
            if attacked:
                lines.append("    accuracy under attack (%): " + " · ".join(attacked))
        return lines

    def text() -> str:
        if not rows:
            return f"no completed runs with test metrics under {store.root}"
        lines = []
        for task, _ in by_task(frame):
            lines += [*table(task, [r for r in rows if r["task"] == task]), ""]
        lines += [SELECTION_RULE, "(n = k): a figure that only k of the recipe's seeds recorded."]
        return "\n".join(lines)

    emit(args, rows, text)
    return 0


def run_compare(args) -> int:
    from ..results.comparison import compare_recipes
    from ..results.significance import format_p
    from ..runs.store import RunStore

    store = RunStore()
    document = compare_recipes(store.get(args.run_a), store.get(args.run_b), store.list())
    multi_label, accuracy_name = document.get("multi_label", False), document.get("accuracy_name", "accuracy")

    def line(name: str, unit: str, digits: int, test: dict | None) -> str:
        if test is None or test.get("difference") is None:
            return f"{name}: no test ({(test or {}).get('note') or document.get('paired_note') or 'no figures'})"
        ci = f"[{test['ci'][0]:+.{digits}f}, {test['ci'][1]:+.{digits}f}]" if test.get("ci") else "no interval"
        p_value = format_p(test["p_value"]) if test.get("p_value") is not None else (test.get("note") or "no test")
        return f"{name}: {test['difference']:+.{digits}f}{unit} (95 % CI {ci}, {p_value}; {test['test']})"

    def headline(side: dict) -> str:
        accuracy = f"test {accuracy_name} {side['accuracy_mean']:.2f} %"
        f1 = f"macro-F1 {side['macro_f1_mean']:.3f}"
        return ", ".join([f1, accuracy] if multi_label else [accuracy, f1])

    def lines(tests: dict) -> list[str]:
        shown = [("macro-F1", "macro_f1", "", 3), (accuracy_name, "accuracy", " points", 2)]
        return ["  " + line(name, unit, digits, tests.get(key))
                for name, key, unit, digits in (shown if multi_label else shown[::-1])]

    def text() -> str:
        paired = document["paired"]
        out = [f"{side.upper()}: {document[side]['arch']} ({document[side]['changes']}), "
               f"{len(document[side]['seeds'])} seed(s): {headline(document[side])}" for side in "ab"]
        out += ["over seeds (A − B):", *lines(document["seeds"])]
        if paired is None:
            out.append(f"paired on the test set: no test ({document.get('paired_note') or 'no predictions'})")
        else:
            out += [f"paired on the test set (each recipe's seeds pooled, {paired.get('examples', 0):,} examples):",
                    *lines(paired)]
        return "\n".join(out)

    emit(args, document, text)
    return 0


def run_delete(args) -> int:
    from ..runs.store import RunStore

    RunStore().delete(args.run_id)
    emit(args, {"deleted": args.run_id}, f"deleted {args.run_id}")
    return 0


def run_push(args) -> int:
    from ..integrations.mlflow_mirror import push_runs
    from ..runs.store import RunStore

    if bool(args.run_ids) == bool(args.all):
        raise InvalidConfig("runs push: name the runs to push, or --all.")
    store = RunStore()
    runs = store.list() if args.all else [store.get(run_id) for run_id in args.run_ids]
    running = [run.run_id for run in runs if run.status == "running"]
    if running:  # mirrored by their own training when the variable is set; pushed once finished
        log(f"skipped {len(running)} run(s) still training: {', '.join(running)}")
    rows = push_runs([run for run in runs if run.status != "running"], args.tracking_uri, log)
    emit(args, rows, lambda: "\n".join(f"{r['run_id']} → MLflow run {r['mlflow_run_id']} ({r['experiment']})"
                                         for r in rows) or "no finished runs to push")
    return 0


def run_pull(args) -> int:
    """Exit 1 when a run was refused (a damaged artifact), after importing every other one."""
    from ..integrations.mlflow_pull import parse_since, pull_runs, pull_summary

    since = parse_since(args.since) if args.since else None
    report = pull_runs(args.tracking_uri, args.experiment or None, since, log=log)
    emit(args, report, lambda: pull_summary(report))
    return 1 if report["refused"] else 0
