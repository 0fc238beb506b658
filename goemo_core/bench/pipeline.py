"""The input-pipeline benchmark: the course notebook's DataLoader over strings against the Trainer's pre-tokenised
device batches, on the same BiLSTM, in one process on one device."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import torch
from torch import nn

from ..data.goemotions import load_goemotions
from ..data.text import DEFAULT_MAX_LENGTH, encode_split, learn_tokenizer, pad_id
from ..serving.inference import autocast, model_lengths
from ..settings import describe_device, effective_device
from ..training.config import TrainConfig, make_config
from ..training.prepare import build_model
from ..training.trainer import Trainer

BENCH_PARAMS = {"embedding_dim": 256, "hidden_size": 256, "num_layers": 2}  # the BiLSTM of the speed goal


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _bilstm(vocab_size: int, pad: int, device: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model(make_config("lstm", dict(BENCH_PARAMS)), vocab_size, pad, None, device).to(device)


def _train_step(model: nn.Module, optimizer, ids, lengths, labels, bf16: bool) -> torch.Tensor:
    with autocast(ids.device, bf16):
        logits = model(ids, lengths)
    loss = nn.functional.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss


def notebook_style_rate(model, tokenizer, texts, labels, device, batch_size, batches) -> float:
    """Samples/s of the notebook's pipeline: a DataLoader over strings whose collate_fn tokenises every batch,
    makes one tensor per example, stacks them and moves them to the device; full padded length, fp32."""
    from torch.utils.data import DataLoader

    worker = tokenizer.__class__.from_str(tokenizer.to_str())
    worker.enable_truncation(DEFAULT_MAX_LENGTH)
    worker.enable_padding(length=DEFAULT_MAX_LENGTH, pad_id=pad_id(tokenizer))

    def collate(batch):
        encoded = worker.encode_batch([text for text, _ in batch])
        ids = torch.stack([torch.tensor(e.ids).to(device) for e in encoded])
        targets = torch.stack([torch.tensor(label).to(device) for _, label in batch])
        return ids, targets

    loader = DataLoader(list(zip(texts, labels)), batch_size=batch_size, shuffle=True, collate_fn=collate)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    full = torch.full((batch_size,), DEFAULT_MAX_LENGTH, dtype=torch.long)
    return _timed(lambda step_batches: _run_loader(loader, model, optimizer, full, step_batches), device, batches,
                  batch_size)


def _run_loader(loader, model, optimizer, full_lengths, n_batches: int) -> int:
    seen = 0
    while seen < n_batches:
        for ids, targets in loader:
            lengths = model_lengths(model, full_lengths[: len(ids)])
            _train_step(model, optimizer, ids, lengths, targets, bf16=False)
            seen += 1
            if seen >= n_batches:
                break
    return seen


def trainer_rate(config: TrainConfig, encoded, vocab_size: int, pad: int, batches: int) -> tuple[float, Trainer]:
    """Samples/s of the Trainer's own training step (pre-tokenised device tensors, indexed batches, true lengths,
    its optimiser, schedule, weight average and precision) over `batches` batches, after a warm-up."""
    torch.manual_seed(0)
    trainer = Trainer(build_model(config, vocab_size, pad, None, config.device), config, config.device)
    session = trainer.start(encoded)

    def run(n_batches: int) -> int:
        trainer.config = replace(config, batches_per_epoch=n_batches)
        return trainer.train_epoch(session)[2] // config.batch_size

    return _timed(run, config.device, batches, config.batch_size), trainer


def _timed(run: Callable[[int], int], device: str, batches: int, batch_size: int) -> float:
    run(max(2, batches // 10))  # warm-up: cuDNN plans, allocator, kernel compilation
    synchronize(device)
    started = time.perf_counter()
    done = run(batches)
    synchronize(device)
    return done * batch_size / (time.perf_counter() - started)


def bench_pipeline(device: str | None = None, batches: int = 50, batch_size: int = 64,
                   our_batch_size: int | None = None, precision: str | None = None) -> dict:
    """The notebook-style pipeline vs the Trainer on the same BiLSTM (2 × 256), in one process on one device. The
    Trainer runs the default recipe for that device (batches of similar lengths; on a GPU, and on a CPU with native
    bf16, also their recipe: larger batches, bf16); `our_batch_size` and `precision` override it. The
    notebook-style side feeds every text at the full padded length, as the notebook did."""
    device = effective_device(device)
    data = load_goemotions()
    texts, labels = list(data["train"]["text"]), list(data["train"]["label"])
    tokenizer = learn_tokenizer(texts)
    encoded = encode_split(tokenizer, texts, labels, DEFAULT_MAX_LENGTH)
    vocab, pad = tokenizer.get_vocab_size(), pad_id(tokenizer)
    seed_rate = notebook_style_rate(_bilstm(vocab, pad, device), tokenizer, texts, labels, device, batch_size,
                                    batches)
    chosen = {"batch_size": our_batch_size, "precision": precision}  # each one given wins over the device's recipe
    config = make_config("lstm", {**BENCH_PARAMS, "device": device, "pretrained": None,
                                  **{key: value for key, value in chosen.items() if value}})
    ours, trainer = trainer_rate(config, encoded, vocab, pad, batches)
    return {
        "device": describe_device(device),
        "seed_style_samples_per_s": round(seed_rate, 1),
        "ours_samples_per_s": round(ours, 1),
        "speedup": round(ours / seed_rate, 2),
        "seed_style_batch_size": batch_size,
        "ours_batch_size": config.batch_size,
        "ours_precision": trainer.precision,
        "ours_recipe": config.recipe,
        "ours_length_buckets": config.length_buckets,
        "batches": batches,
        "ours_epoch_seconds": round(len(texts) / ours, 2),
        "model": "BiLSTM 2 layers x 256 units, embedding 256",
        "notes": trainer.notes,
    }
