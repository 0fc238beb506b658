"""Pictures of the app: the Compare page the documentation shows (six runs of two architectures), and every page with
16 runs, checked for legibility in the browser: no text of a chart overlaps another, no legend label is cut, and a
run keeps its colour from the curves to the per-label F1 bars. Screenshots go to test-screenshots/ (or
$GOEMO_SCREENSHOTS); with GOEMO_DOC_IMAGES=1 the documentation's picture is written to docs/images/compare.png."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from playwright.sync_api import Page, expect
from test_browser import SHOTS, browser, idle, new_page, no_exceptions, open_page, start_server  # noqa: F401

sys.path.insert(0, str(ROOT / "tests" / "reports"))
from report_home import fill_run, trained_run  # noqa: E402

from goemo_core.runs.folder import Run, RunLabel  # noqa: E402
from goemo_core.runs.store import RunStore  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOC_IMAGE = ROOT / "docs" / "images" / "compare.png"
PAGES = ("", "data", "augment", "train", "tune", "compare", "classify")
TITLES = {"gru": "BiGRU", "lstm": "BiLSTM"}

# Every text of every chart, with its box; legend labels flagged (Vega cuts a label that is too long with "…"), and
# axis labels Vega hid (it hides labels that would overlap).
CHART_TEXTS = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"] svg')).map(svg =>
    Array.from(svg.querySelectorAll('text')).filter(t => t.textContent.trim())
        .map(t => { const b = t.getBoundingClientRect();
                    return {text: t.textContent, legend: !!t.closest('.role-legend-label'),
                            axis: !!t.closest('.role-axis-label'), hidden: t.getAttribute('opacity') === '0',
                            x: b.x, y: b.y, w: b.width, h: b.height}; }))"""


def legibility_problems(page: Page) -> list[str]:
    """Texts of one chart that overlap (by more than a fifth of the smaller one), legend labels cut short, and
    category labels of an axis that were hidden because they would have overlapped (numbers may thin out)."""
    problems = []
    for chart, every_text in enumerate(page.evaluate(CHART_TEXTS)):
        problems += [f"chart {chart}: axis label hidden: {t['text']!r}" for t in every_text
                     if t["hidden"] and t["axis"] and any(c.isalpha() for c in t["text"])]
        texts = [t for t in every_text if not t["hidden"]]
        for i, a in enumerate(texts):
            if a["legend"] and a["text"].endswith("…"):
                problems.append(f"chart {chart}: legend label cut: {a['text']!r}")
            for b in texts[i + 1:]:
                width = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
                height = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
                smaller = min(a["w"] * a["h"], b["w"] * b["h"])
                if width > 0 and height > 0 and smaller and width * height > 0.2 * smaller:
                    problems.append(f"chart {chart}: {a['text']!r} overlaps {b['text']!r}")
    return problems


def whole_page(page: Page) -> None:
    """Grow the window to the page's height (Streamlit scrolls inside its own container, and draws charts once
    they are in view), until the height has settled for a while."""
    heights = []
    while len(heights) < 3 or len(set(heights[-3:])) > 1:
        page.wait_for_timeout(1000)
        idle(page)
        heights.append(page.evaluate("""() => {
            const main = document.querySelector('[data-testid=stMainBlockContainer]');
            return Math.ceil(main.getBoundingClientRect().height + main.offsetTop) + 80; }"""))
        page.set_viewport_size({"width": 1400, "height": min(heights[-1], 16000)})
        assert len(heights) < 30, heights


def named_runs(store: RunStore, seeds: int) -> list[Run]:
    """A BiGRU and a BiLSTM recipe over `seeds` seeds, named for what they are."""
    runs = []
    for seed in range(211, 211 + seeds):
        for arch, skill in (("gru", 0.6), ("lstm", 0.5)):
            run = trained_run(store, arch, seed, skill, epochs=3 + seed % 4)
            run.set_label(RunLabel.clean(f"{TITLES[arch]} · seed {seed}", ["benchmark"]))
            runs.append(run)
    return runs


def runs_with_weights(store: RunStore, seeds: int) -> list[Run]:
    """named_runs whose folders hold real weights: one tiny run per architecture is trained, and each run takes a
    copy of its architecture's weights, tokenizer and probabilities (Classify serves them)."""
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    runs = []
    for arch, skill in (("gru", 0.6), ("lstm", 0.5)):
        trained = train_run(make_config(arch, {"limit": 100, "epochs": 1, "pretrained": "none", "embedding_dim": 16,
                                               "hidden_size": 16, "head_units": 16}), store=store).run
        for seed in range(211, 211 + seeds):
            copy = store.root / f"{trained.run_id}{seed % 100:02d}"
            shutil.copytree(trained.path, copy)
            config = json.loads((copy / "config.json").read_text())
            (copy / "config.json").write_text(json.dumps({**config, "run_id": copy.name, "seed": seed}))
            run = Run(copy.name, copy)
            fill_run(run, seed, skill, epochs=3 + seed % 4)
            run.set_label(RunLabel.clean(f"{TITLES[arch]} · seed {seed}", ["benchmark"]))
            runs.append(run)
        shutil.rmtree(trained.path)
    return runs


def pick_every_model(page: Page, count: int) -> None:
    """Classify with every model chosen (one option of the picker at a time), on an example sentence: so many
    models are drawn as a heatmap of models × classes."""
    picker = page.locator(".st-key-classify_runs-ekman input").first
    picker.wait_for()  # the page loads its models first
    for _ in range(count - 1):  # the best run is chosen already
        picker.click()
        page.get_by_role("option").first.click()
        idle(page)
    page.keyboard.press("Escape")
    page.locator(".st-key-example-0 button").click()
    idle(page)
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="neutral").first
    chart.scroll_into_view_if_needed()  # drawn once in view
    expect(chart.locator(".role-axis-label text")).to_have_count(count + 7, timeout=30_000)  # models and classes


def colours_by_run(page: Page, chart_text: str) -> dict[str, str]:
    """The colour of each legend entry of the chart holding `chart_text`."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text=chart_text).first
    chart.scroll_into_view_if_needed()
    return chart.evaluate("""node => Object.fromEntries(Array.from(node.querySelectorAll('.role-legend-symbol path'))
        .map((symbol, i) => [node.querySelectorAll('.role-legend-label text')[i].textContent,
                             symbol.getAttribute('fill') || symbol.getAttribute('stroke')]))""")


def test_the_documentation_picture_of_compare(browser, tmp_path):  # noqa: F811
    home = tmp_path / "home"
    ids = [run.run_id for run in named_runs(RunStore(home / "runs"), 3)]
    process, url = start_server(home)
    try:
        page = new_page(browser)
        open_page(page, f"{url}/compare?" + "&".join(f"run={run_id}" for run_id in ids))
        whole_page(page)
        no_exceptions(page)
        curves, bars = colours_by_run(page, "validation loss"), colours_by_run(page, "test F1")
        assert len(curves) == 6 and len(set(curves.values())) == 6
        assert bars == curves  # a run keeps its colour from the curves to the per-label bars
        assert legibility_problems(page) == []
        top = page.get_by_role("heading", name="Training curves").bounding_box()
        chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="validation loss").first
        bottom = chart.bounding_box()
        main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
        clip = {"x": main["x"], "y": top["y"] - 16, "width": main["width"],
                "height": bottom["y"] + bottom["height"] - top["y"] + 32}
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "docs-compare.png"), clip=clip)
        if os.environ.get("GOEMO_DOC_IMAGES") == "1":
            DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOC_IMAGE), clip=clip)

        # the same runs as one HTML report, made when the button is clicked
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="Download a report (HTML)").click()
        assert download.value.suggested_filename == "goemo-report.html"
        report = Path(download.value.path()).read_text(encoding="utf-8")
        assert report.count('data-chart="confusion"') == 6 and 'data-section="summary"' in report
        assert all(run_id in report for run_id in ids) and "<script" not in report
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert DOC_IMAGE.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the picture the documentation links to


def test_every_page_stays_legible_with_16_runs(browser, tmp_path):  # noqa: F811
    home = tmp_path / "home"
    runs = runs_with_weights(RunStore(home / "runs"), 8)
    process, url = start_server(home)
    shots = SHOTS / "16-runs"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        for name in PAGES:
            page = new_page(browser)
            query = "?" + "&".join(f"run={run.run_id}" for run in runs) if name == "compare" else ""
            open_page(page, f"{url}/{name}{query}")
            if name == "classify":  # every model at once
                pick_every_model(page, len(runs))
            whole_page(page)
            no_exceptions(page)
            page.screenshot(path=str(shots / f"{name or 'home'}.png"), full_page=True)
            assert legibility_problems(page) == [], name or "home"
            if name == "compare":
                curves = colours_by_run(page, "validation loss")
                assert len(curves) == 16 and len(set(curves.values())) == 16
            page.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
