"""Benchmarks: the input pipeline against the notebook's, and accuracy of every architecture's default recipe."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from typing import Callable, Sequence

import torch
from torch import nn

from .config import TrainConfig, make_config, pretrained_source
from .data import limit_split, load_goemotions
from .inference import autocast, model_lengths
from .metrics import classification_metrics
from .models import get_architecture, resolve_params
from .prepare import build_model
from .report import mean_std, recipe_key, summarise_runs
from .runs import Run, RunStore
from .settings import describe_device, effective_device, get_settings
from .tasks import get_task
from .text import DEFAULT_MAX_LENGTH, encode_split, learn_tokenizer, pad_id
from .train import train_run
from .trainer import Trainer

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
    _sync(device)
    started = time.perf_counter()
    done = run(batches)
    _sync(device)
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
                   epochs: int | None = None, device: str | None = None, fresh: bool = False, parallel: int = 1,
                   log: Callable[[str], None] = lambda m: None, task: str | None = None) -> dict:
    """Train each architecture with its default recipe for each seed on the full data (or `limit`);
    report test accuracy and macro-F1 mean ± std, best epoch, epoch time, parameters, device, and the wall time.
    A completed run with the same settings, seed, data and device is reused unless `fresh`, so an interrupted
    benchmark resumes. `parallel` runs train at once, each in a process of its own. `task` (default ekman) is the
    task every run trains on."""
    def config_for(arch: str, seed: int) -> TrainConfig:
        overrides = {"seed": seed, **({"limit": limit} if limit else {}), **({"epochs": epochs} if epochs else {}),
                     **({"device": device} if device else {}), **({"task": task} if task else {})}
        return make_config(arch, overrides)

    for arch in archs:  # refuse a bad architecture (e.g. the transformer without an encoder) before hours of work
        config_for(arch, 211)
    started = time.perf_counter()
    store = RunStore()
    run_ids: dict[tuple[str, int], str] = {}
    todo: list[TrainConfig] = []
    for arch in archs:
        for seed in range(211, 211 + seeds):
            config = config_for(arch, seed)
            done = None if fresh else completed_repeat(config, store)
            if done is not None:
                log(f"{arch} seed {seed}: reusing completed run {done.run_id}")
                run_ids[arch, seed] = done.run_id
            else:
                todo.append(config)
    for config, run_id in zip(todo, train_all(todo, parallel, log)):
        run_ids[config.arch, config.seed] = run_id
    rows = [summarise_runs([store.get(run_ids[arch, seed]) for seed in range(211, 211 + seeds)]) for arch in archs]
    document = {"seeds": seeds, "limit": limit, "task": task or "ekman", "parallel": parallel, "rows": rows,
                "wall_seconds": round(time.perf_counter() - started, 1)}
    if baseline:
        document["baseline"] = tfidf_baseline(limit)
    return document


def train_all(configs: Sequence[TrainConfig], parallel: int, log: Callable[[str], None]) -> list[str]:
    """Run ids of `configs` trained in order, `parallel` at a time in processes of their own (one: here)."""
    if parallel <= 1 or len(configs) <= 1:
        ids = []
        for config in configs:
            log(f"{config.arch} seed {config.seed}: training")
            ids.append(train_run(config, log=log).run.run_id)
        return ids
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // parallel)  # CPU runs share the cores instead of oversubscribing
    with ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(train_in_process, config, threads) for config in configs]
        for config in configs:
            log(f"{config.arch} seed {config.seed}: training (up to {parallel} at once)")
        return [future.result() for future in futures]


def train_in_process(config: TrainConfig, threads: int) -> str:
    """One benchmark run in a worker process, its log lines on stderr marked with the run it belongs to."""
    if not config.device.startswith("cuda"):
        torch.set_num_threads(threads)

    def log(message: str) -> None:
        print(f"[{config.arch} seed {config.seed}] {message}", file=sys.stderr, flush=True)

    return train_run(config, log=log).run.run_id


def completed_repeat(config: TrainConfig, store: RunStore) -> Run | None:
    """A completed run of exactly `config`: the same recipe (see report.recipe_key) and seed, data source,
    pretrained encoder and device kind."""
    settings = get_settings()
    spec = get_architecture(config.arch)
    wanted = {**config.to_dict(), "params": resolve_params(spec, config.params),
              "pretrained": pretrained_source(config, settings), "data_source": settings.data_source}
    key = recipe_key(wanted)
    device = config.device.split(":")[0]
    for run in store.list():
        stored = run.config
        if (run.status == "completed" and run.metrics and stored.get("seed") == config.seed
                and str(stored.get("device", "")).split(":")[0] == device
                and stored.get("data_source") == settings.data_source and recipe_key(stored) == key):
            return run
    return None


def accuracy_table(document: dict) -> str:
    """Markdown table of `bench_accuracy` output (the README's results table)."""
    accuracy = get_task(document.get("task")).accuracy_name
    lines = [f"| model | validation {accuracy} (%) | test {accuracy} (%) | macro-F1 | best epoch | s / epoch "
             "| parameters | device |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in document["rows"]:
        lines.append(f"| {r['arch']} | {r['val_accuracy_mean']:.2f} | "
                     f"{mean_std(r['accuracy_mean'], r['accuracy_std'], 2)} | "
                     f"{mean_std(r['macro_f1_mean'], r['macro_f1_std'], 3)} | {r['best_epoch_mean']:.1f} | "
                     f"{r['epoch_seconds']:.1f} | {r['parameters']:,} | {r['device']} |")
    if "baseline" in document:
        b = document["baseline"]
        lines.append(f"| TF-IDF + logistic regression | - | {b['accuracy']:.2f} | {b['macro_f1']:.3f} | - | - | - "
                     "| CPU |")
    if "wall_seconds" in document:
        lines.append(f"\nwall time {document['wall_seconds'] / 60:.1f} min, "
                     f"{document.get('parallel', 1)} run(s) at once")
    return "\n".join(lines)



__all__ = ["bench_pipeline", "bench_accuracy", "tfidf_baseline", "accuracy_table"]


# --- cost, measured again for runs side by side ----------------------------------------------------------------


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

    from .cost import BENCH_BUDGET_S, BENCH_REPEATS, measurement, remeasure

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
