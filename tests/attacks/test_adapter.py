"""TextAttack over a predictor: each recipe fools a classifier that only knows a few joyful words, the records say
where the changed words are, the figures from TextAttack's metrics equal those recomputed from the records, and a
seed gives the same attack again."""

import pytest
import torch

from goemo_core.attacks.adapter import attack_examples, build_attack, describe_result, model_wrapper, word_spans
from goemo_core.attacks.figures import FIGURES, figures_from_records, figures_from_results
from goemo_core.attacks.recipes import RECIPE_NAMES, get_recipe
from goemo_core.attacks.sample import Example
from goemo_core.runs.attack_files import AttackExampleRecord

CLASSES = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
JOY, NEUTRAL = CLASSES.index("joy"), CLASSES.index("neutral")


class JoyWords:
    """joy (0.9) when a text holds one of a few joyful words, else neutral (0.9): easy to fool by swapping them."""

    WORDS = {"happy", "wonderful", "delighted", "love"}

    def __init__(self):
        self.calls = self.texts = 0

    def probabilities(self, texts):
        self.calls, self.texts = self.calls + 1, self.texts + len(texts)
        rows = torch.full((len(texts), len(CLASSES)), 0.1 / 6, dtype=torch.float64)
        for row, text in enumerate(texts):
            joyful = any(word.strip(".,!").lower() in self.WORDS for word in text.split())
            rows[row, JOY if joyful else NEUTRAL] = 0.9
        return rows


EXAMPLES = [Example("a", "I am so happy about the news today", JOY),  # one joyful word each: every recipe can
            Example("b", "We truly love the garden in spring", JOY),  # swap it (Pruthi changes one word at most)
            Example("c", "The meeting is on Tuesday at noon", NEUTRAL),
            Example("d", "The report was filed this morning", JOY)]  # already wrong: skipped


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_each_recipe_fools_a_keyword_classifier_and_its_figures_match_the_records(recipe):
    predictor = JoyWords()
    attack = build_attack(get_recipe(recipe), predictor)
    assert attack.goal_function.batch_size >= 1024  # a whole search step per call of the predictor
    results, records = attack_examples(attack, EXAMPLES, recipe, 211, CLASSES)
    kinds = [r["result"] for r in records]
    assert kinds[0] == "successful" and kinds[3] == "skipped" and kinds[2] in ("failed", "skipped")
    for record in records:
        AttackExampleRecord.model_validate(record)
        assert sum(record["original_probabilities"]) == pytest.approx(1.0, abs=1e-5)
    first = records[0]
    assert first["original_label"] == "joy" and first["perturbed_label"] == "neutral" and first["changed"]
    for (start, end), (new_start, new_end) in zip(first["original_spans"], first["perturbed_spans"]):
        assert first["original"][start:end].lower() != first["perturbed"][new_start:new_end].lower()
    assert first["queries"] > 1 and predictor.texts >= 2 * predictor.calls  # batched: many texts a call
    figures = figures_from_results(results)
    assert figures == figures_from_records(records) and set(FIGURES) - {"skipped"} <= set(figures)
    assert figures["examples"] == 4 and figures["skipped"] == 1 and figures["avg_perturbed_word_percent"] > 0


def test_a_seed_gives_the_same_attack_again_whatever_came_before():
    texts = EXAMPLES[:2]
    first = attack_examples(build_attack(get_recipe("deepwordbug"), JoyWords()), texts, "deepwordbug", 7, CLASSES)[1]
    alone = attack_examples(build_attack(get_recipe("deepwordbug"), JoyWords()), texts[1:], "deepwordbug", 7,
                            CLASSES)[1]
    assert first[1]["perturbed"] == alone[0]["perturbed"]  # an example's seed is its own, not its position's


def test_word_spans_find_textattacks_words_in_order_and_the_wrapper_returns_rows_that_sum_to_one():
    text = "Well, well: WELL done!"
    assert word_spans(text, ["Well", "well", "WELL", "done"]) == [(0, 4), (6, 10), (12, 16), (17, 21)]
    assert word_spans("abc", ["x"]) == [(-1, -1)]
    scores = model_wrapper(JoyWords())(["so happy", "a table"])
    assert scores.dtype == torch.float64 and torch.allclose(scores.sum(-1), torch.ones(2, dtype=torch.float64))


def test_describe_result_of_a_skipped_example_keeps_the_text_and_changes_nothing():
    attack = build_attack(get_recipe("pruthi"), JoyWords())
    result = attack.attack("Nothing to see here", JOY)
    record = describe_result(result, "x", CLASSES)
    assert record["result"] == "skipped" and record["perturbed"] == record["original"] == "Nothing to see here"
    assert record["changed"] == [] and record["original_spans"] == [] and record["queries"] == 1
