"""What a trained model costs to use, measured through its Predictor (tokenising included, as a user would call it):
sentences per second at the Predictor's batch of 256, and the latency of one sentence, on the run's device and on
the CPU; with the parameter counts and the training time, it is the cost axis of the accuracy-versus-cost view."""

from __future__ import annotations

import statistics
import time
from typing import Sequence

from .predict import PREDICT_BATCH_SIZE, load_predictor
from .runs import Run

BUDGET_S = 1.0  # time spent timing each quantity on each device, after one warm-up call
LATENCY_CALLS = (5, 50)  # fewest and most single-sentence calls timed
COST_AXES = {  # key in a run's cost → what it means, and whether lower is better
    "cpu_latency_ms": ("latency of one sentence on the CPU (ms)", True),
    "cpu_sentences_per_s": ("sentences per second on the CPU (batch 256)", False),
    "parameters": ("parameters", True),
    "trainable_parameters": ("trainable parameters", True),
    "train_seconds": ("training time (s)", True),
}
# The same CPU figures served through ONNX Runtime from a verified export (cost.onnx in metrics.json).
ONNX_COST_AXES = {
    "onnx_cpu_latency_ms": ("latency of one sentence on the CPU, ONNX Runtime (ms)", True),
    "onnx_cpu_sentences_per_s": ("sentences per second on the CPU, ONNX Runtime (batch 256)", False),
}


def inference_cost(predictor, texts: Sequence[str], budget_s: float = BUDGET_S) -> dict:
    """{"sentences_per_s", "latency_ms"} of one predictor (anything with `predict(texts)`: PyTorch or ONNX
    Runtime) on `texts` (a few hundred real sentences)."""
    batch = list(texts[:PREDICT_BATCH_SIZE])
    predictor.predict(batch)  # warm-up: allocator, kernels, lazy imports
    done, started = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - started < budget_s:
        predictor.predict(batch)
        done += len(batch)
    throughput = done / (time.perf_counter() - started)
    latencies: list[float] = []
    started = time.perf_counter()
    while len(latencies) < LATENCY_CALLS[0] or (time.perf_counter() - started < budget_s
                                                and len(latencies) < LATENCY_CALLS[1]):
        one = time.perf_counter()
        predictor.predict([batch[len(latencies) % len(batch)]])
        latencies.append((time.perf_counter() - one) * 1000)
    return {"sentences_per_s": round(throughput, 1), "latency_ms": round(statistics.median(latencies), 3)}


def run_cost(run: Run, texts: Sequence[str], device: str, parameters: int, trainable: int,
             train_seconds: float) -> dict:
    """The cost document stored with a run's metrics: inference on the run's device and on the CPU, parameters,
    training time. `cpu_*` keys are flattened for tables and charts."""
    devices = ["cpu"] + ([device] if device != "cpu" else [])
    inference = {name: inference_cost(load_predictor(run, name), texts) for name in devices}
    return {"parameters": parameters, "trainable_parameters": trainable, "train_seconds": round(train_seconds, 1),
            "inference": inference, "cpu_latency_ms": inference["cpu"]["latency_ms"],
            "cpu_sentences_per_s": inference["cpu"]["sentences_per_s"]}


def export_cost(reference, exported, texts: Sequence[str], budget_s: float | None = None) -> dict:
    """The CPU cost of a run served by PyTorch (`reference`) and by ONNX Runtime from its export (`exported`), timed
    the same way one after the other; the ONNX Runtime figures are also flattened for tables and charts."""
    budget_s = BUDGET_S if budget_s is None else budget_s
    pytorch, onnxruntime = inference_cost(reference, texts, budget_s), inference_cost(exported, texts, budget_s)
    return {"pytorch": pytorch, "onnxruntime": onnxruntime, "onnx_cpu_latency_ms": onnxruntime["latency_ms"],
            "onnx_cpu_sentences_per_s": onnxruntime["sentences_per_s"]}


def onnx_cost(metrics: dict | None) -> dict:
    """A run's ONNX Runtime figures (ONNX_COST_AXES), None where it has no verified export."""
    recorded = ((metrics or {}).get("cost") or {}).get("onnx") if isinstance(metrics, dict) else None
    verified = isinstance(recorded, dict) and recorded.get("verified") is True
    return {key: recorded.get(key) if verified else None for key in ONNX_COST_AXES}
