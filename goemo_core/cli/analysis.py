"""`explain` (why a run predicts what it does, and the deletion check of its attributions) and the analysis actions
of `runs`: `calibrate`, `errors` and `disagreements`."""

from __future__ import annotations

from ..errors import GoEmoError, InvalidConfig
from . import emit, log, terminal_safe


def register(commands, parent) -> None:
    explain = commands.add_parser("explain", parents=[parent],
                                  help="per-token attributions of a run's prediction (Integrated Gradients)")
    explain.add_argument("run", metavar="RUN", help="a run id (see `runs list`); not an ensemble")
    explain.add_argument("text", nargs="?", metavar="TEXT", help="the text to explain")
    explain.add_argument("--class", dest="class_name", metavar="C",
                         help="the class (or label) to explain; default: the predicted one")
    explain.add_argument("--steps", type=int, default=50, help="integration steps (default 50)")
    explain.add_argument("--deletion-check", type=int, metavar="N",
                         help="instead of TEXT: remove each of N validation texts' top-k attributed tokens and k "
                              "random ones; does the prediction fall more for the top ones?")
    explain.add_argument("--k", type=int, default=3, help="tokens removed per text in the deletion check")
    explain.add_argument("--seed", type=int, default=0, help="the random draws of the deletion check")
    explain.set_defaults(handler=run_explain)


def register_runs_actions(actions, parent) -> None:
    """`runs calibrate|errors|disagreements`, added to the `runs` command's actions."""
    calibrate = actions.add_parser("calibrate", parents=[parent],
                                   help="calibration of runs from their stored probabilities (ECE, Brier, NLL, "
                                        "temperature fitted on validation), kept in calibration.json")
    calibrate.add_argument("run_ids", nargs="*", metavar="RUN")
    calibrate.add_argument("--all", action="store_true", help="every completed run")
    calibrate.add_argument("--recompute", action="store_true", help="compute again even when up to date")
    calibrate.set_defaults(handler=run_calibrate)
    errors = actions.add_parser("errors", parents=[parent],
                                help="a run's most confident wrong test predictions and its accuracy by slices")
    errors.add_argument("run_id", metavar="RUN")
    errors.add_argument("--true", metavar="C", help="only examples of this class (carrying this label)")
    errors.add_argument("--predicted", metavar="C", help="only examples predicted as this class")
    errors.add_argument("--top", type=int, default=20, help="confident errors listed (default 20)")
    errors.set_defaults(handler=run_errors)
    disagree = actions.add_parser("disagreements", parents=[parent],
                                  help="test examples on which architectures' chosen recipes predict differently")
    disagree.add_argument("run_ids", nargs="*", metavar="RUN",
                          help="the runs to compare; default: each architecture's chosen recipe (on validation)")
    disagree.add_argument("--task", help="with no RUN: the task whose runs are compared (default ekman)")
    disagree.add_argument("--top", type=int, default=50, help="examples listed (default 50)")
    disagree.set_defaults(handler=run_disagreements)


def run_explain(args) -> int:
    from ..runs.store import RunStore
    from ..serving.explanations import deletion_check_run, explain_run

    run = RunStore().get(args.run)
    if args.deletion_check is not None:
        if args.text is not None:
            raise InvalidConfig("explain: give TEXT or --deletion-check N, not both.")
        document = deletion_check_run(run, args.deletion_check, args.k, seed=args.seed, steps=args.steps)
        emit(args, document, lambda: (
            f"{document['texts']} validation texts ({document['skipped']} with ≤ {document['k']} tokens skipped): "
            f"removing the top-{document['k']} attributed tokens lowers the predicted class's probability by "
            f"{document['mean_drop_top']:.4f} on average, {document['k']} random tokens by "
            f"{document['mean_drop_random']:.4f} (larger for the top tokens on "
            f"{document['top_drop_larger_share']:.0%} of the texts)"))
        return 0
    if args.text is None:
        raise InvalidConfig("explain: give the TEXT to explain (or --deletion-check N).")
    document = explain_run(run, args.text, args.class_name, args.steps)

    def text() -> str:
        lines = [f"{document['class']}: p = {document['probability']:.3f} (baseline "
                 f"{document['baseline_probability']:.3f}; predicted {document['predicted']}); convergence delta "
                 f"{document['convergence_delta']:+.2e}"]
        for word in sorted(document["words"], key=lambda w: -abs(w["attribution"])):
            lines.append(f"  {word['attribution']:+.4f}  {terminal_safe(word['word'])}")
        if document["note"]:
            lines.append(f"note: {document['note']}")
        return "\n".join(lines)

    emit(args, document, text)
    return 0


def run_calibrate(args) -> int:
    from ..evaluation.calibration import ensure_calibration
    from ..runs.store import RunStore

    if bool(args.run_ids) == bool(args.all):
        raise InvalidConfig("runs calibrate: name the runs to calibrate, or --all.")
    store = RunStore()
    runs = [run for run in store.list() if run.status == "completed"] if args.all else \
        [store.get(run_id) for run_id in args.run_ids]
    rows, failed = [], 0
    for run in runs:
        try:
            document = ensure_calibration(run, recompute=args.recompute)
        except GoEmoError as exc:  # one run without stored probabilities must not stop the others
            if not args.all:
                raise
            failed += 1
            log(f"no calibration for {run.run_id}: {exc}")
            continue
        rows.append({"run_id": run.run_id, "arch": run.config.get("arch"), **document})

    def text() -> str:
        lines = [f"{'run_id':<28} {'T':>6} {'ECE':>7} {'→ with T':>8} {'classwise':>9} {'Brier':>7} {'NLL':>7} "
                 f"{'→ with T':>8}"]
        for r in rows:
            before, after = r["test"], r["test_calibrated"]
            lines.append(f"{terminal_safe(r['run_id']):<28} {r['temperature']:>6.3f} {before['ece']:>7.4f} "
                         f"{after['ece']:>8.4f} {before['classwise_ece']:>9.4f} {before['brier']:>7.4f} "
                         f"{before['nll']:>7.4f} {after['nll']:>8.4f}")
        return "\n".join(lines) + ("" if rows else "\nno runs calibrated")

    emit(args, rows, text)
    return 0 if not failed or rows else 3


def run_errors(args) -> int:
    from ..evaluation.errors import error_report
    from ..runs.store import RunStore

    if args.top < 1:
        raise InvalidConfig(f"--top: {args.top}; give at least 1.")
    document = error_report(RunStore().get(args.run_id), args.true, args.predicted, args.top)

    def text() -> str:
        lines = [f"{document['wrong']:,} of {document['examples']:,} test examples wrong; the most confident:"]
        for row in document["confident_errors"]:
            what = f"{row['label']} ({row['error']})" if document["multi_label"] else \
                f"{row['true']} → {row['predicted']}"
            lines.append(f"  {row['confidence']:.3f}  {terminal_safe(what)}  | {terminal_safe(row['text'][:80])}")
        lines.append(f"{'slice':<12} {'bucket':<26} {'examples':>8} {'accuracy':>8} {'macro-F1':>8} {'errors':>7}")
        for row in document["slices"]:
            f1 = "-" if row["macro_f1"] is None else f"{row['macro_f1']:.3f}"
            lines.append(f"{row['slice']:<12} {row['bucket']:<26} {row['examples']:>8,} {row['accuracy']:>8.2f} "
                         f"{f1:>8} {row['error_share']:>7.1%}")
        tie = document["tie_rule"]
        if tie:
            lines.append(f"tie rule: {tie['share_of_examples']:.1%} of the examples hold {tie['share_of_errors']:.1%} "
                         f"of the errors (accuracy {tie['accuracy_on_ties']:.2f} % on them)")
        return "\n".join(lines)

    emit(args, document, text)
    return 0


def run_disagreements(args) -> int:
    from ..data.tasks import get_task
    from ..results.disagreements import chosen_runs, disagreement_report
    from ..results.recipes import task_of
    from ..runs.store import RunStore

    store = RunStore()
    if args.run_ids:
        if args.task:
            raise InvalidConfig("runs disagreements: give the runs or --task, not both.")
        runs = [store.get(run_id) for run_id in args.run_ids]
    else:
        task = get_task(args.task).name
        runs = chosen_runs([run for run in store.list() if task_of(run.config) == task])
    document = disagreement_report(runs, args.top)

    def text() -> str:
        names = [r["run_id"] for r in document["runs"]]
        lines = [f"{document['disagreements']:,} of {document['examples']:,} test examples predicted differently by "
                 + ", ".join(names) + f"; all wrong on {document['all_wrong']:,} of them"]
        lines += [f"  {r['run_id']} ({r['arch']}) right on {r['right_where_they_disagree']:,}"
                  for r in document["runs"]]
        for row in document["examples_disagreeing"]:
            guesses = ", ".join(f"{row[name]} {row[name + ' confidence']:.2f}" for name in names)
            lines.append(f"  true {row['true']}: {guesses}  | {terminal_safe(row['text'][:70])}")
        return "\n".join(lines)

    emit(args, document, text)
    return 0
