"""The recipes offered and refused, and the sample every run of a task is attacked on."""

import pytest

from goemo_core.attacks.recipes import RECIPE_NAMES, UNAVAILABLE, get_recipe
from goemo_core.attacks.sample import attack_sample
from goemo_core.data.tasks import get_task
from goemo_core.errors import InvalidConfig, MissingResource


def test_the_three_offline_recipes_are_textattacks_own():
    from textattack.attack_args import ATTACK_RECIPE_NAMES

    assert RECIPE_NAMES == ("pwws", "deepwordbug", "pruthi")
    for name in RECIPE_NAMES:  # the class `textattack attack --recipe NAME` builds
        assert ATTACK_RECIPE_NAMES[name] == f"textattack.attack_recipes.{get_recipe(name).textattack_class}"
    assert get_recipe(" PWWS ").name == "pwws"


@pytest.mark.parametrize("name,missing", [("textfooler", "Universal Sentence Encoder"),
                                          ("bae", "BERT masked language model"),
                                          ("bert-attack", "BERT masked language model"),
                                          ("textbugger", "Universal Sentence Encoder")])
def test_a_recipe_that_needs_downloads_is_refused_in_one_line_saying_what_is_missing(name, missing):
    with pytest.raises(MissingResource) as refused:
        get_recipe(name)
    message = str(refused.value)
    assert "\n" not in message and missing in message and name in message and "pwws, deepwordbug, pruthi" in message


def test_every_other_textattack_recipe_has_a_reason_and_unknown_names_are_bad_arguments():
    from textattack.attack_args import ATTACK_RECIPE_NAMES

    assert set(ATTACK_RECIPE_NAMES) == set(RECIPE_NAMES) | set(UNAVAILABLE)
    with pytest.raises(InvalidConfig, match="'nope' is not one of pwws, deepwordbug, pruthi"):
        get_recipe("nope")


def test_the_sample_is_seeded_the_same_for_every_task_and_a_smaller_n_is_its_start():
    ekman, sentiment = get_task("ekman"), get_task("sentiment-single")
    fifty, again, more = attack_sample(ekman, 50, 211), attack_sample(ekman, 50, 211), attack_sample(ekman, 80, 211)
    other_seed = attack_sample(ekman, 50, 212)
    assert fifty == again and len(fifty.examples) == 50 and len({e.id for e in fifty.examples}) == 50
    assert more.examples[:50] == fifty.examples
    assert [e.id for e in attack_sample(sentiment, 50, 211).examples] == [e.id for e in fifty.examples]
    assert other_seed.ids_sha256 != fifty.ids_sha256
    assert all(0 <= e.label < 7 for e in fifty.examples) and len({e.label for e in fifty.examples}) > 2
    assert fifty.describe() == {"split": "test", "n": 50, "seed": 211, "ids_sha256": fifty.ids_sha256}


def test_a_multi_label_task_and_a_sample_larger_than_the_test_split_are_refused():
    with pytest.raises(InvalidConfig, match="multi-label"):
        attack_sample(get_task("goemotions"), 10, 211)
    with pytest.raises(InvalidConfig, match="between 1 and"):
        attack_sample(get_task("ekman"), 10**6, 211)
