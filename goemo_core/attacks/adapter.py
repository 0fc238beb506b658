"""TextAttack adapted to a run: its import made offline and quiet, a ModelWrapper around the run's predictor (the
run's tokenizer and length cap, length-sorted batches, no autograd), the recipe built by TextAttack itself with
WordNet's synonyms in a stable order, each example attacked under a seed of its own, and TextAttack's results
described as records (texts, labels, probabilities, queries, the changed words and where they are). TextAttack is
imported only here, and only when an attack is built: it takes seconds."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any, Callable, Iterator, Sequence

from ..augment.eda import (TEXTATTACK_LOCK, ensure_nltk_resources, keep_loggers, missing_nltk_resources,
                           no_nltk_downloads, seeded)
from ..errors import MissingResource
from ..serving.predict import clean_text
from .recipes import Recipe

# Texts per call of the model: the whole of a search step at once (TextAttack's default, 32, would split it into
# many small calls); the predictor batches them itself, sorted by length.
MODEL_BATCH = 1 << 14
RESULT_KINDS = {"SuccessfulAttackResult": "successful", "FailedAttackResult": "failed",
                "SkippedAttackResult": "skipped"}
_LOCK = TEXTATTACK_LOCK  # one lock for every TextAttack call: they draw from the global generators


def textattack_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("textattack")
    except PackageNotFoundError:
        return None


def load_textattack(recipe: Recipe) -> Any:
    """textattack.attack_recipes, imported once with NLTK pointed at NLTK_DATA, downloads refused and the other
    loggers left as they were; MissingResource when NLTK's data or TextAttack itself is missing."""
    missing = missing_nltk_resources()
    if missing:
        raise MissingResource(f"the {recipe.name} attack needs {' and '.join(missing)} from NLTK: set NLTK_DATA to a "
                              "folder holding corpora/wordnet.zip and corpora/stopwords/english (online: "
                              "`python -m nltk.downloader wordnet stopwords`).")
    ensure_nltk_resources()
    try:
        with _LOCK, keep_loggers(), no_nltk_downloads():
            from textattack import attack_recipes
    except ImportError as exc:
        raise MissingResource(f"TextAttack cannot be imported ({exc}): `pip install -r requirements.txt`.") from None
    return attack_recipes


def model_wrapper(predictor: Any) -> Any:
    """A textattack ModelWrapper over a run's predictor: float64 probabilities whose rows sum to 1 (TextAttack would
    apply a softmax to rows that miss 1 by more than 1e-6)."""
    from textattack.models.wrappers import ModelWrapper

    class RunModelWrapper(ModelWrapper):
        def __init__(self, predictor: Any):
            self.predictor = predictor
            self.model = getattr(predictor, "model", predictor)  # what TextAttack's compatibility check looks at

        def __call__(self, text_input_list: Sequence[str], **kwargs: Any) -> Any:
            import torch

            probabilities = self.predictor.probabilities([clean_text(text) for text in text_input_list])
            probabilities = torch.as_tensor(probabilities, dtype=torch.float64)  # e.g. ONNX Runtime's float32
            return probabilities / probabilities.sum(-1, keepdim=True)

    return RunModelWrapper(predictor)


def build_attack(recipe: Recipe, predictor: Any) -> Any:
    """TextAttack's own recipe over the run's predictor."""
    recipes = load_textattack(recipe)
    with _LOCK, keep_loggers(), no_nltk_downloads(), _quiet("textattack.shared.utils.install"):
        attack = getattr(recipes, recipe.textattack_class).build(model_wrapper(predictor))
    attack.goal_function.batch_size = MODEL_BATCH
    _stable_candidates(attack.transformation)
    return attack


def _stable_candidates(transformation: Any) -> None:
    """WordNet's synonyms reach TextAttack as a set turned into a list, in an order that changes with every process
    (string hashing); sorted, a tie between two candidates is broken the same way everywhere."""
    for part in getattr(transformation, "transformations", None) or [transformation]:
        method = getattr(part, "_get_replacement_words", None)
        if method is not None and type(part).__name__ == "WordSwapWordNet":
            part._get_replacement_words = lambda word, random=False, method=method: sorted(method(word, random))


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """TextAttack warns that it does not know our model class; the wrapper returns probabilities, which is all an
    untargeted classification goal needs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def example_seed(seed: int, recipe: str, example_id: str) -> int:
    """Each example's own seed: its result does not depend on which examples were attacked before it."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{recipe}/{example_id}".encode()).digest()[:4], "little")


def attack_text(attack: Any, text: str, label: int, seed: int) -> Any:
    """TextAttack's AttackResult for one text whose true class index is `label`."""
    with seeded(seed):
        return attack.attack(text, int(label))


def result_kind(result: Any) -> str:
    """successful, failed or skipped: TextAttack's result type."""
    return RESULT_KINDS[type(result).__name__]


def word_spans(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Where each of TextAttack's words sits in `text` (found left to right, case-insensitively, as TextAttack finds
    them); (-1, -1) for a word it cannot place."""
    lower, spans, position = text.lower(), [], 0
    for word in words:
        start = lower.find(word.lower(), position)
        if start < 0:
            spans.append((-1, -1))
            continue
        spans.append((start, start + len(word)))
        position = start + len(word)
    return spans


def describe_result(result: Any, example_id: str, classes: Sequence[str]) -> dict:
    """One record of the examples file: what TextAttack attacked and left, with the changed words' positions."""
    original, perturbed = result.original_result, result.perturbed_result
    before, after = original.attacked_text, perturbed.attacked_text
    changed = sorted(before.all_words_diff(after))

    def spans(text: Any) -> list[list[int]]:
        places = word_spans(text.text, text.words)
        return [list(places[i]) for i in changed if i < len(places) and places[i][0] >= 0]

    def probabilities(output: Any) -> list[float]:
        return [min(1.0, max(0.0, round(float(p), 6))) for p in output.raw_output.tolist()]

    return {"id": str(example_id), "result": result_kind(result), "label": classes[int(original.ground_truth_output)],
            "original": before.text, "perturbed": after.text,
            "original_label": classes[int(original.output)], "perturbed_label": classes[int(perturbed.output)],
            "original_probabilities": probabilities(original), "perturbed_probabilities": probabilities(perturbed),
            "queries": int(result.perturbed_result.num_queries), "words": len(before.words), "changed": changed,
            "original_spans": spans(before), "perturbed_spans": spans(after)}


def attack_examples(attack: Any, examples: Sequence[Any], recipe: str, seed: int, classes: Sequence[str],
                    on_result: Callable[[int, Any, dict], None] | None = None,
                    check_cancel: Callable[[], None] | None = None) -> tuple[list[Any], list[dict]]:
    """Each example attacked in turn under its own seed: TextAttack's results and the records, `on_result(done,
    result, record)` after each; `check_cancel` may stop between examples."""
    results, records = [], []
    for example in examples:
        if check_cancel is not None:
            check_cancel()
        result = attack_text(attack, example.text, example.label, example_seed(seed, recipe, example.id))
        results.append(result)
        records.append(describe_result(result, example.id, classes))
        if on_result is not None:
            on_result(len(results), result, records[-1])
    return results, records
