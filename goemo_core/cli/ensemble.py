"""`ensemble`: average the class probabilities of several runs into an ensemble run."""

from __future__ import annotations

from . import emit


def register(commands, parent) -> None:
    ensemble = commands.add_parser("ensemble", parents=[parent],
                                   help="an ensemble run: the mean of several runs' class probabilities")
    ensemble.add_argument("--runs", nargs="+", required=True, metavar="RUN", help="two or more completed runs")
    ensemble.add_argument("--name", default="", help="what to call the ensemble run")
    ensemble.set_defaults(handler=run_ensemble)


def run_ensemble(args) -> int:
    from ..serving.ensemble import make_ensemble

    run = make_ensemble(args.runs, args.name)
    metrics = run.metrics or {}
    document = {"run_id": run.run_id, "run_dir": str(run.path), "members": run.config["members"], "test": metrics}
    emit(args, document, lambda: (f"ensemble {run.run_id} ({run.display_name}) of {len(document['members'])} runs: "
                                  f"test accuracy {metrics['accuracy']:.2f}%, macro-F1 {metrics['macro_f1']:.3f} "
                                  f"(validation {metrics['validation']['accuracy']:.2f}%)"))
    return 0
