"""ONNX export of a trained run, for serving without this library: a graph from token ids [batch, length] and true
lengths [batch] (both dimensions dynamic, right padding never changes a prediction) to class probabilities, with
the run's tokenizer and a card (labels, task, max_length, preprocessing, verification) beside it.

Every export is verified at once with ONNX Runtime: the largest probability difference against PyTorch on the run's
test texts, fed to ONNX Runtime padded to max_length while PyTorch reads each batch trimmed to its longest text, and
the CPU cost of both (one sentence, batch 256), recorded under `cost.onnx` in the run's metrics.json. A file is
served (`predict --onnx`, Classify) only while its card says it was verified and its checksum still matches.

Exporter: torch.onnx's TorchScript-based exporter (`dynamo=False`), which needs no package beyond onnx (the
torch.export-based one needs onnxscript). Models are exported as they run on the CPU: BiLSTM/BiGRU on their padded,
padding-exact path."""

from __future__ import annotations

import math
import shutil
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..data.goemotions import EKMAN_CLASSES
from ..data.tasks import get_task
from ..data.text import TextEncoder
from ..errors import InvalidConfig, MissingResource
from ..runs.atomic import read_json, write_json, write_with
from ..runs.folder import Run
from ..runs.store import RunStore
from .cost import export_cost
from .onnx_predictor import (CARD_FORMAT, PARITY_GOAL, ExportFiles, OnnxEnsemblePredictor, OnnxPredictor, file_digest,
                             require_onnxruntime)
from .predict import MAX_CHARS, Predictor

OPSET = 17


# Architectures whose graph cannot be traced into one that takes any length, with the reason.
NOT_EXPORTABLE = {
    "xlstm": "the xlstm package's blocks do not trace to a length-independent graph (its multi-head layer norm "
             "computes group_norm's group count from the input's shape, and the sLSTM cell loops over tokens in "
             "Python or runs a CUDA kernel)",
}


class NotExportable(MissingResource):
    """A run whose model cannot be written as an ONNX graph (CLI exit status 3)."""


class ProbabilityGraph(nn.Module):
    """What is exported: the run's model followed by softmax, so the graph's output is what `predict` prints."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(ids, lengths).float(), dim=-1)


def check_exportable(run: Run) -> None:
    """Refuse, in one line, a run that cannot be exported: unfinished, damaged, or an architecture without a
    length-independent graph."""
    if run.problem:
        raise MissingResource(f"Run {run.run_id} cannot be exported: {run.problem}.")
    arch = run.config.get("arch")
    if arch in NOT_EXPORTABLE:
        raise NotExportable(f"{arch} cannot be exported to ONNX: {NOT_EXPORTABLE[arch]}.")
    if run.status != "completed":
        raise MissingResource(f"Run {run.run_id} is {run.status}; only completed runs are exported.")
    task = get_task(run.config.get("task"))
    if task.multi_label:
        raise NotExportable(f"Run {run.run_id} is multi-label (task {task.name}); the ONNX graph ends in a softmax "
                            "over single-label classes, so only single-label runs are exported.")
    missing = run.missing_files()
    if missing:
        raise MissingResource(f"Run {run.run_id} cannot be exported: {', '.join(missing)} missing.")


def write_graph(model: nn.Module, encoder: TextEncoder, path: Path) -> None:
    """Trace the probability graph on a small batch and write it (atomically) with dynamic batch and length. The
    batch is trimmed to its longest text, so a graph that kept the traced width fails verification at max_length.
    The exporter's own notices (its deprecation, shape-inference remarks) are not the user's concern."""
    ids, lengths = encoder(["an example sentence to trace the graph", "short", "a third, of another length"])
    ids = ids[:, :int(lengths.max())].contiguous()
    graph = ProbabilityGraph(model).eval()
    path.parent.mkdir(parents=True, exist_ok=True)

    def export(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (ids, lengths), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=["ids", "lengths"], output_names=["probabilities"],
                              dynamic_axes={"ids": {0: "batch", 1: "length"}, "lengths": {0: "batch"},
                                            "probabilities": {0: "batch"}})

    try:
        write_with(path, export)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise NotExportable(f"{model.__class__.__name__} could not be traced to ONNX ({type(exc).__name__}: "
                            f"{reason}).") from None


def export_card(run: Run, encoder: TextEncoder) -> dict:
    """What a client needs besides the graph: labels, task, how texts become ids, the graph's signature."""
    config = run.config
    return {
        "format": CARD_FORMAT, "run_id": run.run_id, "arch": config.get("arch"),
        "task": config.get("task") or "ekman", "labels": list(config.get("classes") or EKMAN_CLASSES),
        "max_length": encoder.max_length, "pad_id": encoder.pad, "opset": OPSET,
        "preprocessing": {
            "tokenizer": "the .tokenizer.json beside the graph (Hugging Face tokenizers), special tokens added",
            "text": f"NUL characters replaced by spaces, at most {MAX_CHARS} characters",
            "truncation": f"the first {encoder.max_length} tokens",
            "padding": f"on the right with pad_id {encoder.pad}; any width, padding never changes the output",
            "empty_text": "length 1 (one pad token)",
        },
        "inputs": {"ids": "int64 [batch, length] token ids", "lengths": "int64 [batch] true lengths (>= 1)"},
        "outputs": {"probabilities": "float32 [batch, labels], rows sum to 1"},
    }


def test_texts(run: Run) -> list[str]:
    """The texts of the run's test split (its limit), as its test_predictions.csv recorded them."""
    import pandas as pd

    try:
        texts = pd.read_csv(run.predictions_path, usecols=["text"], keep_default_na=False)["text"].astype(str)
    except (OSError, ValueError) as exc:
        raise MissingResource(f"Run {run.run_id}: test_predictions.csv is missing or unreadable "
                              f"({type(exc).__name__}); it holds the test texts the export is verified on.") from None
    texts = [text for text in texts.tolist() if text.strip()]
    if not texts:
        raise MissingResource(f"Run {run.run_id}: test_predictions.csv holds no texts to verify the export on.")
    return texts


def largest_difference(reference: Predictor, exported: OnnxPredictor, texts: Sequence[str]) -> float:
    """max |p_PyTorch − p_ONNX| over the texts and classes; ONNX Runtime reads every batch padded to max_length."""
    difference = float((reference.probabilities(texts) - exported.probabilities(texts, trim=False)).abs().max())
    if not math.isfinite(difference):
        raise ValueError("the exported graph gives non-finite probabilities")
    return difference


def record_onnx_cost(run: Run, figures: dict) -> None:
    """Put the export's figures under cost.onnx in metrics.json (the rest of the file unchanged)."""
    metrics = read_json(run.path / "metrics.json", None)
    if not isinstance(metrics, dict):
        raise MissingResource(f"Run {run.run_id} has no readable metrics.json to record the export's cost in.")
    cost = metrics.get("cost") if isinstance(metrics.get("cost"), dict) else {}
    metrics["cost"] = {**cost, "onnx": figures}
    run.write_json("metrics.json", metrics)


def export_run(run: Run, out: str | Path | None = None, log: Callable[[str], None] = lambda message: None,
               timing_budget_s: float | None = None) -> dict:
    """Export one trained run (or each member of an ensemble run), verify it and record its cost. Returns the
    figures recorded under cost.onnx, with the files written."""
    if run.is_ensemble:
        return export_ensemble(run, out, log, timing_budget_s)
    files = ExportFiles.at(out) if out else ExportFiles.of_run(run)
    check_exportable(run)
    require_onnxruntime()
    reference = Predictor(run, "cpu")
    texts = test_texts(run)
    log(f"exporting {run.run_id} ({run.config.get('arch')}) to {files.model}")
    started = time.perf_counter()
    write_graph(reference.model, reference.encoder, files.model)
    write_with(files.tokenizer, lambda tmp: shutil.copyfile(run.tokenizer_path, tmp))
    card = export_card(run, reference.encoder)
    write_json(files.card, {**card, "verified": False})  # served only once verified below
    log(f"verifying on {len(texts):,} test texts")
    try:
        exported = OnnxPredictor(files, card)
        difference = largest_difference(reference, exported, texts)
    except Exception as exc:  # e.g. an operator ONNX Runtime lacks, or a shape the trace kept
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise NotExportable(f"{run.config.get('arch')}: ONNX Runtime cannot run the exported graph "
                            f"({type(exc).__name__}: {reason}).") from None
    verified = difference <= PARITY_GOAL
    log("timing PyTorch and ONNX Runtime on the CPU")
    cost = export_cost(reference, exported, texts, timing_budget_s)
    figures = {"file": str(files.model), "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "max_abs_diff": difference, "goal": PARITY_GOAL, "verified": verified, "texts": len(texts),
               "export_seconds": round(time.perf_counter() - started, 1), "opset": OPSET,
               "bytes": files.model.stat().st_size, **cost}
    write_json(files.card, {**card, "verified": verified, "sha256": file_digest(files.model),
                            "bytes": figures["bytes"],
                            "verification": {k: figures[k] for k in ("max_abs_diff", "goal", "texts", "exported")}})
    record_onnx_cost(run, figures)
    return {"run_id": run.run_id, "card": str(files.card), "tokenizer": str(files.tokenizer), **figures}


def export_ensemble(run: Run, out: str | Path | None, log: Callable[[str], None],
                    timing_budget_s: float | None) -> dict:
    """An ensemble exports its members (each into its own run folder); its card lists their cards, and its cost is
    the averaged members served together."""
    if out:
        raise InvalidConfig("--out: an ensemble exports each member into its own run folder; leave --out out.")
    members = RunStore(run.path.parent).members(run)
    exports = [export_run(member, None, log, timing_budget_s) for member in members]
    difference = max(e["max_abs_diff"] for e in exports)
    verified = all(e["verified"] for e in exports)
    files = ExportFiles.of_run(run)
    files.model.parent.mkdir(parents=True, exist_ok=True)
    card = {"format": CARD_FORMAT, "run_id": run.run_id, "arch": "ensemble", "task": run.config.get("task") or "ekman",
            "labels": list(run.config.get("classes") or EKMAN_CLASSES), "members": [e["card"] for e in exports],
            "combine": "the mean of the members' probabilities", "verified": verified}
    write_json(files.card, card)
    texts = test_texts(run)
    log("timing the ensemble: PyTorch and ONNX Runtime on the CPU")
    served = OnnxEnsemblePredictor([OnnxPredictor(ExportFiles.at(e["file"]), read_json(Path(e["card"]), {}))
                                    for e in exports])
    from .predict import EnsemblePredictor

    cost = export_cost(EnsemblePredictor(run, "cpu"), served, texts, timing_budget_s)
    figures = {"file": str(files.card), "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "max_abs_diff": difference, "goal": PARITY_GOAL, "verified": verified, "texts": len(texts),
               "members": [e["run_id"] for e in exports], **cost}
    record_onnx_cost(run, figures)
    return {"run_id": run.run_id, "card": str(files.card), **figures}
