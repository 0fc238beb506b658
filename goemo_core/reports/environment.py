"""Where a report was made and where its runs ran: package versions, the machine (CPU, GPU), the project's commit,
and the data fingerprints the runs recorded, so a reader can tell what the figures depend on."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Sequence

from ..runs.folder import Run

# The packages the figures depend on (training, metrics, statistics, the drawing of this report).
PACKAGES = ("torch", "numpy", "pandas", "scikit-learn", "scipy", "transformers", "tokenizers", "xlstm", "optuna",
            "textattack", "onnxruntime", "pydantic", "altair", "vl-convert-python")


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str]:
    """Installed versions, read from the packages' metadata (nothing is imported); "not installed" otherwise."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def gpu_names() -> list[str]:
    """The GPUs torch sees (none on a CPU machine, or where torch cannot tell)."""
    try:
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not stop a report
        return []


def machine() -> dict[str, str]:
    """The machine making the report."""
    from ..training.run import code_version

    gpus = gpu_names()
    return {"project version (commit)": code_version(), "python": sys.version.split()[0],
            "platform": platform.platform(), "CPU": cpu_model(), "CPU cores": str(os.cpu_count() or "unknown"),
            "GPU": ", ".join(gpus) if gpus else "none"}


def run_origins(runs: Sequence[Run], labels: dict[str, str]) -> list[dict]:
    """Where each run ran and on which data, as its config recorded it."""
    rows = []
    for run in runs:
        config = run.config
        rows.append({"run": labels.get(run.run_id, run.run_id), "device": config.get("device_name")
                     or config.get("device") or "", "code version": config.get("code_version") or "",
                     "precision": run.info.get("precision") or "", "data source": config.get("data_source") or "",
                     "train data": config.get("train_fingerprint") or "",
                     "evaluation data": config.get("eval_fingerprint") or "", "created": config.get("created") or ""})
    return rows


def fingerprints_agree(runs: Sequence[Run]) -> bool:
    """Whether every run that recorded its evaluation data was evaluated on the same examples (limit included)."""
    by_limit: dict = {}
    for run in runs:
        fingerprint = run.config.get("eval_fingerprint")
        if fingerprint:
            by_limit.setdefault(run.config.get("limit"), set()).add(fingerprint)
    return all(len(found) == 1 for found in by_limit.values())
