"""A run folder that travels (MLflow artifacts, `runs pull`): its files (TRAVELLING_FILES) with their sizes and
SHA-256 checksums in a manifest (goemo_run.json), and the checks a copy passes before it becomes a run folder here:
every file as the manifest says, every file through its schema, the safetensors headers against their sizes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from .folder import Run
from .schemas import STATUSES, Count, FileSchema, RunId, Text, Unreadable, parse_document, read_text
from .tensor_files import tensor_shapes

# The files that rebuild a run folder elsewhere (MLflow artifacts, `runs pull`), in the order they travel; the status
# travels in the manifest.
TRAVELLING_FILES = ("config.json", "metrics.json", "history.jsonl", "info.json", "label.json", "owner.json",
                    "test_predictions.csv", "probabilities.safetensors", "model.safetensors", "tokenizer.json")


class ManifestEntry(FileSchema):
    sha256: Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]
    bytes: Count


class RunManifest(FileSchema):
    """goemo_run.json, beside a run's files wherever they travel: the run, its status, where it was trained, and
    the size and SHA-256 of each file (only names of TRAVELLING_FILES: a manifest names no path of its own)."""

    format: Literal[1]
    run_id: RunId
    status: Literal[STATUSES]
    host: Text | None = None
    device: Text | None = None
    files: dict[Literal[TRAVELLING_FILES], ManifestEntry]


MANIFEST = "goemo_run.json"
CHUNK_BYTES = 1 << 20


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(run: Run) -> dict:
    """The manifest of a run folder as it is now: its travelling files that exist, the status, and where it was
    trained (host, device)."""
    files = {}
    for name in TRAVELLING_FILES:
        path = run.path / name
        if path.is_file():
            files[name] = {"sha256": file_digest(path), "bytes": path.stat().st_size}
    host, device = run.trained_on
    return {"format": 1, "run_id": run.run_id, "status": run.status, "host": host, "device": device, "files": files}


def parse_manifest(text: str) -> dict:
    """A manifest's JSON text through its schema; Unreadable says what does not fit."""
    return parse_document(MANIFEST, text, RunManifest)


def read_manifest(path: Path) -> dict:
    text = read_text(path)
    if text is None:
        raise Unreadable(f"{MANIFEST} is missing")
    return parse_manifest(text)


def differences(folder: Path, manifest: dict) -> list[str]:
    """The files of `folder` that are missing or differ (size, then checksum) from the manifest; [] when all match."""
    found = []
    for name, entry in manifest["files"].items():
        path = Path(folder) / name
        if not path.is_file():
            found.append(f"{name} is missing")
        elif path.stat().st_size != entry["bytes"]:
            found.append(f"{name} has {path.stat().st_size:,} bytes where the manifest says {entry['bytes']:,}")
        elif file_digest(path) != entry["sha256"]:
            found.append(f"{name}: its SHA-256 differs from the manifest's")
    return found


def check_copy(folder: Path, manifest: dict) -> Run:
    """The copy in `folder` (its status written from the manifest) as a Run, or Unreadable with the first reason it
    cannot become a run folder: a file that differs from the manifest, a file that does not fit its schema, a
    config that names another run, a damaged safetensors header."""
    problems = differences(folder, manifest)
    if problems:
        raise Unreadable(problems[0])
    if "config.json" not in manifest["files"]:
        raise Unreadable("the manifest lists no config.json")
    run = Run(manifest["run_id"], Path(folder))
    if run.problem:
        raise Unreadable(run.problem)
    if run.config.get("run_id") not in (None, manifest["run_id"]):
        raise Unreadable(f"config.json belongs to run {run.config['run_id']}, not {manifest['run_id']}")
    for name in ("model.safetensors", "probabilities.safetensors"):
        if name in manifest["files"]:
            tensor_shapes(Path(folder) / name)
    if run.status == "completed" and not run.is_ensemble and run.missing_files():
        raise Unreadable(f"a completed run needs {', '.join(run.missing_files())}")
    return run
