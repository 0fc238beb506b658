"""The report in a real browser, offline: `report --all --html` over six runs of two architectures opened in
headless Chromium with every request but the file itself aborted. Nothing may be requested, every section and chart
must be drawn, and a run named like a script must show as text without any dialog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from report_home import SCRIPT_NAME, report_home

from goemo_core.cli import main
from goemo_core.runs.store import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECTIONS = ["summary", "runs", "curves", "per-class", "confusion", "cost", "calibration", "robustness", "left-out",
            "environment"]


def test_the_report_opens_offline_with_every_section_and_chart(tmp_path, capsys):
    report_home(RunStore())
    target = tmp_path / "r.html"
    assert main(["report", "--all", "--html", str(target)]) == 0
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (apt-get install chromium)"
    url = target.as_uri()
    attempted, dialogs, errors = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu",
                                                   "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(request_route):
            if request_route.request.url == url:
                request_route.continue_()
            else:  # anything else would leave the file: refused, and remembered
                attempted.append(request_route.request.url)
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("request", lambda request: request.url != url and attempted.append(request.url))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url, wait_until="load")
        page.wait_for_timeout(500)

        found = page.eval_on_selector_all("[data-section]", "nodes => nodes.map(n => n.dataset.section)")
        assert found == SECTIONS
        for key in SECTIONS:
            assert page.locator(f'[data-section="{key}"]').is_visible()
        charts = page.eval_on_selector_all("figure.chart", """figures => figures.map(f => {
            const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
            return [f.dataset.chart, box.width, box.height, svg ? svg.querySelectorAll('path, rect').length : 0];
        })""")
        assert [chart[0] for chart in charts] == ["curves", "per-class", *["confusion"] * 6, "cost", "calibration"]
        assert all(width > 150 and height > 150 and marks > 10 for _, width, height, marks in charts), charts
        # the table of contents reaches the task's heading and every section
        anchors = page.eval_on_selector_all("nav a", "links => links.map(a => a.getAttribute('href'))")
        assert all(page.locator(anchor).count() == 1 for anchor in anchors) and len(anchors) == 1 + len(SECTIONS)

        assert page.get_by_text(SCRIPT_NAME, exact=True).first.is_visible()  # the name as text, in the runs table
        assert page.evaluate("document.scripts.length") == 0 and page.locator("img").count() == 0
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert attempted == [] and dialogs == [] and errors == []
