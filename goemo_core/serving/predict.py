"""Load a trained run and classify texts: probabilities over its task's labels (a softmax over the classes, or a
probability per label for a multi-label task, with the labels at or over the run's thresholds), with notes on odd
input."""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import torch

from ..data.tasks import Task, get_task
from ..data.text import DEFAULT_MAX_LENGTH, UNK, TextEncoder, without_length_settings
from ..errors import InvalidConfig, MissingResource
from ..models import get_architecture, resolve_params
from ..models.common import EmbeddingInit
from ..runs.folder import Run
from ..evaluation.thresholds import fixed_threshold
from ..runs.schemas import Unreadable, is_number
from ..runs.tensor_files import tensor_shapes
from ..runs.store import RunStore
from .inference import predict_logits, predict_probabilities

MAX_CHARS = 5000  # far more than max_length tokens ever need; keeps huge inputs cheap
MAX_TEXTS = 20_000  # texts per predict call: as many as a batch file on the Classify page
PREDICT_BATCH_SIZE = 256


def clean_text(text: object) -> str:
    """Any input as valid text: bytes decoded leniently, lone surrogates and NULs replaced, length capped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = str(text).encode("utf-8", errors="replace").decode("utf-8")
    return text.replace("\x00", " ")[:MAX_CHARS]


class Predictor:
    """A run's model in eval mode with its own tokenizer. Thread-safe; the Classify page caches one per run."""

    def __init__(self, run: Run, device: str = "cpu"):
        from tokenizers import Tokenizer

        if run.problem:  # a damaged config would otherwise surface as an unknown architecture or a bad shape
            raise MissingResource(f"Run {run.run_id} cannot be loaded: {run.problem}. Delete it "
                                  f"(`python -m goemo_core runs delete {run.run_id}`) or train it again.")
        missing = run.missing_files()
        if missing:
            raise MissingResource(f"Run {run.run_id} cannot be loaded: {', '.join(missing)} missing "
                                  f"(status: {run.status}). Train it again or pick another run.")
        self.run, self.device, config = run, device, run.config
        self.task, self.thresholds = run_decision(run)
        try:
            self.tokenizer = without_length_settings(Tokenizer.from_file(str(run.tokenizer_path)))
        except Exception as exc:
            raise MissingResource(f"Run {run.run_id}: tokenizer.json is unreadable ({type(exc).__name__}).") from None
        self.max_length = config.get("max_length") or DEFAULT_MAX_LENGTH
        try:
            shapes = tensor_shapes(run.weights_path)
        except Unreadable as exc:
            raise MissingResource(f"Run {run.run_id}: the weights file is corrupt ({exc}). Delete the run and train "
                                  "it again.") from None
        vocab = config.get("vocab_size") or self.tokenizer.get_vocab_size()
        if self.tokenizer.get_vocab_size() > vocab:
            raise MissingResource(f"Run {run.run_id}: tokenizer.json has {self.tokenizer.get_vocab_size():,} tokens, "
                                  f"more than the model's vocabulary of {vocab:,}. Train it again.")
        try:
            spec = get_architecture(config["arch"])
            params = spec.run_params(resolve_params(spec, config.get("params") or {}), device, self.max_length)

            def build() -> torch.nn.Module:
                init, width = None, config.get("embedding_init_dim")
                if width:  # same shapes as in training; the weights come from the file
                    init = EmbeddingInit(torch.zeros(vocab, width), str(config.get("pretrained")))
                return spec.build(params, vocab, config.get("pad_id") or 0, self.task.num_labels, init)

            check_shapes(run, build, shapes)
            self.model = build()
        except (InvalidConfig, TypeError, ValueError, KeyError) as exc:  # settings this code cannot build
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise MissingResource(f"Run {run.run_id}: config.json describes a model this version cannot build "
                                  f"({reason}). Train it again.") from None
        weights = run.load_weights()
        if not all(bool(torch.isfinite(t).all()) for t in weights.values() if t.is_floating_point()):
            raise MissingResource(f"Run {run.run_id}: model.safetensors holds non-finite weights (NaN or Inf); its "
                                  "predictions would mean nothing. Delete the run and train it again.")
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as exc:
            raise MissingResource(f"Run {run.run_id}: the saved weights do not match its config "
                                  f"({str(exc).splitlines()[0][:160]}).") from None
        self.model.to(device).eval()
        self._lock = threading.Lock()
        self._unk = self.tokenizer.token_to_id(UNK)
        self.encoder = TextEncoder(self.tokenizer, self.max_length)

    @classmethod
    def from_run_id(cls, run_id: str, store: RunStore | None = None, device: str = "cpu") -> "Predictor":
        return cls((store or RunStore()).get(run_id), device)

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """Probabilities [N, C] (float64) of cleaned, non-empty texts, in batches of 256: rows sum to 1 for a
        single-label task; a multi-label task's are one sigmoid per label."""
        ids, lengths = self.encoder(list(texts))
        with self._lock:
            if self.task.multi_label:
                return torch.sigmoid(predict_logits(self.model, ids, lengths, PREDICT_BATCH_SIZE)).cpu().double()
            probs = predict_probabilities(self.model, ids, lengths, PREDICT_BATCH_SIZE).double()
        return probs / probs.sum(-1, keepdim=True)

    def predict(self, texts: Sequence[object]) -> list[dict]:
        return describe_predictions(self, texts)


def check_shapes(run: Run, build: Callable[[], torch.nn.Module], shapes: dict[str, tuple[int, ...]]) -> None:
    """The model that config.json describes, built on the meta device (nothing is allocated), must have exactly
    the weights file's tensors: sizes in a damaged config never reach a real allocation. An architecture that
    cannot be built on the meta device is checked by its token embedding's size alone."""
    try:
        with torch.device("meta"):
            expected = {name: tuple(t.shape) for name, t in build().state_dict().items()}
    except (InvalidConfig, TypeError, ValueError, KeyError):
        raise
    except Exception:  # e.g. a pretrained encoder read from disk: its own loader bounds it
        return
    if expected == shapes:
        return
    differing = sorted(set(expected) ^ set(shapes)) or [n for n in expected if expected[n] != shapes[n]]
    name = differing[0]
    raise MissingResource(f"Run {run.run_id}: config.json does not describe the saved weights ({name[:80]}: "
                          f"config {expected.get(name, 'none')}, file {shapes.get(name, 'none')}). Delete the run "
                          "and train it again.")


class EnsemblePredictor:
    """An ensemble run: the mean of its members' class probabilities (each member reads the text with its own
    tokenizer). Notes on odd input come from the first member."""

    def __init__(self, run: Run, device: str = "cpu"):
        self.run, self.device = run, device
        self.members = [load_predictor(member, device) for member in RunStore(run.path.parent).members(run)]
        first = self.members[0]
        self.tokenizer, self.max_length, self._unk = first.tokenizer, first.max_length, first._unk
        self.task, self.thresholds = run_decision(run)

    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.stack([member.probabilities(texts) for member in self.members]).mean(0)

    def predict(self, texts: Sequence[object]) -> list[dict]:
        return describe_predictions(self, texts)


def run_decision(run: Run) -> tuple[Task, list[float] | None]:
    """A run's task and thresholds: those its metrics.json recorded (tuned or fixed), else its config's threshold
    for every label; None for a single-label task (the most probable class)."""
    task = get_task(run.config.get("task"))
    if not task.multi_label:
        return task, None
    decision = (run.metrics or {}).get("decision")
    recorded = decision.get("thresholds") if isinstance(decision, dict) else None
    recorded = recorded if isinstance(recorded, dict) else {}
    default = fixed_threshold(run.config)
    return task, [float(value) if is_number(value := recorded.get(name)) and 0 < value < 1 else default
                  for name in task.labels]


def load_predictor(run: Run, device: str = "cpu") -> Predictor | EnsemblePredictor:
    """The predictor of any run: a trained model, or an ensemble of runs."""
    return EnsemblePredictor(run, device) if run.is_ensemble else Predictor(run, device)


def describe_predictions(predictor: Predictor | EnsemblePredictor, texts: Sequence[object]) -> list[dict]:
    """One dict per text: text, label (the most probable), probabilities {class: p} (sum 1 for a single-label task),
    tokens, and a `note` when the input was empty, truncated, or mostly unknown to the vocabulary. A multi-label run
    adds `labels`, every label at or over its threshold (most probable first). An empty text gets the probabilities
    `probabilities()` gives it (the model's answer to no words) but label None: there is nothing to classify."""
    cleaned = [clean_text(t) for t in texts]
    results: list[dict] = [{"text": t, "label": None, "probabilities": None, "note": None} for t in cleaned]
    if not cleaned:
        return results
    full = predictor.tokenizer.encode_batch(cleaned, add_special_tokens=False)
    probs = predictor.probabilities(cleaned)
    names = predictor.task.labels
    for i, text in enumerate(cleaned):
        p = probs[i].tolist()
        results[i].update({"probabilities": dict(zip(names, p)), "tokens": len(full[i].ids)})
        if not text.strip():
            results[i]["note"] = "empty text: nothing to classify"
            continue
        tokens = full[i].ids
        if len(tokens) > predictor.max_length or len(str(texts[i])) > MAX_CHARS:
            results[i]["note"] = f"long text: only the first {predictor.max_length} tokens were read"
        elif tokens and predictor._unk is not None and sum(t == predictor._unk for t in tokens) / len(tokens) > 0.5:
            results[i]["note"] = "most words are unknown to this model's vocabulary (emoji or non-English?): low " \
                                 "confidence"
        results[i]["label"] = names[max(range(len(names)), key=p.__getitem__)]
        if predictor.thresholds is not None:
            over = [k for k in range(len(names)) if p[k] >= predictor.thresholds[k]]
            results[i]["labels"] = [names[k] for k in sorted(over, key=lambda k: -p[k])]
    return results


def predict_texts(run_id: str, texts: Sequence[str], store: RunStore | None = None) -> list[dict]:
    if not texts:
        raise InvalidConfig("text: give at least one text to classify.")
    if len(texts) > MAX_TEXTS:
        raise InvalidConfig(f"text: at most {MAX_TEXTS:,} texts per call (got {len(texts):,}); split the input.")
    return load_predictor((store or RunStore()).get(run_id)).predict(texts)
