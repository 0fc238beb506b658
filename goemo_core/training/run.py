"""A whole training run: data → model → Trainer → test metrics → run directory, and the 'train' background job."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .. import __version__
from ..data.goemotions import evaluation_fingerprint
from ..data.tasks import get_task
from ..data.text import EncodedSplit, pad_id
from ..errors import Cancelled, Diverged, InvalidConfig, MissingResource, Terminated, raise_terminated
from ..evaluation.calibration import calibration_report, write_calibration
from ..evaluation.thresholds import decision_rule, task_metrics, tune_thresholds, validation_headline
from ..evaluation.thresholds import probabilities as task_probabilities
from ..integrations.mlflow_mirror import TrainingMirror
from ..models import get_architecture, resolve_params
from ..runs.atomic import write_with
from ..runs.folder import Run, RunLabel
from ..runs.schemas import Unreadable
from ..runs.tensor_files import tensor_shapes
from ..runs.store import RunStore
from ..serving.cost import run_cost
from ..settings import Settings, describe_device, effective_device, get_settings
from .checkpoint import load_checkpoint, remove_checkpoint, save_checkpoint
from .config import TrainConfig
from .prepare import PreparedData, build_model, build_notes, count_parameters, prepare_data
from .trainer import EpochCallback, ProgressCallback, Trainer


@dataclass
class RunResult:
    run: Run
    history: list[dict]
    best_epoch: int
    metrics: dict | None
    status: str

    def to_json(self) -> dict:
        return {"run_id": self.run.run_id, "run_dir": str(self.run.path), "status": self.status,
                "best_epoch": self.best_epoch, "history": self.history, "test": self.metrics}


def code_version() -> str:
    """The package version, plus the git commit (and '+dirty') when running from a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty=+dirty"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def building_message(config: TrainConfig, device: str) -> str:
    """What the user waits for before the first batch."""
    if config.arch == "xlstm" and device.startswith("cuda"):
        return ("building the model: the sLSTM CUDA kernel is compiled on the first use of a configuration "
                "(a minute; later runs reuse the build)")
    return f"building the {config.arch} model on {device}"


def train_run(config: TrainConfig, store: RunStore | None = None, on_epoch: EpochCallback | None = None,
              cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None,
              log: Callable[[str], None] = lambda message: None, settings: Settings | None = None,
              on_run_created: Callable[[Run], None] | None = None, label: RunLabel | None = None,
              mirror_tags: dict[str, str] | None = None, resume: Run | None = None) -> RunResult:
    """Train `config` (validated by make_config) end to end and write its run directory. Missing data raises before
    the run directory exists; a failure after that leaves a 'failed' run with its history and error; a cancel leaves a
    'cancelled' run with its history and, when an epoch finished, its best weights and test metrics. `mirror_tags`
    are added to the run's MLflow mirror (e.g. the grid cell it trains). After each epoch the training state is
    checkpointed in the run folder (see training.checkpoint) until the run is complete; `resume`, a stopped run of
    this same config with a checkpoint, goes on from its last finished epoch in its own folder."""
    settings = settings or get_settings()
    device = effective_device(config.device)
    log(f"loading data and tokenising (limit={config.limit}, augment={config.augment or 'no'})")
    data = prepare_data(config, settings, log)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    log(building_message(config, device))
    model = build_model(config, data.tokenizer.get_vocab_size(), pad_id(data.tokenizer), data.embedding_init, device)
    store = store or RunStore(settings=settings)
    task = get_task(config.task)
    checkpoint = resumed_state(resume, data.data_key) if resume is not None else None
    run = store.reopen(resume) if resume is not None else store.create({
        **config.to_dict(),
        "params": resolve_params(get_architecture(config.arch), config.params),
        "pretrained": data.pretrained,
        "embedding_init_dim": int(data.embedding_init.weight.shape[1]) if data.embedding_init is not None else None,
        "device": device, "device_name": describe_device(device), "code_version": code_version(),
        "data_source": settings.data_source, "train_fingerprint": data.data_key, "classes": list(task.labels),
        "eval_fingerprint": evaluation_fingerprint(settings, config.limit),
        "vocab_size": data.tokenizer.get_vocab_size(), "pad_id": pad_id(data.tokenizer),
        "train_examples": len(data.train), "train_class_counts": task.counts(labelled(data.train).numpy()),
        "transfer_examples": len(data.train) - len(labelled(data.train)),
    })
    try:
        if checkpoint is None:  # a resumed run keeps the tokenizer it was trained with (the same one)
            write_with(run.tokenizer_path, lambda tmp: data.tokenizer.save(str(tmp)))
    except Exception as exc:  # e.g. a full disk: the run cannot be used later, so it is failed now
        with contextlib.suppress(OSError):
            run.write_json("info.json", {"error": f"{type(exc).__name__}: {exc}"})
        run.set_status("failed")
        raise MissingResource(f"Cannot write {run.tokenizer_path} ({exc}). Free some space or set GOEMO_HOME to a "
                              "folder you can write to.") from None
    if label is not None and label != RunLabel():
        run.set_label(label)
    if on_run_created is not None:
        on_run_created(run)
    # MLflow when GOEMO_MLFLOW_TRACKING_URI is set; never fails the run
    mirror = TrainingMirror(run, log, tags=mirror_tags)
    trainer = Trainer(model, config, device)
    for note in build_notes(model):
        log(note)
        trainer.notes.append(note)
    parameters = count_parameters(model)
    log(f"run {run.run_id}: {config.arch}, {parameters:,} parameters, {len(data.train):,} train examples on {device}")
    started = time.perf_counter() - (checkpoint or {}).get("seconds", 0.0)  # a resumed run's time counts it all
    if checkpoint is not None:
        log(f"resuming from the checkpoint after epoch {checkpoint['epoch']} of {config.epochs}")

    def epoch_done(record: dict) -> None:
        if record["epoch"] == 1:
            for note in trainer.notes:
                log(note)
        run.write_history(trainer.history)
        log(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, val acc {record['val_accuracy']:.2f}%, "
            f"val macro-F1 {record['val_macro_f1']:.3f} ({record['seconds']:.1f}s)")
        mirror.epoch(record)
        if on_epoch is not None:
            on_epoch(record)

    status, error, interrupted = "completed", None, None
    try:
        trainer.fit(data.train, data.validation, on_epoch=epoch_done, cancel=cancel, on_progress=on_progress,
                    on_checkpoint=lambda state: save_checkpoint(run, {**state, "seconds": time.perf_counter() - started}),
                    resume=checkpoint)
    except Diverged as exc:  # the last good weights are kept, as for a cancel
        status, error = "diverged", exc
        trainer.restore_best()
        log(f"diverged: {exc}" + ("; keeping the best weights so far" if trainer.best_state is not None else ""))
    except (Cancelled, KeyboardInterrupt) as exc:  # the user stopped it (Ctrl-C, SIGTERM): what is finished is kept
        status, interrupted = "cancelled", exc if isinstance(exc, KeyboardInterrupt) else None
        trainer.restore_best()
        log("cancelled: keeping the history and the best weights so far")
    except BaseException as exc:
        status, error = "failed", exc
    metrics = None
    with _interrupts_deferred() as deferred:
        try:
            metrics = write_results(run, trainer, data, status, error, device, started, parameters, log)
        except Exception as exc:  # e.g. a full disk: a run whose files are not all there is failed, never completed
            reason = f"{type(exc).__name__}: {exc}"
            log(f"failed while writing the run: {reason}")
            if status != "failed":
                error = MissingResource(f"Run {run.run_id} could not be written ({reason}); it is marked failed. "
                                        "Free some space or set GOEMO_HOME to a folder you can write to.")
            status, metrics = "failed", None
            with contextlib.suppress(Exception):
                run.write_json("info.json", {**run.info, "error": reason})
        finally:
            with contextlib.suppress(OSError):  # else the run stays 'running' until its dead owner is noticed
                run.set_status(status)
            if status != "cancelled":  # only a stopped run goes on later; the others need the space no more
                with contextlib.suppress(OSError):
                    remove_checkpoint(run)
    mirror.finish()
    if interrupted is not None:
        raise interrupted
    if error is not None and status != "diverged":
        raise error
    if deferred:  # Ctrl-C or SIGTERM while the finished run was being written: it is complete, then the process stops
        raise Terminated() if signal.SIGTERM in deferred else KeyboardInterrupt()
    return RunResult(run, trainer.history, trainer.best_epoch, metrics, status)


def resumed_state(run: Run, data_key: str) -> dict:
    """The checkpoint `run` goes on from, refused (with why) when there is none or the data changed since."""
    state = load_checkpoint(run)
    if state is None:
        raise MissingResource(f"Run {run.run_id} has no checkpoint to resume from: train it again.")
    if run.config.get("train_fingerprint") != data_key:
        raise InvalidConfig(f"Run {run.run_id} was trained on other data than what its config selects now: "
                            "train it again.")
    return state


def labelled(train: EncodedSplit) -> torch.Tensor:
    """The labels of the train examples that have one of their own (not the transfer variants)."""
    return train.labels if train.hard is None else train.labels[train.hard > 0]


def write_results(run: Run, trainer: Trainer, data: PreparedData, status: str, error: BaseException | None,
                  device: str, started: float, parameters: int, log: Callable[[str], None]) -> dict | None:
    """History, best weights, test metrics, cost and info, each written atomically, then read back through the
    run's schemas: an exception here means the run is not whole. Returns the test metrics (None without weights)."""
    metrics = None
    run.write_history(trainer.history)
    if trainer.best_state is not None and status != "failed":
        state = trainer.model.state_dict()
        if not all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point()):
            raise Diverged("the best weights hold non-finite values; nothing was saved")
        run.save_weights(state)
        metrics = finish_test_metrics(run, trainer, data)
        metrics["cost"] = measured_cost(run, data, device, trainer, time.perf_counter() - started, log)
        run.write_json("metrics.json", metrics)
    run.write_json("info.json", {"best_epoch": trainer.best_epoch, "seconds": time.perf_counter() - started,
                                 "parameters": parameters, "epochs_run": len(trainer.history),
                                 "precision": trainer.precision, "notes": trainer.notes,
                                 "error": None if error is None else f"{type(error).__name__}: {error}"})
    verify_written(run, trainer.model.state_dict() if metrics is not None else None, trainer.task.num_labels)
    return metrics


def verify_written(run: Run, state: dict | None, num_labels: int) -> None:
    """Read what was written back: every file through its schema, the weights' header against the model's
    tensors, the probabilities' shapes. Raises OSError naming what does not match."""
    run.refresh()
    if run.problem:
        raise OSError(f"the run folder does not read back: {run.problem}")
    if state is None:
        return
    try:
        shapes = tensor_shapes(run.weights_path)
        probabilities = tensor_shapes(run.probabilities_path)
    except Unreadable as exc:
        raise OSError(f"a written file does not read back: {exc}") from None
    if shapes != {name: tuple(tensor.shape) for name, tensor in state.items()}:
        raise OSError("model.safetensors does not hold the model's tensors")
    if any(len(shape) != 2 or shape[1] != num_labels for shape in probabilities.values()):
        raise OSError(f"probabilities.safetensors does not hold [examples, {num_labels}] probabilities")


def measured_cost(run: Run, data: PreparedData, device: str, trainer: Trainer, seconds: float,
                  log: Callable[[str], None]) -> dict:
    """The run's inference cost and size (see goemo_core.serving.cost); a failed measurement is noted, never fatal."""
    log("measuring inference speed")
    try:
        return run_cost(run, data.test_texts, device, count_parameters(trainer.model),
                        count_parameters(trainer.model, trainable_only=True), seconds)
    except Exception as exc:  # a measurement, not the result: the run stays completed without it
        log(f"could not measure the inference speed ({type(exc).__name__}: {exc})")
        return {"error": f"{type(exc).__name__}: {exc}"}


@contextlib.contextmanager
def _interrupts_deferred():
    """Ctrl-C (and SIGTERM, where the CLI raises on it) is held back while a run's weights, metrics and status are
    written (a run cut off there would be 'completed' without metrics, or 'cancelled' without its weights). Yields a
    list that records a held-back signal. Only where the signal raises (Python's Ctrl-C handler, the CLI's SIGTERM
    handler or a job worker's, marked `raises_terminated`, in the main thread) does anything change: a worker that
    ignores SIGINT keeps ignoring it."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    raising = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: raise_terminated}
    held = [number for number, handler in raising.items()
            if signal.getsignal(number) is handler or getattr(signal.getsignal(number), "raises_terminated", False)]
    previous = {number: signal.signal(number, lambda signum, frame: received.append(signum)) for number in held}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def finish_test_metrics(run: Run, trainer: Trainer, data: PreparedData) -> dict:
    """Evaluate the restored best weights on the test split; write metrics.json (with the decision rule), the
    per-example predictions and the validation and test probabilities (what ensembles are made of). A multi-label
    run's per-label thresholds, when tuned, are chosen from the validation probabilities before test is read."""
    task = trainer.task
    split_probabilities = {name: task_probabilities(task, trainer.predict_logits(split)).cpu()
                           for name, split in (("validation", data.validation), ("test", data.test))}
    run.save_probabilities(split_probabilities)
    thresholds = decision_thresholds(trainer.config, split_probabilities["validation"].numpy(),
                                     data.validation.labels.numpy())
    probabilities = split_probabilities["test"].numpy()
    truth = data.test.labels.numpy()
    metrics = task_metrics(task, truth, probabilities, thresholds)
    metrics.update({"split": "test", "task": task.name, "examples": int(len(truth)), "best_epoch": trainer.best_epoch,
                    "decision": decision_rule(task, thresholds, trainer.config.tune_thresholds),
                    "validation": validation_headline(task, data.validation.labels.numpy(),
                                                      split_probabilities["validation"].numpy(), thresholds,
                                                      trainer.config.threshold)})
    if not task.multi_label:  # the baseline a model must beat (see results.choice.degenerate)
        metrics["validation"]["majority"] = majority_answer(data.validation.labels.numpy(), task.labels)
    run.write_json("metrics.json", metrics)
    run.save_test_predictions(data.test_ids, data.test_texts, truth, probabilities, task.labels, thresholds)
    try:  # derived from the files above: when it cannot be written now, it is computed on first request
        write_calibration(run, {"task": task.name, **calibration_report(
            split_probabilities["validation"].numpy(), data.validation.labels.numpy(), probabilities, truth,
            task.labels, task.multi_label, thresholds)})
    except (OSError, ValueError):
        pass
    return metrics


def majority_answer(targets: np.ndarray, labels: Sequence[str]) -> dict:
    """The most common class among single-label `targets` and the accuracy (%) of always answering it."""
    counts = np.bincount(np.asarray(targets, dtype=int), minlength=len(labels))
    return {"label": labels[int(counts.argmax())],
            "accuracy": float(100.0 * counts.max() / max(1, counts.sum()))}


def decision_thresholds(config: TrainConfig, validation_probabilities: np.ndarray,
                        validation_targets: np.ndarray) -> list[float] | None:
    """None for a single-label task (argmax); else the fixed threshold per label, or thresholds tuned on the
    validation split (the only split this sees)."""
    task = get_task(config.task)
    if not task.multi_label:
        return None
    if config.tune_thresholds:
        return tune_thresholds(validation_probabilities, validation_targets, default=config.threshold)
    return [config.threshold] * task.num_labels
