"""`bench speed`: the training speed of each architecture's default recipe side by side, in one process on the same
data, so architectures compare under the same load. Each is timed over a number of batches of its own Trainer step
(after a warm-up), in rounds that alternate between the architectures; a figure is the median over the rounds."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Callable, Sequence

import torch

from ..data.text import pad_id
from ..settings import describe_device, get_settings
from ..training.config import make_config
from ..training.prepare import build_model, prepare_data
from ..training.trainer import Trainer
from .pipeline import synchronize


def bench_speed(archs: Sequence[str], batches: int = 40, rounds: int = 2, device: str | None = None,
                limit: int | None = None, log: Callable[[str], None] = lambda message: None) -> dict:
    """Training examples/s of each architecture's default recipe on the train split, and a full epoch's seconds
    at that rate; `relative` is each rate over the first architecture's."""
    settings = get_settings()
    sessions = {}
    for arch in archs:
        config = make_config(arch, {**({"device": device} if device else {}), **({"limit": limit} if limit else {}),
                                    "batches_per_epoch": batches})
        data = prepare_data(config, settings, log)
        torch.manual_seed(config.seed)
        model = build_model(config, data.tokenizer.get_vocab_size(), pad_id(data.tokenizer), data.embedding_init,
                            config.device)
        trainer = Trainer(model, config, config.device)
        session = trainer.start(data.train)
        trainer.config = replace(config, batches_per_epoch=max(2, batches // 10))
        trainer.train_epoch(session)  # warm-up: allocator, kernels, autocast caches
        trainer.config = config
        sessions[arch] = (trainer, session, len(data.train))
    rates: dict[str, list[float]] = {arch: [] for arch in archs}
    for round_number in range(1, rounds + 1):
        for arch, (trainer, session, _) in sessions.items():
            synchronize(trainer.device)
            started = time.perf_counter()
            seen = trainer.train_epoch(session)[2]
            synchronize(trainer.device)
            rates[arch].append(seen / (time.perf_counter() - started))
            log(f"round {round_number}: {arch} {rates[arch][-1]:,.0f} examples/s")
    first = statistics.median(rates[archs[0]])
    rows = []
    for arch, (trainer, _, examples) in sessions.items():
        rate = statistics.median(rates[arch])
        rows.append({"arch": arch, "examples_per_s": round(rate, 1), "relative": round(rate / first, 3),
                     "epoch_seconds": round(examples / rate, 1), "batch_size": trainer.config.batch_size,
                     "precision": trainer.precision, "recipe": trainer.config.recipe,
                     "length_buckets": trainer.config.length_buckets, "rates": [round(r, 1) for r in rates[arch]]})
    return {"device": describe_device(next(iter(sessions.values()))[0].device), "batches": batches, "limit": limit,
            "rounds": rounds, "threads": torch.get_num_threads(), "rows": rows}


def speed_table(document: dict) -> str:
    lines = [f"{document['device']}, {document['threads']} thread(s), {document['batches']} batches × "
             f"{document['rounds']} rounds (median)",
             f"{'arch':<12} {'examples/s':>11} {'relative':>9} {'epoch (s)':>10}  batch · precision · buckets"]
    for r in document["rows"]:
        lines.append(f"{r['arch']:<12} {r['examples_per_s']:>11,.0f} {r['relative']:>8.2f}x "
                     f"{r['epoch_seconds']:>10,.0f}  {r['batch_size']} · {r['precision']} · "
                     f"{'on' if r['length_buckets'] else 'off'}")
    return "\n".join(lines)
