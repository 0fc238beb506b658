"""Benchmark results kept with the code: a finished grid's completed runs exported to one JSON file (per run its
resolved configuration, validation and test metrics, history and timings; for the file the machine, the package
versions and the data it ran on; never weights), and read back as read-only reference runs that every summary,
table and page treats like runs of its own ("measured on …"). The README's headline table is rendered from such
files, so prose and data cannot drift apart."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import MissingResource
from ..runs.atomic import write_atomic
from ..runs.folder import Run
from ..runs.schemas import EpochRecord, RunConfig, RunInfo, RunMetrics
from .recipes import readable, task_of

FORMAT = 1
MAX_FILE_BYTES = 64 * 2**20  # a results file holds metrics and histories, never weights
PACKAGES = ("torch", "transformers", "xlstm", "numpy", "scikit-learn", "optuna", "textattack")
# the run files a reference run carries besides its config and metrics: analysis results, read like the folder's
EXTRA_FILES = ("calibration.json",)


class RunRecord(BaseModel):
    """One completed run, as the results file keeps it."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    run_id: Annotated[str, Field(min_length=1, max_length=200)]
    config: dict[str, Any]
    metrics: dict[str, Any]
    info: dict[str, Any]
    history: list[dict[str, Any]]
    files: dict[str, Any] = {}


class ResultsFile(BaseModel):
    """results/<task>-<device>.json: what a benchmark measured, where, with which code and data."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    format: Literal[1]
    task: Annotated[str, Field(min_length=1, max_length=100)]
    created: str
    machine: dict[str, Any]
    packages: dict[str, str]
    code_version: str
    data: dict[str, Any]
    baseline: dict[str, Any] | None = None
    runs: list[RunRecord]


@dataclass
class ReferenceRun:
    """A run read from a results file: the read side of a run folder (config, metrics, info, history, status), so
    summaries and tables take it as they take runs of their own. It has no folder, weights or predictions."""

    run_id: str
    config: dict
    metrics: dict
    info: dict
    history: list[dict]
    files: dict = field(default_factory=dict)
    source: str = ""  # the results file it came from
    status: str = "completed"
    problem: None = None
    is_ensemble: bool = False
    reference: bool = True

    @property
    def display_name(self) -> str:
        return self.run_id

    def read_extra(self, name: str) -> Any:
        """An analysis file the run carried (e.g. calibration.json), or None."""
        return self.files.get(name)


def machine_description() -> dict:
    """The CPU (model, cores) and accelerator a benchmark ran on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": model, "cores": os.cpu_count(), "gpu": gpu, "system": platform.platform(terse=True),
            "python": platform.python_version()}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def exported_runs(runs: Sequence[Run], task: str) -> list[Run]:
    """What a results file keeps: completed full-data runs of `task` with test metrics, ensembles left out (they are
    made from runs, not trained)."""
    return [run for run in readable(runs)
            if run.status == "completed" and run.metrics and "accuracy" in run.metrics and not run.is_ensemble
            and task_of(run.config) == task and run.config.get("limit") is None]


def run_record(run: Run) -> dict:
    files = {}
    for name in EXTRA_FILES:
        path = run.path / name
        if path.is_file():
            try:
                files[name] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
    return {"run_id": run.run_id, "config": run.config, "metrics": run.metrics, "info": run.info,
            "history": run.history, "files": files}


def export_results(runs: Sequence[Run], task: str, baseline: dict | None = None) -> dict:
    """The results document of `runs` (see exported_runs), runs in a stable order so that exporting the same runs
    again gives the same file apart from `created`."""
    kept = sorted(exported_runs(runs, task), key=lambda r: (str(r.config.get("arch")), str(r.config.get("seed")),
                                                            r.run_id))
    if not kept:
        raise MissingResource(f"No completed full-data run of task {task} to export (see `runs list`).")
    commits = sorted({str(r.config.get("code_version") or "") for r in kept})
    data = {"source": sorted({str(r.config.get("data_source") or "") for r in kept}),
            "eval_fingerprint": sorted({str(r.config.get("eval_fingerprint") or "") for r in kept}),
            "train_fingerprint": sorted({str(r.config.get("train_fingerprint") or "") for r in kept})}
    return {"format": FORMAT, "task": task, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_description(), "packages": package_versions(), "code_version": ", ".join(commits),
            "data": data, "baseline": baseline, "runs": [run_record(r) for r in kept]}


def write_results(path: str | Path, document: dict) -> Path:
    """Writes `document` (checked against the schema first) as indented JSON, atomically."""
    ResultsFile.model_validate_json(json.dumps(document))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return path


def load_results(path: str | Path) -> ResultsFile:
    """A results file, checked against its schema and each run's files against the run-folder schemas; a file that
    does not fit is refused in one line."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MissingResource(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; not a results file.")
        document = ResultsFile.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise MissingResource(f"Cannot read the results file {path} ({exc.strerror or exc}).") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MissingResource(f"{path} is not a results file: {where}: {first['msg']}.") from None
    for record in document.runs:
        try:
            RunConfig.model_validate(record.config)
            RunMetrics.model_validate(record.metrics)
            RunInfo.model_validate(record.info)
            for epoch in record.history:
                EpochRecord.model_validate(epoch)
        except (ValidationError, ValueError) as exc:
            raise MissingResource(f"{path}: run {record.run_id} does not fit the run-folder schemas "
                                  f"({str(exc).splitlines()[0]}).") from None
    return document


def reference_runs(path: str | Path) -> list[ReferenceRun]:
    document = load_results(path)
    return [ReferenceRun(r.run_id, r.config, r.metrics, r.info, r.history, r.files, source=str(path))
            for r in document.runs]


def results_digest(path: str | Path) -> str:
    """A short checksum of a results file, shown beside the rows it gives ("measured on …, file abc123")."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def measured_on(document: ResultsFile) -> str:
    """Where a results file was measured, in words: 'AMD EPYC (2 cores), torch 2.13.0, 2026-12-06'."""
    machine = document.machine
    where = machine.get("gpu") or f"{machine.get('cpu', 'a CPU')} ({machine.get('cores')} cores)"
    return f"{where}, torch {document.packages.get('torch', '?')}, {document.created[:10]}"
