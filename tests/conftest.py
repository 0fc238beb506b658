"""Shared fixtures: every test gets a fresh artifacts folder; the data, WordNet and encoder come from ../shared
(or wherever GOEMO_DATA_DIR, NLTK_DATA and GOEMO_PRETRAINED already point)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "app_pages"  # not pages/: that name switches on Streamlit's own page discovery, whose first
# request on a fresh server answers a bookmarked /train with a "Page not found" dialog before st.navigation runs


def page_file(name: str) -> Path:
    """The page file called `name` (e.g. "train.py") in whichever section folder holds it."""
    found = sorted(PAGES_DIR.rglob(name))
    if len(found) != 1:
        raise LookupError(f"{len(found)} pages called {name} under {PAGES_DIR}")
    return found[0]


SHARED = ROOT.parent / "shared"
DATA_DIR = Path(os.environ.get("GOEMO_DATA_DIR") or SHARED / "data" / "goemotions").resolve()


def unavailable(reason: str) -> None:
    """A prerequisite of a test is missing: skip it while developing, but fail under GOEMO_TESTS_STRICT=1 (CI, which
    installs every prerequisite), so a broken install step cannot pass as skipped tests."""
    if os.environ.get("GOEMO_TESTS_STRICT") == "1":
        pytest.fail(f"prerequisite missing under GOEMO_TESTS_STRICT=1: {reason}")
    pytest.skip(reason)
NLTK_DIR = Path(os.environ.get("NLTK_DATA") or SHARED / "nltk_data").resolve()
PRETRAINED_DIR = Path(os.environ.get("GOEMO_PRETRAINED") or SHARED / "models" / "all-MiniLM-L6-v2").resolve()


# Every architecture at its smallest: the parameters of the model tests
TINY_MODELS = {
    "lstm": {"embedding_dim": 16, "hidden_size": 16, "num_layers": 2, "head_units": 16},
    "gru": {"embedding_dim": 16, "hidden_size": 16, "num_layers": 2, "head_units": 16},
    "xlstm": {"embedding_dim": 16, "num_blocks": 2, "slstm_at": "1", "head_units": 16},
    "rwkv": {"embedding_dim": 16, "hidden_size": 16, "num_layers": 2, "head_units": 16},
    "transformer": {"head_layers": 1, "head_units": 16},
}

@pytest.fixture(autouse=True)
def goemo_env(tmp_path, monkeypatch):
    """A private GOEMO_HOME per test, local data, no hub access, no pretrained encoder unless a test asks."""
    home = tmp_path / "home"
    monkeypatch.setenv("GOEMO_HOME", str(home))
    monkeypatch.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("NLTK_DATA", str(NLTK_DIR))
    monkeypatch.setenv("GOEMO_DEVICE", "cpu")
    monkeypatch.delenv("GOEMO_OPTUNA_STORAGE", raising=False)
    monkeypatch.delenv("GOEMO_PRETRAINED", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    import goemo_core.results.headline as headline

    # the repository's committed results would show as reference rows on Home: a test that wants them sets its own
    monkeypatch.setattr(headline, "RESULTS_DIR", tmp_path / "committed-results")
    return home


@pytest.fixture
def pretrained(monkeypatch) -> Path:
    """GOEMO_PRETRAINED set to the local MiniLM encoder."""
    monkeypatch.setenv("GOEMO_PRETRAINED", str(PRETRAINED_DIR))
    return PRETRAINED_DIR


@pytest.fixture
def fresh_manager():
    """A fresh process-wide JobManager (and empty streamlit caches), shut down afterwards."""
    import goemo_core.jobs.manager as jobs

    jobs._MANAGER = None
    try:
        import streamlit as st

        st.cache_resource.clear()
        st.cache_data.clear()
    except Exception:
        pass
    yield jobs.get_manager
    if jobs._MANAGER is not None:
        jobs._MANAGER.shutdown(cancel=True)
        jobs._MANAGER = None


def fake_run(store, arch: str, seed: int, accuracy: float | None, macro_f1: float = 0.5, *,
             val_accuracy: float | None = None, val_macro_f1: float | None = None, status: str | None = None,
             **settings):
    """A run directory as train_run leaves it, with chosen test (and validation: the test figures unless given)
    metrics, no training. `status` defaults to completed with metrics, failed without."""
    from goemo_core.models import get_architecture, resolve_params
    from goemo_core.training.config import make_config

    config = make_config(arch, {"seed": seed, **settings}).to_dict()
    config["params"] = resolve_params(get_architecture(arch), config["params"])
    run = store.create({**config, "device": "cpu", "device_name": "CPU", "code_version": f"0.1+{seed}"})
    run.write_history([{"epoch": 1, "seconds": 2.0}, {"epoch": 2, "seconds": 4.0}])
    run.write_json("info.json", {"best_epoch": 2, "parameters": 1234})
    if accuracy is not None:
        validation = {"accuracy": accuracy if val_accuracy is None else val_accuracy,
                      "macro_f1": macro_f1 if val_macro_f1 is None else val_macro_f1}
        run.write_json("metrics.json", {"accuracy": accuracy, "macro_f1": macro_f1, "validation": validation})
    run.set_status(status or ("completed" if accuracy is not None else "failed"))
    return run


def whole_run(store, arch: str = "gru", seed: int = 211, accuracy: float = 61.0):
    """A completed run as fake_run makes it, with weights, probabilities and a tokenizer file (no training): what
    travels to MLflow and back."""
    import torch

    from goemo_core.runs.atomic import save_tensors, write_atomic

    run = fake_run(store, arch, seed, accuracy)
    save_tensors(run.weights_path, {"embedding.weight": torch.ones(5, 4)})
    save_tensors(run.probabilities_path, {"test": torch.full((3, 7), 1 / 7)})
    write_atomic(run.tokenizer_path, '{"model": {"vocab": {}}}')
    return run


def digest(path: Path) -> dict[str, str]:
    """SHA-256 of every file in a run folder: equal digests mean the run was not altered."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(path).iterdir()) if p.is_file()}


def two_recipes_that_disagree(store):
    """Recipe 'steady' is better on validation, recipe 'lucky' on test: the rule must pick 'steady'."""
    steady = [fake_run(store, "gru", seed, test, 0.58, val_accuracy=val, params={"hidden_size": 64})
              for seed, test, val in ((211, 66.0, 68.0), (212, 66.2, 68.2), (213, 65.8, 67.8))]
    lucky = [fake_run(store, "gru", seed, test, 0.60, val_accuracy=val)
             for seed, test, val in ((211, 67.0, 66.0), (212, 67.4, 66.1), (213, 67.2, 65.9))]
    return steady, lucky


def fake_attack(run, recipe: str, failed: int, skipped: int = 4, n: int = 20, seed: int = 211,
                text: str = "example {i} is quite happy") -> dict:
    """A stored attack of `n` examples on `run`, as `goemo attack` writes it: the first `skipped` already wrong, the
    next `failed` still right after the attack, the rest fooled by a swap of the text's last word."""
    from goemo_core.attacks.figures import figures_from_records
    from goemo_core.data.goemotions import EKMAN_CLASSES
    from goemo_core.runs.attack_files import write_attack

    records = []
    for i in range(n):
        result = "skipped" if i < skipped else "failed" if i < skipped + failed else "successful"
        original = text.format(i=i)
        last = original.rsplit(" ", 1)[-1]
        perturbed = original if result == "skipped" else original[: -len(last)] + "felicitous"
        changed = result != "skipped"
        records.append({
            "id": str(i), "result": result, "label": "joy", "original": original, "perturbed": perturbed,
            "original_label": "anger" if result == "skipped" else "joy",
            "perturbed_label": "neutral" if result == "successful" else "anger" if result == "skipped" else "joy",
            "original_probabilities": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            "perturbed_probabilities": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], "queries": 12 if changed else 1,
            "words": len(original.split()), "changed": [len(original.split()) - 1] if changed else [],
            "original_spans": [[len(original) - len(last), len(original)]] if changed else [],
            "perturbed_spans": [[len(perturbed) - 10, len(perturbed)]] if changed else []})
    ids = hashlib.sha256(f"{n}/{seed}".encode()).hexdigest()
    document = {"recipe": recipe, "textattack_recipe": "X", "task": "ekman", "classes": list(EKMAN_CLASSES),
                "sample": {"split": "test", "n": n, "seed": seed, "ids_sha256": ids},
                "figures": figures_from_records(records), "seconds": 1.0, "examples_per_minute": 1200.0}
    write_attack(run, recipe, document, records)
    return document


SUPPORT = [70, 8, 9, 205, 32, 58, 161]  # test counts per Ekman class for with_predictions (joy the majority)


def with_predictions(run, predicted: list[str], majority: float | None = None):
    """Give a fake run test metrics whose confusion matrix predicts only `predicted` (each true class goes to the
    first of them that is right, else to the first), with per-class supports; `majority`: the validation majority
    baseline recorded at training."""
    from goemo_core.data.goemotions import EKMAN_CLASSES

    confusion = [[0] * 7 for _ in EKMAN_CLASSES]
    for i, name in enumerate(EKMAN_CLASSES):
        confusion[i][EKMAN_CLASSES.index(name if name in predicted else predicted[0])] = SUPPORT[i]
    per_class = {name: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": SUPPORT[i]}
                 for i, name in enumerate(EKMAN_CLASSES)}
    metrics = {**run.metrics, "per_class": per_class, "confusion": confusion}
    if majority is not None:
        metrics["validation"] = {**metrics["validation"], "majority": {"label": "joy", "accuracy": majority}}
    run.write_json("metrics.json", metrics)
    return run
