"""The analysis sections in a real browser: Compare's calibration, confident errors, disagreements and slices for a
single-label and a multi-label task, and Classify's highlighted words. Screenshots go to test-screenshots/ (or
$GOEMO_SCREENSHOTS)."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect
from test_browser import (CHROMIUM, browser, choose, idle, new_page, no_exceptions, open_page, shot,  # noqa: F401
                          start_server)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SECTIONS = ("Calibration (test split)", "Most confident errors (test split)", "Where architectures disagree",
            "Accuracy by slices (test split)")


@pytest.fixture(scope="module")
def analysis_server(tmp_path_factory):
    """A server whose artifacts hold runs with stored predictions of two tasks (two architectures each) and one
    tiny trained BiGRU to classify with."""
    from conftest import DATA_DIR
    from scored_runs import scored_run

    from goemo_core.runs.store import RunStore
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    home = tmp_path_factory.mktemp("analysis-browser") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOEMO_HOME", str(home))
        mp.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        mp.setenv("GOEMO_DEVICE", "cpu")
        mp.delenv("GOEMO_PRETRAINED", raising=False)
        store = RunStore()
        for task in ("ekman", "ekman-multilabel"):
            scored_run(store, "gru", task=task, draw=1, skill=1.5, scale=2.0)
            scored_run(store, "lstm", task=task, draw=2, skill=1.5)
        config = make_config("gru", {"limit": 300, "epochs": 1, "device": "cpu", "pretrained": None},
                             params={"embedding_dim": 16, "hidden_size": 16, "head_units": 16})
        assert train_run(config).status == "completed"
    process, url = start_server(home)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def see_sections(page, name: str) -> None:
    idle(page)
    for title in SECTIONS:
        heading = page.get_by_role("heading", name=re.compile(re.escape(title))).first
        expect(heading).to_be_attached()
        heading.scroll_into_view_if_needed()
        expect(heading).to_be_visible()
    reliability = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="Reliability diagram").first
    reliability.scroll_into_view_if_needed()
    expect(reliability.locator("svg").first).to_be_visible()
    slices = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="raw labels").first
    slices.scroll_into_view_if_needed()
    expect(slices.locator("svg").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"is wrong on [\d,]+ of 300 test examples"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"[\d,]+ of 300 test examples predicted differently"))).to_be_visible()
    assert page.locator('[data-testid="stDataFrame"]').count() >= 6  # runs, summary, calibration, errors, …
    no_exceptions(page)
    page.get_by_role("heading", name=re.compile("Calibration")).first.scroll_into_view_if_needed()
    shot(page, name)


def test_compare_shows_the_analysis_of_a_single_and_a_multi_label_task(analysis_server, browser):  # noqa: F811 (the fixture)
    page = new_page(browser)
    open_page(page, f"{analysis_server}/compare")
    see_sections(page, "10-compare-analysis-ekman")
    expect(page.get_by_text(re.compile("Decided by the tie rule"))).to_be_visible()

    choose(page, "compare_task", "ekman-multilabel: Ekman's 6 emotions + neutral, every annotated group (the "
                                 "paper's)")
    see_sections(page, "11-compare-analysis-multilabel")
    expect(page.get_by_text(re.compile("each wrong label decision, a false positive"))).to_be_visible()
    page.close()


def test_classify_highlights_the_words_behind_a_prediction(analysis_server, browser):  # noqa: F811 (the fixture)
    page = new_page(browser)
    open_page(page, f"{analysis_server}/classify")
    text = page.locator(".st-key-classify_text textarea")
    text.fill("I am <b>so</b> angry right now")
    text.press("Control+Enter")
    idle(page)
    highlighted = page.locator('span[title^="+"], span[title^="-"]')
    expect(highlighted.first).to_be_visible()
    assert highlighted.count() == 13  # I am < b > so < / b > angry right now: punctuation is a word of its own
    expect(page.locator("div:has(> span[title]) b")).to_have_count(0)  # the typed tags shown as text, not markup
    choose(page, "explain_class", "sadness")
    expect(page.get_by_text(re.compile(r"for sadness"))).to_be_visible()
    page.locator(".st-key-classify_calibrated label").click()
    idle(page)
    no_exceptions(page)
    page.locator(".st-key-explain_class").scroll_into_view_if_needed()
    shot(page, "12-classify-explanation")
    page.close()
