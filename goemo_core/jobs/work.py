"""The kinds of background work the JobManager runs, each a plain function `handler(config, context) -> dict` that
adapts one piece of the library (a training run, a study, an augmentation build, attacks on runs) to a job: its
progress, history, log lines and cancel flag travel through the JobContext. The library below never sees a
JobContext."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..attacks.attack import DEFAULT_THREADS, Progress, attack_runs
from ..attacks.sample import DEFAULT_N, DEFAULT_SEED
from ..augment.balance import AugmentSpec, build_augmented
from ..runs.folder import RunLabel
from ..runs.store import RunStore
from ..training.config import TrainConfig
from ..training.run import train_run
from ..training.trainer import EpochProgress
from ..tune.plan import TuneConfig
from ..tune.study import run_study
from .context import JobContext


@dataclass
class TrainJob:
    """What a training job trains (validated by make_config) and what the run will be called."""

    config: TrainConfig
    label: RunLabel = field(default_factory=RunLabel)
    resume: str | None = None  # a stopped run of this config, to go on from its checkpoint

    @property
    def device(self) -> str:
        return self.config.device


def train_job(job: TrainConfig | TrainJob, context: JobContext) -> dict:
    """The 'train' background job: a validated config in, a run directory out, progress streamed to the job."""
    job = job if isinstance(job, TrainJob) else TrainJob(job)
    cfg = job.config

    def on_progress(where: EpochProgress) -> None:
        eta = ""
        if where.examples_per_s > 0:
            left = (where.batches - where.batch) * cfg.batch_size / where.examples_per_s
            eta = f" · {left:.0f} s left in this epoch"
        context.progress(where.fraction, f"epoch {where.epoch} of {where.epochs} · batch {where.batch:,} of "
                                         f"{where.batches:,} · {where.examples_per_s:,.0f} examples/s{eta}")

    def on_epoch(record: dict) -> None:
        context.add_history(record)
        context.progress(record["epoch"] / cfg.epochs,
                         f"epoch {record['epoch']} of {cfg.epochs} · {record['examples_per_s']:.0f} examples/s · "
                         f"val acc {record['val_accuracy']:.1f}%", force=True)

    training: list[bool] = []

    def log(message: str) -> None:  # before the first batch, each step shows on the card
        context.log(message)
        if not training:
            context.progress(0.0, message, force=True)

    def on_first_progress(where: EpochProgress) -> None:
        if not training:
            training.append(True)
        on_progress(where)

    result = train_run(cfg, on_epoch=on_epoch, cancel=context.cancel, on_progress=on_first_progress, log=log,
                       on_run_created=lambda run: context.set_run(run.run_id), label=job.label,
                       resume=RunStore().get(job.resume) if job.resume else None)
    test = result.metrics or {}
    return {"status": result.status, "run_id": result.run.run_id, "best_epoch": result.best_epoch,
            "test_accuracy": test.get("accuracy"), "test_macro_f1": test.get("macro_f1")}


def tune_job(tune: TuneConfig, context: JobContext) -> dict:
    """The 'tune' background job: one history record per finished trial; cancel stops the study (the current
    trial ends at its next batch and is recorded as failed, marked cancelled)."""
    summary = run_study(tune, cancel=context.cancel, on_trial=context.add_history, progress=context.progress,
                        log=context.log)
    status = "cancelled" if context.cancelled() else "completed"
    return {"status": status, "study": summary["study"], "best_value": summary["best_value"],
            "best_params": summary["best_params"], "states": summary["states"], "n_trials": summary["n_trials"]}


def augment_job(config: dict | AugmentSpec, context: JobContext) -> dict:
    """The 'augment' background job: build (or reuse) a balanced augmented train split."""

    def progress(done: int, total: int, text: str) -> None:
        context.progress(done / total if total else 1.0, f"{text} · {done:,}/{total:,} texts added")

    context.progress(0.0, "loading data and TextAttack")
    return build_augmented(config, progress=progress, check_cancel=context.check_cancel, log=context.log)


@dataclass(frozen=True)
class AttackJob:
    """Runs to attack with TextAttack's recipes, all on the same seeded sample of test examples."""

    run_ids: tuple[str, ...]
    recipes: tuple[str, ...]
    n: int = DEFAULT_N
    seed: int = DEFAULT_SEED
    fresh: bool = False
    device: str = "cpu"


def attack_job(job: AttackJob, context: JobContext) -> dict:
    """The 'attack' background job: every run under every recipe in turn, progress per example; cancel stops
    between examples (the attacks finished before it are kept, the one under way writes nothing)."""

    current: list[str] = []

    def on_progress(where: Progress, pair: int, pairs: int) -> None:
        if current != [where.run_id]:  # the card names the run under attack
            current[:] = [where.run_id]
            context.set_run(where.run_id)
        context.progress((pair + where.done / where.total) / pairs, where.text() + f" · attack {pair + 1} of {pairs}")

    context.progress(0.0, "loading the data, the models and TextAttack", force=True)
    documents = attack_runs(job.run_ids, job.recipes, job.n, job.seed, job.device, job.fresh, log=context.log,
                            on_progress=on_progress, check_cancel=context.check_cancel, threads=DEFAULT_THREADS)
    under = {f"{d['run_id']} {d['recipe']}": d["figures"]["accuracy_under_attack"] for d in documents}
    return {"status": "completed", "attacks": len(documents), "examples": job.n,
            **({"accuracy_under_attack": next(iter(under.values()))} if len(under) == 1 else {}),
            "under_attack": under}


# ---------------------------------------------------------------------------------------------------------------
# Reading the cache


HANDLERS = {"train": train_job, "augment": augment_job, "tune": tune_job, "attack": attack_job}
