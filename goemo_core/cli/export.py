"""`export onnx`: a run as an ONNX graph with its tokenizer and card, verified against PyTorch with ONNX Runtime."""

from __future__ import annotations

from . import emit, log


def register(commands, parent) -> None:
    export = commands.add_parser("export", help="write a trained run in a format other tools read")
    formats = export.add_subparsers(dest="format", required=True)
    onnx = formats.add_parser("onnx", parents=[parent],
                              help="an ONNX graph (token ids, lengths → probabilities), verified with ONNX Runtime")
    onnx.add_argument("--run", required=True, help="a run id (see `runs list`); an ensemble exports its members")
    onnx.add_argument("--out", metavar="FILE", help="where to write the .onnx file (the tokenizer and the card go "
                                                    "beside it); default: the run folder's export/model.onnx")
    onnx.set_defaults(handler=run_export_onnx)


def run_export_onnx(args) -> int:
    from ..integrations.mlflow_mirror import TrainingMirror
    from ..runs.store import RunStore
    from ..serving.onnx_export import export_run

    run = RunStore().get(args.run)
    result = export_run(run, args.out, log=log)
    TrainingMirror(run.refresh(), log).finish()  # with GOEMO_MLFLOW_TRACKING_URI: the ONNX files join its MLflow run

    def text() -> str:
        verdict = "verified" if result["verified"] else f"NOT verified (goal ≤ {result['goal']:g})"
        pytorch, onnxruntime = result["pytorch"], result["onnxruntime"]
        return (f"{result['file']}: {verdict}, max |Δp| {result['max_abs_diff']:.2e} on {result['texts']:,} test "
                f"texts\nCPU, one sentence: PyTorch {pytorch['latency_ms']:.2f} ms, ONNX Runtime "
                f"{onnxruntime['latency_ms']:.2f} ms\nCPU, batch 256: PyTorch {pytorch['sentences_per_s']:,.0f} "
                f"sentences/s, ONNX Runtime {onnxruntime['sentences_per_s']:,.0f} sentences/s")

    emit(args, result, text)
    return 0 if result["verified"] else 1
