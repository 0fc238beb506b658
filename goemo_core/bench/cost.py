"""`bench cost`: the CPU cost of completed runs measured again, one after the other on the same sentences, so the
Pareto view compares models measured together."""

from __future__ import annotations

import time
from typing import Callable, Sequence

from ..data.goemotions import load_goemotions
from ..runs.folder import Run
from ..runs.store import RunStore


def cost_texts(count: int = 256) -> list[str]:
    """The sentences every run is timed on in `bench cost`: the first `count` non-empty test texts, the same for
    all runs, so their figures compare."""
    texts = [text for text in load_goemotions()["test"]["text"] if str(text).strip()]
    return [str(text) for text in texts[:count]]


def cost_candidates(store: RunStore, run_ids: Sequence[str] | None) -> tuple[list[Run], list[str]]:
    """The runs `bench cost` measures (`run_ids`, or every completed run with weights when None) and, for each
    left out, why."""
    runs = [store.get(run_id) for run_id in run_ids] if run_ids else store.list()
    chosen, skipped = [], []
    for run in runs:
        if run.status != "completed" or run.is_ensemble or run.missing_files():
            why = ("an ensemble: its cost is its members'" if run.is_ensemble else
                   f"status {run.status}" if run.status != "completed" else "files missing: " +
                   ", ".join(run.missing_files()))
            skipped.append(f"{run.run_id} ({why})")
        else:
            chosen.append(run)
    return chosen, skipped


def bench_cost(run_ids: Sequence[str] | None = None, repeats: int | None = None, budget_s: float | None = None,
               log: Callable[[str], None] = lambda message: None) -> dict:
    """Measure the CPU cost of runs again, one after the other in this process, on the same sentences, and record
    it in each run's metrics (see cost.remeasure): the Pareto view then compares models measured together."""
    import secrets

    from ..serving.cost import BENCH_BUDGET_S, BENCH_REPEATS, measurement, remeasure

    repeats = repeats or BENCH_REPEATS
    runs, skipped = cost_candidates(RunStore(), run_ids)
    texts = cost_texts() if runs else []
    sequence = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    rows = []
    for i, run in enumerate(runs, 1):
        about = measurement("bench", repeats, sequence, len(runs))
        figures = remeasure(run, texts, about, repeats, BENCH_BUDGET_S if budget_s is None else budget_s)
        rows.append({"run_id": run.run_id, "name": run.display_name, **figures, "load": about["load"]})
        log(f"{i}/{len(runs)} {run.run_id}: {figures['latency_ms']:.2f} ± {figures['latency_ms_spread']:.2f} ms, "
            f"{figures['sentences_per_s']:,.0f} sentences/s")
    return {"sequence": sequence, "repeats": repeats, "runs": rows, "skipped": skipped}


def cost_table(document: dict) -> str:
    """`bench cost`'s result as text: a line per run, then the runs left out."""
    lines = [f"sequence {document['sequence']} · median of {document['repeats']} repeats (spread: max − min)"]
    for row in document["runs"]:
        load = f"{row['load'][0]:.2f}" if row.get("load") else "?"
        lines.append(f"{row['run_id']:<32} latency {row['latency_ms']:8.2f} ± {row['latency_ms_spread']:6.2f} ms · "
                     f"{row['sentences_per_s']:9,.0f} ± {row['sentences_per_s_spread']:,.0f} sentences/s · "
                     f"load {load}")
    if document["skipped"]:
        lines.append("left out: " + "; ".join(document["skipped"]))
    if not document["runs"]:
        lines.append("No completed run with weights to measure.")
    return "\n".join(lines)
