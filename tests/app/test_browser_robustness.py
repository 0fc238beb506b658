"""In a real browser: an attack launched from Compare runs in the background with progress per example, is
cancelled from its card, and a second one completes; its figures appear in the robustness table and chart, and the
run's adversarial examples are shown with the changed words highlighted. Screenshots go with test_browser's."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import DATA_DIR, ROOT
from playwright.sync_api import expect
from test_browser import browser, idle, new_page, no_exceptions, open_page, shot, start_server  # noqa: F401

# `browser` is test_browser's module-scoped fixture (one Chromium), imported to be used here

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server_with_a_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("robustness-home")
    env = {"GOEMO_HOME": str(home), "GOEMO_DATA_DIR": str(DATA_DIR), "GOEMO_DEVICE": "cpu", "GOEMO_PRETRAINED": "",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "goemo_core", "train", "--arch", "gru", "--epochs", "1", "--limit",
                          "300", "--set", "hidden_size=16", "--set", "embedding_dim=16", "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    run_id = json.loads(out.stdout)["run_id"]
    process, url = start_server(home)
    yield url, home, run_id
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def launch_attack(page, examples: int) -> None:
    expander = page.get_by_text("Attack the selected runs")
    if not page.locator(".st-key-attack_n input").is_visible():
        expander.click()
    field = page.locator(".st-key-attack_n input")
    field.fill(str(examples))
    field.press("Enter")
    idle(page)
    page.locator(".st-key-attack_launch button").click()


def test_an_attack_launched_from_compare_is_cancelled_then_one_completes_into_the_table_and_chart(
        server_with_a_run, browser):  # noqa: F811 (the fixture imported above)
    url, home, run_id = server_with_a_run
    page = new_page(browser)
    open_page(page, f"{url}/compare?run={run_id}")
    expect(page.get_by_text("Robustness under attack")).to_be_visible()
    expect(page.get_by_text("None of the selected completed runs has been attacked yet")).to_be_visible()

    launch_attack(page, 3000)
    card = page.locator('[class*="st-key-job-card-"]').first
    expect(card).to_contain_text(re.compile(r"pwws on .*: [\d,]+/3,000 examples"), timeout=300_000)
    shot(page, "robustness-01-running")
    card.locator('[class*="st-key-cancel-"] button').click()
    expect(card).to_contain_text("cancelled", timeout=120_000)
    assert not (home / "runs" / run_id / "attacks" / "pwws.json").exists()

    launch_attack(page, 20)
    cards = page.locator('[class*="st-key-job-card-"]')
    expect(cards.filter(has_text="completed")).to_have_count(1, timeout=600_000)
    idle(page)
    document = json.loads((home / "runs" / run_id / "attacks" / "pwws.json").read_text())
    under = document["figures"]["accuracy_under_attack"]
    expect(page.get_by_text("Sample: the first 20 test examples of the permutation seeded by 211.")).to_be_visible()
    table = page.locator(".st-key-robustness-table")
    expect(table).to_be_visible()
    expect(table).to_contain_text(f"{under:.2f} (one seed)")  # the grid's accessible copy of its cells
    expect(table).not_to_contain_text("(n=1)")  # one seed is said once
    point = page.locator('.st-key-robustness-scatter [aria-label*="recipe: pwws"]')  # the chart's SVG point
    expect(point).to_have_attribute("aria-label", re.compile(rf"under_attack: {under:.2f}\b"))
    no_exceptions(page)
    page.locator(".st-key-robustness-scatter").scroll_into_view_if_needed()
    shot(page, "robustness-02-completed")
    page.close()
