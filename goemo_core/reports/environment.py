"""Where a report was made and where its runs ran: package versions, the machine (CPU, GPU), the project's commit,
and the data fingerprints the runs recorded, so a reader can tell what the figures depend on."""

from __future__ import annotations

from typing import Sequence

from ..results.reference import PACKAGES, machine_description, package_versions
from ..runs.folder import Run

# Beyond what a results file records: what the report's own figures and pictures depend on.
REPORT_PACKAGES = (*PACKAGES, "pandas", "scipy", "tokenizers", "onnxruntime", "pydantic", "altair",
                   "vl-convert-python")


def packages() -> dict[str, str]:
    """The installed versions of the packages the figures depend on."""
    return package_versions(REPORT_PACKAGES)


def machine() -> dict[str, str]:
    """The machine making the report, and the project's version (with its git commit)."""
    from ..training.run import code_version

    described = machine_description()
    return {"project version (commit)": code_version(), "python": str(described["python"]),
            "platform": str(described["system"]), "CPU": str(described["cpu"]),
            "CPU cores": str(described["cores"] or "unknown"), "GPU": described["gpu"] or "none"}


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
