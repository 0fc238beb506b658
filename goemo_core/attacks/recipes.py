"""The attack recipes: TextAttack's own, those that run offline with NLTK's WordNet and stop words, and for every other
recipe TextAttack names, why it is refused (most need a model or word vectors downloaded from the hub)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidConfig, MissingResource


@dataclass(frozen=True)
class Recipe:
    name: str  # as `textattack attack --recipe` calls it
    textattack_class: str  # in textattack.attack_recipes
    title: str
    description: str
    wordnet: bool  # needs NLTK's WordNet (every recipe reads NLTK's English stop words through TextAttack)


RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (
    Recipe("pwws", "PWWSRen2019", "PWWS (Ren et al. 2019)",
           "swaps words for WordNet synonyms, word by word in order of probability-weighted saliency", True),
    Recipe("deepwordbug", "DeepWordBugGao2018", "DeepWordBug (Gao et al. 2018)",
           "edits characters (swap, substitute, delete, insert) in the words whose removal moves the prediction "
           "most, within a Levenshtein distance of 30", False),
    Recipe("pruthi", "Pruthi2019", "Pruthi et al. 2019",
           "one typo in one word of at least 4 letters (neighbouring swap, deletion, insertion or a QWERTY "
           "neighbour key), inner characters only", False),
)}  # fmt: skip
RECIPE_NAMES = tuple(RECIPES)

# TextAttack's other recipes (its ATTACK_RECIPE_NAMES) and what each lacks here.
_EMBEDDINGS = "counter-fitted word embeddings"
_USE = "the Universal Sentence Encoder (TensorFlow Hub)"
UNAVAILABLE: dict[str, str] = {
    "textfooler": f"needs downloads: {_EMBEDDINGS}, {_USE} and a part-of-speech tagger",
    "bae": f"needs downloads: a BERT masked language model, {_USE} and a part-of-speech tagger",
    "bert-attack": f"needs downloads: a BERT masked language model and {_USE}",
    "textbugger": f"needs downloads: {_EMBEDDINGS} and {_USE}",
    "clare": f"needs downloads: the distilroberta-base masked language model and {_USE}",
    "a2t": f"needs downloads: {_EMBEDDINGS}, a BERT masked language model, Sentence-BERT and a part-of-speech tagger",
    "alzantot": f"needs downloads: {_EMBEDDINGS} and Google's one-billion-words language model",
    "faster-alzantot": f"needs downloads: {_EMBEDDINGS} and the learning-to-write language model",
    "iga": f"needs downloads: {_EMBEDDINGS}",
    "kuleshov": f"needs downloads: {_EMBEDDINGS}, GPT-2 and GloVe thought vectors",
    "pso": "needs downloads: OpenHowNet's sememe database",
    "leap": "needs downloads: OpenHowNet's sememe database",
    "hotflip": f"needs downloads ({_EMBEDDINGS}, a part-of-speech tagger) and the model's gradients",
    "checklist": "needs the checklist package's name and location lists",
    "input-reduction": "is not an attack on the label: it shrinks inputs while keeping the prediction",
    "morpheus": "attacks text-to-text models (its goal is a lower BLEU score), not classifiers",
    "seq2sick": "attacks sequence-to-sequence models, not classifiers",
    "bad-characters": "is not offered: its goal functions (BLEU, Levenshtein, named entities) are not a classifier's",
}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; a recipe this machine cannot run is refused in one line saying what it lacks."""
    key = str(name or "").strip().lower()
    if key in RECIPES:
        return RECIPES[key]
    offered = ", ".join(RECIPE_NAMES)
    if key in UNAVAILABLE:
        raise MissingResource(f"recipe '{key}' {UNAVAILABLE[key]}, which this installation does not have; "
                              f"the recipes that run offline are {offered}.")
    raise InvalidConfig(f"recipe: '{key}' is not one of {offered}.")
