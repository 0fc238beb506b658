"""Augmentation: the balance plan, exact targets on a small slice, determinism (also across processes), train-only
rows, the cache, the offline NLTK check, the job handler, the CLI and the Augment page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import DATA_DIR, NLTK_DIR, ROOT, page_file

from goemo_core.augment import (DEFAULT_SPEC, AugmentSpec, augment_text, balance_plan, build_augmented,
                                ensure_nltk_resources, get_augmenter, list_augmented, load_augmented_frame,
                                load_augmented_rows, missing_nltk_resources, resolve_augmented_name)
from goemo_core.cli import main
from goemo_core.data.goemotions import EKMAN_CLASSES, load_goemotions
from goemo_core.errors import Cancelled, InvalidConfig, MissingResource
from goemo_core.jobs.work import augment_job
from goemo_core.settings import get_settings

SMALL = {"limit": 300, "target_count": 60, "seed": 7}  # a few seconds of EDA
TRAIN_COUNTS = {"anger": 5316, "disgust": 579, "fear": 618, "joy": 16941, "sadness": 2648, "surprise": 4485,
                "neutral": 12823}
TEXT = "I am so happy you came"


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("augment-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        patch.setenv("NLTK_DATA", str(NLTK_DIR))
        patch.setenv("GOEMO_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def shared_home(home, monkeypatch):
    """One artifacts folder for the whole module (after conftest's per-test one), so the small build is made once."""
    monkeypatch.setenv("GOEMO_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def small_build(home) -> dict:
    return build_augmented(SMALL)


def _cli(capsys, *argv: str) -> tuple[int, object]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else out


# -- the page first, while TextAttack is not imported yet -----------------------------------------------------------


RENDER_WITHOUT_PREVIEW = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=180).run()
assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
assert at.get("vega_lite_chart"), "the balance plan chart is missing"
print("textattack" in sys.modules)
"""


@pytest.mark.slow
def test_page_does_not_import_textattack_before_a_preview():
    """In a fresh process, where TextAttack cannot have been imported by another test."""
    done = subprocess.run([sys.executable, "-c", RENDER_WITHOUT_PREVIEW, str(page_file("augment.py"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False", "the page imported TextAttack at load"


def test_page_previews():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(page_file("augment.py")), default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="aug_typed").set_value(TEXT)
    at.button(key="aug_preview").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [m.value for m in at.markdown if m.value.startswith("1. ")]
    assert shown and ("<mark" in shown[0] or "<del" in shown[0])
    assert shown[0].count("\n") == 3  # four variants
    from goemo_core.augment.eda import FIRST_LOAD, augmenter_loaded

    assert augmenter_loaded() and FIRST_LOAD["wall_s"] > 0 and FIRST_LOAD["cpu_s"] > 0  # what the first load took

    at.radio(key="aug_mode").set_value("number of examples").run()
    assert not at.exception and at.get("vega_lite_chart")


def pretend_to_build(config: AugmentSpec, context) -> dict:
    """A stand-in for the augment job (module-level: it runs in a worker process)."""
    return {"status": "completed", "name": "fake", "added": 0, "spec": config}


def test_page_builds_in_the_background():
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import goemo_core.jobs.manager as jobs

    previous, jobs._MANAGER = jobs._MANAGER, jobs.JobManager({"augment": pretend_to_build}, slots={"cpu": 1})
    st.cache_resource.clear()  # the page holds the manager in st.cache_resource
    try:
        at = AppTest.from_file(str(page_file("augment.py")), default_timeout=60).run()
        at.radio(key="aug_mode").set_value("number of examples").run()
        at.number_input(key="aug_count").set_value(700).run()
        at.button(key="aug_build").click().run()
        assert not at.exception, [e.value for e in at.exception]
        job = jobs._MANAGER.jobs("augment")[0]
        jobs._MANAGER.wait(job.id, timeout=60)
        assert job.result["spec"] == AugmentSpec(target_ratio=None, target_count=700, recipe="eda", pct=0.1, seed=211)
        assert job.title == "Augment eda-n700-s211" and job.status == "completed"
        at.run()
        assert not at.exception and any("Augment eda-n700-s211" in m.value for m in at.markdown)
    finally:
        jobs._MANAGER.shutdown()
        jobs._MANAGER = previous
        st.cache_resource.clear()


# -- pure functions ---------------------------------------------------------------------------------------------------


def test_balance_plan_matches_the_notebook_target_exactly():
    after = balance_plan(TRAIN_COUNTS)  # ratio 0.25 of joy's 16,941 → 4,235 (bug 2 grew disgust to ~15,200)
    assert after == {**TRAIN_COUNTS, "disgust": 4235, "fear": 4235, "sadness": 4235}
    assert balance_plan(TRAIN_COUNTS, count=5000) == {**TRAIN_COUNTS, "disgust": 5000, "fear": 5000,
                                                      "sadness": 5000, "surprise": 5000}
    assert balance_plan({"a": 10, "b": 0}, ratio=0.5) == {"a": 10, "b": 0}  # nothing to augment from
    for bad in ({"ratio": 0}, {"ratio": 1.5}, {"ratio": None, "count": None}, {"ratio": None, "count": 0}):
        with pytest.raises(InvalidConfig):
            balance_plan(TRAIN_COUNTS, **bad)


def test_names_follow_the_settings():
    assert DEFAULT_SPEC.name == "eda-r0.25-s211"
    assert AugmentSpec.from_config({"recipe": "random-swap", "pct": 0.2, "target_count": 3000, "seed": 1,
                                    "limit": 500}).name == "random-swap-p0.2-n3000-s1-l500"
    for bad in ({"recipe": "nope"}, {"pct": 0}, {"target_ratio": 0.5, "target_count": 10}, {"colour": 1}):
        with pytest.raises(InvalidConfig):
            AugmentSpec.from_config(bad)


# -- the offline NLTK check -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_missing_wordnet_says_what_to_set_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    if not missing_nltk_resources():
        pytest.skip("WordNet and stop words are installed in NLTK's default folders")
    import nltk

    def no_download(*args, **kwargs):
        raise AssertionError(f"nltk.download{args} was attempted")

    monkeypatch.setattr(nltk, "download", no_download)
    started = time.time()
    with pytest.raises(MissingResource) as error:
        augment_text(TEXT)
    assert "NLTK_DATA" in str(error.value) and "python -m nltk.downloader wordnet stopwords" in str(error.value)
    assert time.time() - started < 30  # refused before any download attempt, nothing waits on the network

    env = {**os.environ, "NLTK_DATA": str(tmp_path), "GOEMO_DATA_DIR": str(DATA_DIR)}
    done = subprocess.run([sys.executable, "-m", "goemo_core", "augment", "preview", "--text", TEXT],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "NLTK_DATA" in done.stderr and "Traceback" not in done.stderr
    monkeypatch.setenv("NLTK_DATA", str(NLTK_DIR))
    ensure_nltk_resources()  # back to the real folder: found again


# -- preview --------------------------------------------------------------------------------------------------------


def test_preview_cli_is_deterministic_and_changes_the_text(capsys):
    argv = ("augment", "preview", "--text", TEXT, "-n", "4", "--seed", "0", "--json")
    code, first = _cli(capsys, *argv)
    assert code == 0 and first["original"] == TEXT
    assert len(first["augmented"]) == 4 and len(set(first["augmented"])) == 4
    assert all(v != TEXT for v in first["augmented"])
    assert _cli(capsys, *argv)[1] == first
    assert _cli(capsys, "augment", "preview", "--text", TEXT, "-n", "4", "--seed", "1", "--json")[1] != first
    code, single = _cli(capsys, "augment", "preview", "--text", TEXT, "-n", "3", "--recipe", "random-deletion",
                        "--json")
    assert code == 0 and all(len(v.split()) == len(TEXT.split()) - 1 for v in single["augmented"])
    assert main(["augment", "preview", "--text", TEXT, "-n", "0"]) == 2


@pytest.mark.slow
def test_preview_is_the_same_in_another_process(capsys):
    """WordNet synonyms come out of sets whose order depends on the string hash seed of the process."""
    ours = augment_text(TEXT, n=4, seed=0)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-m", "goemo_core", "augment", "preview", "--text", TEXT, "-n", "4",
                           "--seed", "0", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["augmented"] == ours


# -- build --------------------------------------------------------------------------------------------------------


def test_build_grows_each_small_class_to_exactly_the_target(small_build):
    before, after = small_build["before"], small_build["after"]
    for name in EKMAN_CLASSES:
        assert after[name] == (60 if before[name] < 60 else before[name]), name
    assert small_build["added"] == sum(after.values()) - sum(before.values()) > 0
    frame = load_augmented_frame(small_build["name"])
    counts = frame["label"].value_counts().to_dict()
    assert {name: counts.get(i, 0) for i, name in enumerate(EKMAN_CLASSES)} == after
    assert int(frame["augmented"].sum()) == small_build["added"]
    assert not frame.duplicated(["source_index", "text"]).any()


def test_augmented_rows_are_train_only_and_follow_the_limit(small_build):
    data = load_goemotions(get_settings())
    train = data["train"]
    frame = load_augmented_frame(small_build["name"])
    extra = frame[frame["augmented"]]
    assert extra["source_index"].max() < SMALL["limit"]
    assert list(extra["source_id"]) == [train["id"][i] for i in extra["source_index"]]
    assert list(extra["label"]) == [train["label"][i] for i in extra["source_index"]]  # the primary label
    held_out = set(data["validation"]["id"]) | set(data["test"]["id"])
    assert not held_out & set(frame["source_id"])

    texts, labels = load_augmented_rows(small_build["name"])
    assert len(texts) == len(labels) == small_build["added"]
    limited_texts, limited_labels = load_augmented_rows(small_build["name"], limit=100)
    expected = extra[extra["source_index"] < 100]
    assert limited_texts == list(expected["text"]) and limited_labels == list(expected["label"])


def test_cache_is_reused_and_listed(small_build, capsys):
    started = time.time()
    again = build_augmented(SMALL)
    assert again["reused"] and time.time() - started < 10
    assert {k: again[k] for k in ("name", "added", "after")} == {k: small_build[k] for k in ("name", "added", "after")}

    code, document = _cli(capsys, "augment", "build", "--limit", "300", "--target-count", "60", "--seed", "7", "--json")
    assert code == 0 and document["cache"] == small_build["cache"] and document["added"] == small_build["added"]
    assert list(document["before"]) == list(document["after"]) == list(EKMAN_CLASSES)
    code, listing = _cli(capsys, "augment", "list", "--json")
    assert small_build["name"] in [s["name"] for s in listing]
    assert small_build["name"] in [s["name"] for s in list_augmented()]
    assert resolve_augmented_name(small_build["name"]) == small_build["name"]


def test_unbuilt_default_names_the_command():
    with pytest.raises(MissingResource, match=r"not built yet; run `python -m goemo_core augment build` "
                                              r"\(or build it on the Augment page\)"):
        resolve_augmented_name("default")
    with pytest.raises(InvalidConfig):
        resolve_augmented_name("../escape")


def test_build_is_deterministic(small_build, tmp_path, monkeypatch):
    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    rebuilt = build_augmented(SMALL)
    assert not rebuilt["reused"]
    pd.testing.assert_frame_equal(load_augmented_frame(rebuilt["name"]),
                                  pd.read_parquet(Path(small_build["cache"]) / "train.parquet"))


class FakeContext:
    def __init__(self, cancel_after: int | None = None):
        self.updates, self.logs, self.checks, self.cancel_after = [], [], 0, cancel_after

    def progress(self, fraction: float, text: str | None = None) -> None:
        self.updates.append((fraction, text))

    def log(self, message: str) -> None:
        self.logs.append(message)

    def check_cancel(self) -> None:
        self.checks += 1
        if self.cancel_after is not None and self.checks > self.cancel_after:
            raise Cancelled("cancelled by the user")


def test_job_handler_reports_progress_and_cancels(small_build):
    config = {"limit": 200, "target_ratio": 0.5, "recipe": "synonym-insertion", "seed": 3}
    cancelled = FakeContext(cancel_after=3)
    with pytest.raises(Cancelled):
        augment_job(config, cancelled)
    name = AugmentSpec.from_config(config).name
    assert name not in [s["name"] for s in list_augmented()]  # nothing half-built is cached

    context = FakeContext()
    result = augment_job(config, context)
    assert result["status"] == "completed" and result["name"] == name and result["added"] > 0
    assert context.updates[-1][0] == pytest.approx(1.0) and context.checks > 0 and context.logs
    assert len(load_augmented_rows(name)[0]) == result["added"]


def test_capitalised_stop_words_are_never_swapped():
    augmenter = get_augmenter("synonym-swap", pct=1.0, wanted=20)
    stopwords = [c.stopwords for c in augmenter.pre_transformation_constraints if hasattr(c, "stopwords")]
    assert stopwords and {"I", "The", "i", "the"} <= stopwords[0]
    variants = augment_text("I think The movie was great", n=10, seed=3, recipe="synonym-swap", pct=1.0)
    assert variants and all(v.split()[0] == "I" for v in variants)


# -- damaged splits and bounded work ----------------------------------------------------------------------------------


@pytest.mark.parametrize("damage, message", [
    ("truncate", "train.parquet cannot be read"),
    ("label 99", "train.parquet: a label is outside 0..6"),
    ("no label column", "train.parquet has no column label"),
    ("text as numbers", "train.parquet: 'text' holds values that are not text"),
])
def test_a_damaged_augmented_split_is_one_clear_error(small_build, tmp_path, monkeypatch, damage, message):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(Path(small_build["cache"]), home / "augmented" / small_build["name"])
    monkeypatch.setenv("GOEMO_HOME", str(home))
    path = home / "augmented" / small_build["name"] / "train.parquet"
    frame = pd.read_parquet(path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "label 99":
        frame.loc[len(frame) - 1, "label"] = 99
        frame.to_parquet(path, index=False)
    elif damage == "no label column":
        frame.drop(columns=["label"]).to_parquet(path, index=False)
    else:
        frame.assign(text=range(len(frame))).to_parquet(path, index=False)
    with pytest.raises(MissingResource, match=f"damaged: {message}"):
        load_augmented_rows(small_build["name"])
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    with pytest.raises(MissingResource, match="damaged"):
        train_run(make_config("gru", {"limit": 300, "epochs": 1, "augment": small_build["name"], "pretrained": None}))


def test_a_long_preview_is_refused_at_once(capsys):
    from goemo_core.augment import MAX_PREVIEW_WORDS

    started = time.time()
    with pytest.raises(InvalidConfig, match=f"at most {MAX_PREVIEW_WORDS} words"):
        augment_text("happy " * 400)
    assert main(["augment", "preview", "--text", "word " * (MAX_PREVIEW_WORDS + 1)]) == 2
    assert "at most" in capsys.readouterr().err and time.time() - started < 5


def test_a_huge_target_count_is_refused_before_any_work(capsys):
    started = time.time()
    assert main(["augment", "build", "--target-count", str(10**9)]) == 2
    assert "target count" in capsys.readouterr().err and time.time() - started < 5
    with pytest.raises(InvalidConfig, match="wrong type"):
        AugmentSpec.from_config({"target_count": float("inf")})
