"""Why did a run predict what it did? Integrated Gradients over the input embeddings (Captum's
LayerIntegratedGradients on the token embedding table; for the fine-tuned encoder, its word embeddings).

The attributed output is the class's probability (softmax, or the label's sigmoid on a multi-label task). The
baseline is the padding embedding at every position of the text, the special tokens an encoder's tokenizer adds
([CLS], [SEP]) left as they are: so by completeness the token attributions sum to p(class | text) − p(class |
baseline), up to Captum's convergence delta, reported with every explanation. Word pieces are joined back into the
words of the text (their attributions summed), by the tokenizer's own word ids and character offsets.

Where the padding embedding is the zero vector (embeddings learnt from scratch: the padding row of the table stays
zero) and the architecture normalises its inputs (RWKV, xLSTM: LayerNorm first), the baseline is a singular point
of the model (LayerNorm of zero): the integral does not converge, the delta says so and the explanation carries a
note. Runs whose embeddings start from GOEMO_PRETRAINED have a non-zero padding embedding.

The deletion check (`deletion_check`) asks whether the attributions point at what the model uses: on validation
texts, removing each text's k most attributed tokens should lower the predicted class's probability more than
removing k tokens drawn at random."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InvalidConfig
from ..models.common import TokenEmbedding
from ..runs.folder import Run
from .inference import model_lengths
from .predict import EnsemblePredictor, Predictor, clean_text, load_predictor

DEFAULT_STEPS = 50  # Captum's default; the convergence delta says whether it was enough
DELTA_TOLERANCE = 0.01  # of probability: attributions that add up to within this are called converged
INTERNAL_BATCH = 512  # interpolated inputs per forward pass
METHOD = ("integrated gradients over the input embeddings (Captum LayerIntegratedGradients, Gauss-Legendre "
          "steps); baseline: the padding embedding at every non-special position")


def embedding_layer(model: nn.Module) -> nn.Module:
    """The module whose output is the input embeddings: the token table of the recurrent models (before any
    projection of pretrained vectors), the word embeddings of a fine-tuned encoder."""
    embedding = getattr(model, "embedding", None)
    if isinstance(embedding, TokenEmbedding):
        return embedding.table
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "get_input_embeddings"):
        return encoder.get_input_embeddings()
    raise InvalidConfig(f"{type(model).__name__} has no input embedding layer to attribute to.")


def explainable(predictor: Predictor | EnsemblePredictor) -> Predictor:
    """Explanations need one model's gradients: an ensemble's members are explained one by one."""
    if isinstance(predictor, EnsemblePredictor):
        members = ", ".join(member.run.run_id for member in predictor.members)
        raise InvalidConfig(f"run {predictor.run.run_id} is an ensemble: explain one of its members ({members}).")
    return predictor


def resolve_class(predictor: Predictor, name: str | None) -> int | None:
    """The index of a class named by the user (any case); None for the predicted class."""
    if name is None or not str(name).strip():
        return None
    labels = predictor.task.labels
    lowered = [label.lower() for label in labels]
    if str(name).strip().lower() not in lowered:
        raise InvalidConfig(f"--class: '{name}' is not a label of task {predictor.task.name} "
                            f"({', '.join(labels)}).")
    return lowered.index(str(name).strip().lower())


def encode(predictor: Predictor, texts: Sequence[str]) -> list:
    """Each text's encoding as the model reads it (truncated to its max_length): ids, offsets, word ids and the
    special-token mask."""
    return predictor.encoder.worker.encode_batch([str(text) for text in texts])


def batch_of(predictor: Predictor, encodings: Sequence) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids [B, L], true lengths [B] and the baseline ids: padding everywhere but the special tokens."""
    pad = predictor.encoder.pad
    width = max(max(len(e.ids) for e in encodings), 1)
    ids = torch.full((len(encodings), width), pad, dtype=torch.int64)
    baseline = ids.clone()
    lengths = torch.ones(len(encodings), dtype=torch.int64)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n] = torch.tensor(e.ids, dtype=torch.int64)
        special = torch.tensor(e.special_tokens_mask, dtype=torch.bool)
        baseline[row, :n] = torch.where(special, ids[row, :n], torch.full((n,), pad, dtype=torch.int64))
        lengths[row] = max(n, 1)
    return ids, lengths, baseline


def class_probabilities(model: nn.Module, multi_label: bool, ids: torch.Tensor,
                        lengths: torch.Tensor) -> torch.Tensor:
    """Probabilities [B, C] of a batch as a run reads it (softmax, or a sigmoid per label)."""
    logits = model(ids, lengths)
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, -1)


@contextlib.contextmanager
def _gradients_allowed(device: torch.device):
    """Gradients in eval mode: cuDNN's recurrent kernels refuse a backward pass outside training mode, so they are
    switched off there (the same weights run through PyTorch's own kernels)."""
    with torch.enable_grad():
        if device.type != "cuda":
            yield
            return
        with torch.backends.cudnn.flags(enabled=False):
            yield


def attribute(model: nn.Module, multi_label: bool, ids: torch.Tensor, lengths: torch.Tensor,
              baseline: torch.Tensor, targets: torch.Tensor, steps: int = DEFAULT_STEPS,
              lock: AbstractContextManager | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token attributions [B, L] (summed over the embedding width) of each row's target class probability, and
    Captum's convergence deltas [B] (Σ attributions − (f(x) − f(baseline))). `lock` guards a shared model: the
    layer hook must not see another caller's forward pass."""
    from captum.attr import LayerIntegratedGradients

    device = next(model.parameters()).device

    def forward(batch_ids: torch.Tensor, batch_lengths: torch.Tensor) -> torch.Tensor:
        return class_probabilities(model, multi_label, batch_ids, batch_lengths)

    method = LayerIntegratedGradients(forward, embedding_layer(model))
    with lock or contextlib.nullcontext(), _gradients_allowed(device):
        attributions, delta = method.attribute(
            ids.to(device), baselines=baseline.to(device), target=targets.to(device),
            additional_forward_args=(model_lengths(model, lengths),), n_steps=steps,
            internal_batch_size=max(INTERNAL_BATCH, 2 * len(ids)), return_convergence_delta=True)
    return attributions.sum(-1).detach().double().cpu().numpy(), delta.detach().double().cpu().numpy()


def attribute_with(predictor: Predictor, ids: torch.Tensor, lengths: torch.Tensor, baseline: torch.Tensor,
                   targets: torch.Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    return attribute(predictor.model, predictor.task.multi_label, ids, lengths, baseline, targets, steps,
                     predictor._lock)


@torch.no_grad()
def probabilities_of(predictor: Predictor, ids: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
    model = predictor.model
    device = next(model.parameters()).device
    with predictor._lock:
        return class_probabilities(model, predictor.task.multi_label, ids.to(device), model_lengths(model, lengths)) \
            .double().cpu().numpy()


def words_of(text: str, encoding, attributions: Sequence[float]) -> list[dict]:
    """Word pieces joined back into the text's words: each word's text (from the tokenizer's character offsets),
    its span, its summed attribution and how many pieces it had. Special tokens belong to no word."""
    words: list[dict] = []
    current = None
    for position, word_id in enumerate(encoding.word_ids):
        if word_id is None or encoding.special_tokens_mask[position]:
            current = None
            continue
        start, end = encoding.offsets[position]
        if current is not None and current["_id"] == word_id:
            current["end"] = max(current["end"], end)
            current["attribution"] += float(attributions[position])
            current["tokens"] += 1
            continue
        current = {"_id": word_id, "start": start, "end": end, "attribution": float(attributions[position]),
                   "tokens": 1}
        words.append(current)
    return [{"word": text[w["start"]:w["end"]], "start": w["start"], "end": w["end"],
             "attribution": w["attribution"], "tokens": w["tokens"]} for w in words]


def explain(predictor: Predictor | EnsemblePredictor, text: str, class_name: str | None = None,
            steps: int = DEFAULT_STEPS) -> dict:
    """Per-token and per-word attributions of one text for the predicted class (or `class_name`), with the
    probabilities at the text and at the baseline and Captum's convergence delta."""
    predictor = explainable(predictor)
    text = clean_text(text)
    if not text.strip():
        raise InvalidConfig("text: the text is empty; give a sentence to explain.")
    if not 1 <= int(steps) <= 1000:
        raise InvalidConfig(f"--steps: {steps} is outside 1..1000.")
    chosen = resolve_class(predictor, class_name)
    (encoding,) = encode(predictor, [text])
    ids, lengths, baseline = batch_of(predictor, [encoding])
    probabilities = probabilities_of(predictor, ids, lengths)[0]
    at_baseline = probabilities_of(predictor, baseline, lengths)[0]
    predicted = int(probabilities.argmax())
    target = predicted if chosen is None else chosen
    attributions, delta = attribute_with(predictor, ids, lengths, baseline, torch.tensor([target]), steps)
    labels = predictor.task.labels
    full = predictor.tokenizer.encode(text, add_special_tokens=False)
    notes = []
    if len(full.ids) > len([m for m in encoding.special_tokens_mask if not m]):
        notes.append(f"long text: only the first {predictor.max_length} tokens were read, and explained")
    converged = abs(float(delta[0])) <= DELTA_TOLERANCE
    if not converged:
        notes.append(convergence_note(predictor, float(delta[0]), steps))
    tokens = [{"token": token, "attribution": float(attributions[0, i]), "special": bool(special)}
              for i, (token, special) in enumerate(zip(encoding.tokens, encoding.special_tokens_mask))]
    return {"run_id": predictor.run.run_id, "arch": predictor.run.config.get("arch"), "task": predictor.task.name,
            "text": text, "class": labels[target], "predicted": labels[predicted],
            "probability": float(probabilities[target]), "baseline_probability": float(at_baseline[target]),
            "probabilities": {name: float(p) for name, p in zip(labels, probabilities)},
            "attribution_sum": float(attributions[0].sum()), "convergence_delta": float(delta[0]),
            "converged": converged, "steps": int(steps), "method": METHOD, "tokens": tokens,
            "words": words_of(text, encoding, attributions[0]), "note": "; ".join(notes) or None}


def zero_padding_embedding(predictor: Predictor) -> bool:
    layer = embedding_layer(predictor.model)
    weight = getattr(layer, "weight", None)
    pad = predictor.encoder.pad
    return weight is not None and pad < weight.shape[0] and not bool(weight[pad].detach().any())


def convergence_note(predictor: Predictor, delta: float, steps: int) -> str:
    """Why the attributions do not add up to the change in probability."""
    if zero_padding_embedding(predictor):
        return (f"the attributions do not add up (convergence delta {delta:+.3f}): the baseline, the padding "
                "embedding, is the zero vector (embeddings learnt from scratch), a singular point of a model that "
                "normalises its inputs; a run initialised from GOEMO_PRETRAINED has a non-zero one")
    return f"the attributions do not add up (convergence delta {delta:+.3f} after {steps} steps): try more --steps"


def explain_run(run: Run, text: str, class_name: str | None = None, steps: int = DEFAULT_STEPS) -> dict:
    """`explain` with the run's predictor loaded."""
    return explain(load_predictor(run), text, class_name, steps)


# --- the deletion check -----------------------------------------------------------------------------------------


def without_positions(ids: Sequence[int], removed: set[int]) -> list[int]:
    return [token for position, token in enumerate(ids) if position not in removed]


def deletion_check(predictor: Predictor | EnsemblePredictor, texts: Sequence[str], k: int = 3,
                   random_draws: int = 5, seed: int = 0, steps: int = DEFAULT_STEPS, batch_size: int = 16,
                   limit: int | None = None) -> dict:
    """Do the attributions point at what the model uses? For each text with more than k real tokens (the first
    `limit` of them): the predicted class's probability, then again with the k most attributed tokens removed, and
    with k tokens drawn at random removed (the mean over `random_draws` seeded draws). Special tokens are never
    removed."""
    predictor = explainable(predictor)
    if k < 1 or random_draws < 1:
        raise InvalidConfig("deletion check: k and the random draws must be at least 1.")
    rng = np.random.default_rng(seed)
    rows, deltas = [], []
    usable, skipped = [], 0
    for encoding in encode(predictor, [clean_text(t) for t in texts]):
        if limit is not None and len(usable) >= limit:
            break
        if sum(1 for special in encoding.special_tokens_mask if not special) > k:
            usable.append(encoding)
        else:
            skipped += 1
    for start in range(0, len(usable), batch_size):
        chunk = usable[start:start + batch_size]
        ids, lengths, baseline = batch_of(predictor, chunk)
        probabilities = probabilities_of(predictor, ids, lengths)
        predicted = probabilities.argmax(-1)
        attributions, delta = attribute_with(predictor, ids, lengths, baseline, torch.as_tensor(predicted), steps)
        deltas += [float(abs(d)) for d in delta]
        variants, owners = [], []
        for row, encoding in enumerate(chunk):
            real = [i for i, special in enumerate(encoding.special_tokens_mask) if not special]
            ranked = sorted(real, key=lambda i: (-attributions[row, i], i))
            variants.append(without_positions(encoding.ids, set(ranked[:k])))
            owners.append((row, "top"))
            for _ in range(random_draws):
                variants.append(without_positions(encoding.ids, set(rng.choice(real, size=k, replace=False).tolist())))
                owners.append((row, "random"))
        after = _probabilities_of_ids(predictor, variants)
        for row in range(len(chunk)):
            c = int(predicted[row])
            top = [after[i, c] for i, (owner, kind) in enumerate(owners) if owner == row and kind == "top"]
            drawn = [after[i, c] for i, (owner, kind) in enumerate(owners) if owner == row and kind == "random"]
            rows.append((float(probabilities[row, c]), float(top[0]), float(np.mean(drawn))))
    if not rows:
        raise InvalidConfig(f"deletion check: none of the {len(texts)} texts has more than {k} tokens.")
    before, top, drawn = (np.array(column) for column in zip(*rows))
    drop_top, drop_random = before - top, before - drawn
    return {"run_id": predictor.run.run_id, "arch": predictor.run.config.get("arch"), "texts": len(rows),
            "skipped": skipped, "k": k, "random_draws": random_draws, "seed": seed, "steps": steps,
            "mean_probability": float(before.mean()), "mean_drop_top": float(drop_top.mean()),
            "mean_drop_random": float(drop_random.mean()),
            "top_drop_larger_share": float((drop_top > drop_random).mean()),
            "top_beats_random": bool(drop_top.mean() > drop_random.mean()),
            "mean_abs_delta": float(np.mean(deltas)), "max_abs_delta": float(np.max(deltas))}


def _probabilities_of_ids(predictor: Predictor, sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """Probabilities [N, C] of token id sequences (right-padded, each at least one token long)."""
    pad = predictor.encoder.pad
    width = max(max((len(s) for s in sequences), default=1), 1)
    ids = torch.full((len(sequences), width), pad, dtype=torch.int64)
    lengths = torch.ones(len(sequences), dtype=torch.int64)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(list(sequence), dtype=torch.int64)
        lengths[row] = max(len(sequence), 1)
    return probabilities_of(predictor, ids, lengths)


def deletion_check_run(run: Run, n_texts: int = 100, k: int = 3, random_draws: int = 5, seed: int = 0,
                       steps: int = DEFAULT_STEPS) -> dict:
    """The deletion check of a run on the first `n_texts` validation texts it was evaluated on that have more than k
    tokens (shorter ones are counted as skipped)."""
    from ..evaluation.stored import evaluation_examples

    if n_texts < 1:
        raise InvalidConfig(f"--deletion-check: {n_texts} texts; give at least 1.")
    validation = evaluation_examples(run.config)["validation"]
    texts = list(validation["text"][:2 * n_texts + 100])  # enough to find n_texts longer than k tokens
    return {**deletion_check(load_predictor(run), texts, k, random_draws, seed, steps, limit=n_texts),
            "split": "validation"}
