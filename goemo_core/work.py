"""The kinds of background work the JobManager runs, each a plain function `handler(config, context) -> dict`."""

from .augment import augment_job
from .train import train_job
from .tune import tune_job

HANDLERS = {"train": train_job, "augment": augment_job, "tune": tune_job}
