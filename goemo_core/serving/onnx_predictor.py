"""Serving a run from its ONNX export: the export's files, a predictor over ONNX Runtime (the same interface as
PyTorch's), and the rule that a file is served only while its card says it was verified and its checksum still
matches (`predict --onnx`, Classify)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..data.tasks import get_task
from ..data.text import DEFAULT_MAX_LENGTH, UNK, TextEncoder, without_length_settings
from ..errors import InvalidConfig, MissingResource
from ..runs.atomic import read_json
from ..runs.folder import Run
from ..runs.store import RunStore
from .predict import PREDICT_BATCH_SIZE, describe_predictions

PARITY_GOAL = 1e-4  # the largest probability difference an export may show against PyTorch to be served


EXPORT_FOLDER = "export"  # inside the run folder: the default place of an export


CARD_FORMAT = "goemo-onnx/1"


@dataclass(frozen=True)
class ExportFiles:
    """An export's three files: `<stem>.onnx`, `<stem>.tokenizer.json` and the card `<stem>.json`."""

    model: Path

    @classmethod
    def at(cls, path: str | Path) -> "ExportFiles":
        path = Path(path).expanduser()
        if path.suffix != ".onnx":
            raise InvalidConfig(f"--out: '{path}' must end in .onnx (the tokenizer and the card are written beside "
                                "it).")
        return cls(path.resolve())

    @classmethod
    def of_run(cls, run: Run) -> "ExportFiles":
        return cls(run.path / EXPORT_FOLDER / "model.onnx")

    @property
    def tokenizer(self) -> Path:
        return self.model.with_suffix(".tokenizer.json")

    @property
    def card(self) -> Path:
        return self.model.with_suffix(".json")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingResource("onnxruntime is not installed: `pip install -r requirements.txt`.") from None
    return onnxruntime


def onnx_session(path: Path):
    """An ONNX Runtime CPU session using as many threads as PyTorch does, so their costs compare."""
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: errors come back as exceptions, said in one line
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxPredictor:
    """An exported run classifying texts through ONNX Runtime, with the same interface (and the same notes on odd
    input) as the PyTorch Predictor. Thread-safe."""

    def __init__(self, files: ExportFiles, card: dict):
        from tokenizers import Tokenizer

        self.files, self.card = files, card
        self.task, self.thresholds = get_task(card.get("task")), None  # only single-label runs are exported
        self.tokenizer = without_length_settings(Tokenizer.from_file(str(files.tokenizer)))
        self.max_length = int(card.get("max_length") or DEFAULT_MAX_LENGTH)
        self.encoder = TextEncoder(self.tokenizer, self.max_length)
        self._unk = self.tokenizer.token_to_id(UNK)
        self.session = onnx_session(files.model)
        self._lock = threading.Lock()

    def run_graph(self, ids: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        with self._lock:
            return self.session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})[0]

    def probabilities(self, texts: Sequence[str], trim: bool = True) -> torch.Tensor:
        """Class probabilities [N, C] (float64, rows sum to 1) in batches of 256, each batch trimmed to its longest
        text (`trim=False`: padded to max_length, as a client that pads everything would feed it)."""
        ids, lengths = self.encoder(list(texts))
        out = []
        for start in range(0, len(lengths), PREDICT_BATCH_SIZE):
            batch_lengths = lengths[start:start + PREDICT_BATCH_SIZE]
            width = int(batch_lengths.max()) if trim else ids.shape[1]
            out.append(torch.from_numpy(self.run_graph(ids[start:start + PREDICT_BATCH_SIZE, :width],
                                                       batch_lengths)))
        probs = torch.cat(out).double() if out else torch.zeros((0, self.task.num_labels), dtype=torch.float64)
        return probs / probs.sum(-1, keepdim=True)

    def predict(self, texts: Sequence[object]) -> list[dict]:
        return describe_predictions(self, texts)


class OnnxEnsemblePredictor:
    """An ensemble run served from its members' exports: the mean of their probabilities."""

    def __init__(self, members: list[OnnxPredictor]):
        self.members = members
        first = members[0]
        self.tokenizer, self.max_length, self._unk = first.tokenizer, first.max_length, first._unk
        self.task, self.thresholds = first.task, None

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.stack([member.probabilities(texts) for member in self.members]).mean(0)

    def predict(self, texts: Sequence[object]) -> list[dict]:
        return describe_predictions(self, texts)


def verified_card(run: Run, check_digest: bool = True) -> tuple[ExportFiles, dict]:
    """The run's export (where cost.onnx says it was written, else the default place), refused unless its card
    says it was verified and the graph is the one that was verified (its checksum; without `check_digest`, its
    size only, for a cheap look)."""
    recorded = ((run.metrics or {}).get("cost") or {}).get("onnx") or {}
    hint = f"export it first: `python -m goemo_core export onnx --run {run.run_id}`"
    path = Path(str(recorded.get("file"))) if recorded.get("file") else ExportFiles.of_run(run).model
    files = ExportFiles(path.with_suffix(".onnx"))
    card = read_json(files.card, None)
    if not isinstance(card, dict):
        raise MissingResource(f"Run {run.run_id} has no ONNX export; {hint}.")
    if not card.get("verified"):
        raise MissingResource(f"Run {run.run_id}: its ONNX export did not pass verification; {hint}.")
    if "members" not in card and not (files.model.is_file() and files.model.stat().st_size == card.get("bytes") and (
            not check_digest or card.get("sha256") == file_digest(files.model))):
        raise MissingResource(f"Run {run.run_id}: its ONNX file changed since it was verified; {hint}.")
    return files, card


def load_onnx_predictor(run: Run) -> OnnxPredictor | OnnxEnsemblePredictor:
    """The predictor serving a run from its verified ONNX export (members' exports for an ensemble)."""
    require_onnxruntime()
    if run.is_ensemble:
        return OnnxEnsemblePredictor([load_onnx_predictor(member) for member in RunStore(run.path.parent).members(run)])
    files, card = verified_card(run)
    return OnnxPredictor(files, card)


def has_verified_export(run: Run) -> bool:
    """Whether `load_onnx_predictor` would serve this run (for offering the option)."""
    try:
        if run.is_ensemble:
            return all(has_verified_export(member) for member in RunStore(run.path.parent).members(run))
        verified_card(run, check_digest=False)
        return True
    except MissingResource:
        return False
