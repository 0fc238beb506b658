"""What a trained model costs to use, measured through its Predictor (tokenising included, as a user would call it):
sentences per second at the Predictor's batch of 256, and the latency of one sentence, on the run's device and on
the CPU; with the parameter counts and the training time, it is the cost axis of the accuracy-versus-cost view."""

from __future__ import annotations

import os
import statistics
import time
from typing import Sequence

from ..runs.folder import Run
from .predict import PREDICT_BATCH_SIZE, load_predictor

BUDGET_S = 1.0  # time spent timing each quantity on each device, after a warm-up as long as one repeat
LATENCY_CALLS = (5, 2000)  # fewest and most single-sentence calls timed, per repeat: as many as the budget allows,
# since one call takes a few milliseconds and a handful of them is moved by the scheduler of a small machine
REPEATS = 3  # repeats at the end of training: the figures are their medians, with their spread (max − min)
BENCH_REPEATS = 5  # repeats when `bench cost` measures runs again, one after the other
BENCH_BUDGET_S = 5.0  # and the time per quantity then: a second per repeat, so a figure is not one or two batches
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


def inference_cost(predictor, texts: Sequence[str], budget_s: float = BUDGET_S, repeats: int = REPEATS) -> dict:
    """{"sentences_per_s", "latency_ms"} of one predictor (anything with `predict(texts)`: PyTorch or ONNX
    Runtime) on `texts` (a few hundred real sentences): the medians of `repeats` timings of `budget_s / repeats`
    seconds each, with their spread (`*_spread`: max − min), so one disturbed moment does not make the figure."""
    batch = list(texts[:PREDICT_BATCH_SIZE])
    _one_timing(predictor, batch, budget_s / max(1, repeats))  # warm-up: allocator, kernels, caches, clock speed
    timings = [_one_timing(predictor, batch, budget_s / max(1, repeats)) for _ in range(max(1, repeats))]
    throughputs, latencies = [t[0] for t in timings], [t[1] for t in timings]
    return {"sentences_per_s": round(statistics.median(throughputs), 1),
            "sentences_per_s_spread": round(max(throughputs) - min(throughputs), 1),
            "latency_ms": round(statistics.median(latencies), 3),
            "latency_ms_spread": round(max(latencies) - min(latencies), 3)}


def _one_timing(predictor, batch: list[str], budget_s: float) -> tuple[float, float]:
    """Sentences per second at the full batch, and the median latency of one sentence (ms), in about
    2 × `budget_s`."""
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
    return throughput, statistics.median(latencies)


def measurement(kind: str, repeats: int, sequence: str | None = None, runs: int = 1) -> dict:
    """What a cost figure was measured under: when, the machine's load (1, 5 and 15 min averages) at the time, how
    many repeats, and for `bench cost` the sequence of runs measured together."""
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except OSError:  # no load average on this system
        load = None
    return {"kind": kind, "at": time.strftime("%Y-%m-%d %H:%M:%S"), "load": load, "repeats": repeats,
            **({"sequence": sequence, "runs": runs} if sequence else {})}


def _about(cost: dict | None) -> dict | None:
    about = cost.get("measurement") if isinstance(cost, dict) else None
    return about if isinstance(about, dict) else None


def measured_with(cost: dict | None) -> str:
    """Which measurement pass a run's CPU figures come from, one line (a chart's legend entry): the end of the run's
    own training, or one `bench cost` sequence that timed several runs together. The load is the run's own: see
    `measured_load`."""
    about = _about(cost)
    if about is None:
        return "end of training (one timing)"
    if about.get("kind") == "bench":
        return f"bench cost {about.get('sequence')} ({about.get('runs')} runs together)"
    return f"end of training ({about.get('repeats')} repeats, each run alone)"


def measured_load(cost: dict | None) -> float | None:
    """The machine's 1-minute load average when the run's CPU figures were measured; None when not recorded."""
    load = (_about(cost) or {}).get("load")
    return float(load[0]) if isinstance(load, list) and load and isinstance(load[0], (int, float)) else None


def unsteady_figures(cost: dict | None) -> list[str]:
    """The CPU figures (COST_AXES keys) whose spread between repeats (max − min) exceeds their median: figures the
    machine's load moved more than the model did, to be read with care."""
    cpu = ((cost or {}).get("inference") or {}).get("cpu") if isinstance(cost, dict) else None
    if not isinstance(cpu, dict):
        return []
    pairs = {"cpu_latency_ms": "latency_ms", "cpu_sentences_per_s": "sentences_per_s"}
    return [key for key, name in pairs.items() if isinstance(cpu.get(name), (int, float))
            and isinstance(cpu.get(f"{name}_spread"), (int, float)) and cpu[f"{name}_spread"] > cpu[name]]


def loads_note(costs: Sequence[dict | None]) -> str | None:
    """A sentence when CPU figures shown together were measured in several passes or under loads that differ
    (their 1-minute load averages more than 1 apart): they then compare only roughly. None when they were measured
    alike (or nothing was measured)."""
    measured = [cost for cost in costs if isinstance(cost, dict) and cost.get("cpu_latency_ms") is not None]
    passes = {measured_with(cost) for cost in measured}
    loads = [load for load in map(measured_load, measured) if load is not None]
    spread = max(loads) - min(loads) if loads else 0.0
    if len(passes) <= 1 and spread <= 1.0:
        return None
    under = f" under loads {min(loads):.1f} to {max(loads):.1f}" if loads and spread > 0 else ""
    return (f"These CPU figures mix {len(passes)} measurement pass(es){under}: they compare only roughly; runs "
            "measured again together (`python -m goemo_core bench cost --runs …`) compare best.")


def remeasure(run: Run, texts: Sequence[str], about: dict, repeats: int = BENCH_REPEATS,
              budget_s: float = BUDGET_S) -> dict:
    """Time `run` on the CPU again and record the figures, with `about` (see `measurement`), in its metrics.json
    cost; the rest of the file is kept. Returns the new CPU figures."""
    figures = inference_cost(load_predictor(run, "cpu"), texts, budget_s, repeats)
    metrics = dict(run.metrics or {})
    cost = dict(metrics.get("cost") or {})
    cost.update(inference={**(cost.get("inference") or {}), "cpu": figures}, cpu_latency_ms=figures["latency_ms"],
                cpu_sentences_per_s=figures["sentences_per_s"], measurement=about)
    run.write_json("metrics.json", {**metrics, "cost": cost})
    return figures


def run_cost(run: Run, texts: Sequence[str], device: str, parameters: int, trainable: int,
             train_seconds: float) -> dict:
    """The cost document stored with a run's metrics: inference on the run's device and on the CPU, parameters,
    training time. `cpu_*` keys are flattened for tables and charts."""
    devices = ["cpu"] + ([device] if device != "cpu" else [])
    about = measurement("end of training", REPEATS)
    inference = {name: inference_cost(load_predictor(run, name), texts) for name in devices}
    return {"parameters": parameters, "trainable_parameters": trainable, "train_seconds": round(train_seconds, 1),
            "inference": inference, "cpu_latency_ms": inference["cpu"]["latency_ms"],
            "cpu_sentences_per_s": inference["cpu"]["sentences_per_s"], "measurement": about}


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
