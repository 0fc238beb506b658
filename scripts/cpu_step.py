"""Where a CPU training step spends its time: the process CPU seconds of one pass of the Trainer over the first
LIMIT training examples, split into forward + backward, clipping, optimiser, schedule, weight average and targets.
CPU seconds of one thread hardly move with the load of a shared machine, unlike wall-clock seconds.

Usage: python scripts/cpu_step.py ARCH [--limit N] [--path auto|packed|padded] [--threads T] [key=value …]
(key=value: recipe fields or hyperparameters, as `train --set`; GOEMO_DATA_DIR, GOEMO_PRETRAINED, … from the
environment). Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goemo_core.models.rnn import BiRNNEncoder  # noqa: E402
from goemo_core.training.config import make_config
from goemo_core.training.prepare import build_model, prepare_data
from goemo_core.training.trainer import Trainer


def timed(phases: dict[str, float], name: str, function: Callable) -> Callable:
    def run(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.process_time() - started

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch")
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--path", choices=("auto", "packed", "padded"), default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("settings", nargs="*", help="key=value")
    args = parser.parse_intermixed_args()
    torch.set_num_threads(args.threads)
    overrides = dict(setting.split("=", 1) for setting in args.settings)
    config = make_config(args.arch, {**overrides, "limit": args.limit, "device": "cpu"})
    data = prepare_data(config)
    torch.manual_seed(config.seed)
    model = build_model(config, data.tokenizer.get_vocab_size(), 0, data.embedding_init, "cpu")
    for module in model.modules():
        if isinstance(module, BiRNNEncoder):
            module.path = args.path
    trainer = Trainer(model, config, "cpu")
    session = trainer.start(data.train)
    phases: dict[str, float] = {}
    trainer._backward = timed(phases, "forward_backward", trainer._backward)
    trainer._targets = timed(phases, "targets", trainer._targets)
    session.optimizer.step = timed(phases, "optimizer", session.optimizer.step)
    session.scheduler.step = timed(phases, "schedule", session.scheduler.step)
    if session.average is not None:
        session.average.update = timed(phases, "weight_average", session.average.update)
    nn.utils.clip_grad_norm_ = timed(phases, "clipping", nn.utils.clip_grad_norm_)
    started = time.process_time()
    examples = trainer.train_epoch(session)[2]
    total = time.process_time() - started
    print(json.dumps({"arch": args.arch, "path": args.path, "settings": overrides, "threads": args.threads,
                      "examples": examples, "cpu_seconds": round(total, 2),
                      "phases": {name: round(seconds, 2) for name, seconds in phases.items()}}))


if __name__ == "__main__":
    main()
