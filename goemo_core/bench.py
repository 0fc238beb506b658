"""Benchmarks: the input pipeline against the notebook's, and accuracy of every architecture's default recipe."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch
from torch import nn

from .config import TrainConfig, make_config, pretrained_source
from .data import limit_split, load_goemotions
from .inference import autocast, model_lengths
from .metrics import classification_metrics
from .models import get_architecture, resolve_params
from .prepare import build_model
from .report import recipe_key, summarise_runs
from .runs import Run, RunStore
from .settings import describe_device, get_settings, resolve_device
from .text import DEFAULT_MAX_LENGTH, encode_split, learn_tokenizer, pad_id
from .train import train_run

BENCH_PARAMS = {"embedding_dim": 256, "hidden_size": 256, "num_layers": 2}  # the BiLSTM of the speed goal


def _sync(device: str) -> None:
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


def our_rate(model, encoded, device, batch_size, batches, bf16: bool) -> float:
    """Samples/s of the Trainer's pipeline: pre-tokenised device tensors, indexed batches, true lengths."""
    train = encoded.to(device)
    lengths_cpu = encoded.lengths
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)

    def run(n_batches: int) -> int:
        done = 0
        while done < n_batches:
            order = torch.randperm(len(encoded), generator=generator)
            order_dev = order.to(device)
            for start in range(0, len(order) - batch_size + 1, batch_size):
                idx_cpu, idx = order[start:start + batch_size], order_dev[start:start + batch_size]
                lens = lengths_cpu[idx_cpu]
                width = int(lens.max())
                lens_model = model_lengths(model, lens, train.lengths[idx])
                _train_step(model, optimizer, train.ids[idx, :width], lens_model, train.labels[idx], bf16)
                done += 1
                if done >= n_batches:
                    break
        return done

    return _timed(run, device, batches, batch_size)


def _timed(run: Callable[[int], int], device: str, batches: int, batch_size: int) -> float:
    run(max(2, batches // 10))  # warm-up: cuDNN plans, allocator, kernel compilation
    _sync(device)
    started = time.perf_counter()
    done = run(batches)
    _sync(device)
    return done * batch_size / (time.perf_counter() - started)


def bench_pipeline(device: str | None = None, batches: int = 50, batch_size: int = 64,
                   our_batch_size: int | None = None, precision: str = "auto") -> dict:
    """The notebook-style pipeline vs ours on the same BiLSTM (2 × 256), in one process on one device."""
    device = resolve_device(device or get_settings().device)
    our_batch_size = our_batch_size or (512 if device.startswith("cuda") else batch_size)
    bf16 = precision == "bf16" or (precision == "auto" and device.startswith("cuda"))
    data = load_goemotions()
    texts, labels = list(data["train"]["text"]), list(data["train"]["label"])
    tokenizer = learn_tokenizer(texts)
    encoded = encode_split(tokenizer, texts, labels, DEFAULT_MAX_LENGTH)
    vocab, pad = tokenizer.get_vocab_size(), pad_id(tokenizer)
    seed_rate = notebook_style_rate(_bilstm(vocab, pad, device), tokenizer, texts, labels, device, batch_size,
                                    batches)
    notes = []
    try:
        ours = our_rate(_bilstm(vocab, pad, device), encoded, device, our_batch_size, batches, bf16)
    except RuntimeError as exc:  # older cuDNN: no bf16 recurrent kernels
        if not (bf16 and precision == "auto"):
            raise
        bf16 = False
        notes.append(f"bf16 failed on this device ({str(exc).strip().splitlines()[0]}); measured in fp32")
        ours = our_rate(_bilstm(vocab, pad, device), encoded, device, our_batch_size, batches, bf16)
    return {
        "device": describe_device(device),
        "seed_style_samples_per_s": round(seed_rate, 1),
        "ours_samples_per_s": round(ours, 1),
        "speedup": round(ours / seed_rate, 2),
        "seed_style_batch_size": batch_size,
        "ours_batch_size": our_batch_size,
        "ours_precision": "bf16" if bf16 and device.startswith("cuda") else "fp32",
        "batches": batches,
        "ours_epoch_seconds": round(len(texts) / ours, 2),
        "model": "BiLSTM 2 layers x 256 units, embedding 256",
        "notes": notes,
    }


def tfidf_baseline(limit: int | None = None, seed: int = 211) -> dict:
    """TF-IDF (word 1–2-grams) + logistic regression on the same splits: the floor every model should beat."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    data = load_goemotions()
    train, test = limit_split(data["train"], limit), limit_split(data["test"], limit)
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train["text"])
    model = LogisticRegression(max_iter=2000, C=4.0, random_state=seed).fit(features, train["label"])
    metrics = classification_metrics(test["label"], model.predict(vectorizer.transform(test["text"])))
    return {"arch": "tfidf-logreg", "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "seconds": time.perf_counter() - started}


def bench_accuracy(archs: Sequence[str], seeds: int = 3, baseline: bool = False, limit: int | None = None,
                   epochs: int | None = None, device: str | None = None, fresh: bool = False,
                   log: Callable[[str], None] = lambda m: None) -> dict:
    """Train each architecture with its default recipe for each seed on the full data (or `limit`);
    report test accuracy and macro-F1 mean ± std, best epoch, epoch time, parameters, device. A completed run
    with the same settings, seed, data and device is reused unless `fresh`, so an interrupted benchmark resumes."""
    def config_for(arch: str, seed: int):
        overrides = {"seed": seed, **({"limit": limit} if limit else {}), **({"epochs": epochs} if epochs else {}),
                     **({"device": device} if device else {})}
        return make_config(arch, overrides)

    for arch in archs:  # refuse a bad architecture (e.g. the transformer without an encoder) before hours of work
        config_for(arch, 211)
    store, rows = RunStore(), []
    for arch in archs:
        runs = []
        for seed in range(211, 211 + seeds):
            config = config_for(arch, seed)
            done = None if fresh else completed_repeat(config, store)
            if done is not None:
                log(f"{arch} seed {seed}: reusing completed run {done.run_id}")
                runs.append(done)
                continue
            log(f"{arch} seed {seed}: training")
            runs.append(train_run(config, store=store, log=log).run)
        rows.append(summarise_runs(runs))
    document = {"seeds": seeds, "limit": limit, "rows": rows}
    if baseline:
        document["baseline"] = tfidf_baseline(limit)
    return document


def completed_repeat(config: TrainConfig, store: RunStore) -> Run | None:
    """A completed run of exactly `config`: the same recipe (see report.recipe_key) and seed, data source,
    pretrained encoder and device kind."""
    settings = get_settings()
    spec = get_architecture(config.arch)
    wanted = {**config.to_dict(), "params": resolve_params(spec, config.params),
              "pretrained": pretrained_source(config, settings), "data_source": settings.data_source}
    key = recipe_key(wanted)
    device = resolve_device(config.device if config.device != "auto" else settings.device).split(":")[0]
    for run in store.list():
        stored = run.config
        if (run.status == "completed" and run.metrics and stored.get("seed") == config.seed
                and str(stored.get("device", "")).split(":")[0] == device
                and stored.get("data_source") == settings.data_source and recipe_key(stored) == key):
            return run
    return None


def accuracy_table(document: dict) -> str:
    """Markdown table of `bench_accuracy` output (the README's results table)."""
    lines = ["| model | test accuracy (%) | macro-F1 | best epoch | s / epoch | parameters | device |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in document["rows"]:
        lines.append(f"| {r['arch']} | {r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f} | "
                     f"{r['macro_f1_mean']:.3f} ± {r['macro_f1_std']:.3f} | {r['best_epoch_mean']:.1f} | "
                     f"{r['epoch_seconds']:.1f} | {r['parameters']:,} | {r['device']} |")
    if "baseline" in document:
        b = document["baseline"]
        lines.append(f"| TF-IDF + logistic regression | {b['accuracy']:.2f} | {b['macro_f1']:.3f} | - | - | - | CPU |")
    return "\n".join(lines)


__all__ = ["bench_pipeline", "bench_accuracy", "tfidf_baseline", "accuracy_table"]
