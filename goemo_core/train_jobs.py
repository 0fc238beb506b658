"""The 'train' background job: a TrainConfig dict in, a run directory out, progress streamed to the job."""

from __future__ import annotations

from .train import TrainConfig, train_run, validate


def run_train_job(config: dict, context) -> dict:
    cfg = TrainConfig(**config)
    validate(cfg)
    total = cfg.epochs

    def on_progress(epochs_done: float) -> None:
        context.progress(epochs_done / total, f"epoch {int(epochs_done) + 1} of {total}")

    def on_epoch(record: dict) -> None:
        context.add_history(record)
        context.progress(record["epoch"] / total,
                         f"epoch {record['epoch']} of {total} · {record['examples_per_s']:.0f} examples/s · "
                         f"val acc {record['val_accuracy']:.1f}%")

    result = train_run(cfg, on_epoch=on_epoch, cancel=context.cancel, on_progress=on_progress, log=context.log,
                       on_run_created=lambda run: context.set_run(run.run_id))
    test = result.metrics or {}
    return {"status": result.status, "run_id": result.run.run_id, "best_epoch": result.best_epoch,
            "test_accuracy": test.get("accuracy"), "test_macro_f1": test.get("macro_f1")}
