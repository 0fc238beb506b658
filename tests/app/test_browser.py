"""End to end in a real browser: `streamlit run streamlit_app.py` on a free port, driven in headless Chromium.
Walks the user's path (Data → Augment → Train with a reload mid-run → Compare → Classify → Tune) and two browser
sessions launching jobs at once. Screenshots of every page go to test-screenshots/ (or $GOEMO_SCREENSHOTS)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DATA_DIR, NLTK_DIR, ROOT
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("GOEMO_SCREENSHOTS") or ROOT / "test-screenshots")
STEP_TIMEOUT_MS = 120_000
expect.set_options(timeout=STEP_TIMEOUT_MS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run streamlit_app.py` on a free port with its own artifacts folder; its output goes to
    home/server.log."""
    port = free_port()
    env = {**os.environ, "GOEMO_HOME": str(home), "GOEMO_DATA_DIR": str(DATA_DIR), "NLTK_DATA": str(NLTK_DIR),
           "GOEMO_DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "GOEMO_OPTUNA_STORAGE": f"sqlite:///{home}/optuna.db"}
    env.pop("GOEMO_PRETRAINED", None)
    log = open(home / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    pytest.fail("streamlit did not start:\n" + (home / "server.log").read_text()[-3000:])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser-home")
    process, url = start_server(home)
    yield url, home
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def new_page(browser) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    return page


def idle(page: Page) -> None:
    """Wait until the script run finished (Streamlit's running indicator is gone)."""
    page.wait_for_timeout(300)
    # the app's own record of its script run: "initial" before the first run, "running", then "notRunning"
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute("data-test-script-state", "notRunning",
                                                                    timeout=STEP_TIMEOUT_MS)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=STEP_TIMEOUT_MS)
    # a rerun that rebuilt a block (tabs, columns) leaves the old copy on screen, marked stale, until it ends
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=STEP_TIMEOUT_MS)


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator('[data-testid="stApp"]')).to_be_visible()
    idle(page)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def set_number(page: Page, key: str, value) -> None:
    field = page.locator(f".st-key-{key} input").first
    field.fill(str(value))
    field.press("Enter")
    idle(page)


def choose(page: Page, key: str, option: str) -> None:
    """Pick `option` in the selectbox of `key`: type it into the box's input, then take the one option left."""
    box = page.locator(f".st-key-{key} input").first
    for attempt in range(3):  # a rerun that lands meanwhile closes the list: open it again
        box.click()
        box.fill(option)
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=20_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")
            idle(page)
    idle(page)


def no_exceptions(page: Page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def launch_tiny_job(page: Page, url: str, epochs: int, limit: int = 300) -> None:
    open_page(page, f"{url}/train")
    set_number(page, "train_limit", limit)
    page.get_by_text("Hyperparameters").first.click()
    for key, value in (("p-lstm-hidden_size", 16), ("p-lstm-embedding_dim", 16), ("p-lstm-head_units", 16),
                       ("r-epochs", epochs), ("r-patience", epochs)):
        set_number(page, key, value)
    page.locator(".st-key-train_launch button").click()
    expect(page.get_by_text(re.compile(r"Launched \d+ job"))).to_be_visible()


def wait_for_cards(page: Page, completed: int, timeout: float = 240) -> None:
    """Poll until at least `completed` job cards say completed and none is running or queued."""
    cards = page.locator('[class*="st-key-job-card-"]')
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = cards.filter(has_text="completed").count()
        busy = cards.filter(has_text=re.compile(r"\b(running|queued)\b")).count()
        if done >= completed and busy == 0:
            return
        page.wait_for_timeout(1000)
    pytest.fail(f"job cards: {cards.count()} shown, {cards.filter(has_text='completed').count()} completed")


def test_user_path(server, browser):
    url, home = server
    page = new_page(browser)

    open_page(page, url)
    expect(page.get_by_text("Running jobs")).to_be_visible()
    shot(page, "01-home")

    open_page(page, f"{url}/data")
    expect(page.get_by_text("Ekman classes").first).to_be_visible()
    expect(page.locator(".vega-embed").first).to_be_visible()
    no_exceptions(page)
    shot(page, "02-data")

    open_page(page, f"{url}/augment")
    typed = page.locator(".st-key-aug_typed input")
    typed.fill("I am so happy you came to the party tonight")
    typed.press("Enter")
    idle(page)
    page.locator(".st-key-aug_preview button").click()
    expect(page.get_by_text("Original:")).to_be_visible(timeout=180_000)
    idle(page)
    no_exceptions(page)
    shot(page, "03-augment")

    launch_tiny_job(page, url, epochs=4)
    page.reload()  # mid-run: the job lives in the server, not in the browser session
    expect(page.locator('[data-testid="stApp"]')).to_be_visible()
    card = page.locator('[class*="st-key-job-card-"]').first
    expect(card).to_be_visible()
    expect(card).to_contain_text("completed", timeout=240_000)
    idle(page)
    no_exceptions(page)
    shot(page, "04-train")

    open_page(page, f"{url}/compare")
    expect(page.get_by_text("Confusion matrices").first).to_be_visible()
    expect(page.locator(".vega-embed").last).to_be_visible()
    no_exceptions(page)
    shot(page, "05-compare")

    open_page(page, f"{url}/classify")
    text = page.locator(".st-key-classify_text textarea")
    text.fill("I love this so much, thank you!")
    text.press("Control+Enter")
    idle(page)
    metric = page.locator('[data-testid="stMetricValue"]').first
    expect(metric).to_have_text(re.compile("anger|disgust|fear|joy|sadness|surprise|neutral"))
    no_exceptions(page)
    shot(page, "06-classify")

    open_page(page, f"{url}/tune")
    link = page.locator('.st-key-tune_dashboard a[href*="127.0.0.1"][href*="/dashboard"]')  # no button to press first
    expect(link).to_be_visible(timeout=60_000)
    assert urllib.request.urlopen(link.get_attribute("href"), timeout=30).status == 200
    no_exceptions(page)
    shot(page, "07-tune")
    page.close()


def test_two_sessions_launch_jobs_at_the_same_time(server, browser):
    url, home = server
    first, second = new_page(browser), new_page(browser)
    for page in (first, second):
        launch_tiny_job(page, url, epochs=1, limit=200)
    for page in (first, second):
        page.reload()
        expect(page.locator('[data-testid="stApp"]')).to_be_visible()
        wait_for_cards(page, completed=2)  # both sessions see both jobs: the manager is process-wide
        no_exceptions(page)
    shot(second, "08-two-sessions")
    completed = [p for p in (home / "runs").iterdir() if (p / "status").read_text().strip() == "completed"]
    assert len(completed) >= 2
    first.close()
    second.close()


def test_hyperparameters_stay_open_while_jobs_appear_above_them(server, browser):
    url, home = server
    editing, launching = new_page(browser), new_page(browser)
    open_page(editing, f"{url}/train")
    editing.get_by_text("Hyperparameters").first.click()
    set_number(editing, "p-lstm-hidden_size", 16)
    launch_tiny_job(launching, url, epochs=1, limit=200)  # another session's job: a card appears above the form
    set_number(editing, "p-lstm-head_units", 16)  # the next edit reruns the page with the card shown
    expect(editing.locator('[class*="st-key-job-card-"]').first).to_be_visible()
    expect(editing.locator(".st-key-p-lstm-embedding_dim input").first).to_be_visible()
    wait_for_cards(editing, completed=1)
    no_exceptions(editing)
    editing.close()
    launching.close()


def fake_curves(store, n: int, spaced: bool = True, tags: tuple[str, str] = ("baseline", "trial")) -> list[str]:
    """`n` completed runs with a few epochs of curves and a measured cost (no training), newest last, named
    "run <i>" and tagged tags[0] (even i) or tags[1] (odd i). `spaced`: a second apart, so the table's order is
    known."""
    from conftest import fake_run

    from goemo_core.runs.folder import RunLabel

    ids = []
    for i in range(n):
        run = fake_run(store, ("gru", "lstm")[i % 2], 300 + i, 60.0 + i)
        epochs = 1 + i % 5
        run.write_history([{"epoch": e, "train_loss": 1.5 - 0.1 * e, "val_loss": 1.4 - 0.05 * e,
                            "train_accuracy": 50.0 + 3 * e, "val_accuracy": 55.0 + 2 * e + i / 3,
                            "val_macro_f1": 0.4 + 0.02 * e, "seconds": 2.0, **({"best": True} if e == epochs else {})}
                           for e in range(1, epochs + 1)])
        run.write_json("info.json", {"best_epoch": epochs, "parameters": 1000 * (i + 1), "seconds": 5.0 * (i + 1)})
        run.write_json("metrics.json", {**run.metrics, "cost": {
            "cpu_latency_ms": 1.0 + i, "cpu_sentences_per_s": 1000.0 / (1 + i), "parameters": 1000 * (i + 1),
            "trainable_parameters": 900 * (i + 1), "train_seconds": 5.0 * (i + 1)}})
        run.set_label(RunLabel.clean(f"run {i}", (tags[i % 2],)))
        ids.append(run.run_id)
        if spaced:
            time.sleep(1.01)  # run ids sort by their creation second: one per second keeps the order known
    return ids


CURVE_TITLES = ["train loss", "validation loss", "train accuracy (%)", "validation accuracy (%)",
                "validation macro-F1"]


def curves_chart(page: Page):
    """Compare's training curves: one chart, a plot per metric, one legend."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="validation loss").first
    chart.scroll_into_view_if_needed()  # drawn once scrolled into view
    return chart


def curve_plot_heights(page: Page) -> dict[str, float]:
    """Each training-curve plot's height in the page (the extent of its grid lines), by its title."""
    curves_chart(page)
    page.wait_for_timeout(500)
    heights = page.evaluate("""() => Object.fromEntries(
        Array.from(document.querySelectorAll(
            '[data-testid="stVegaLiteChart"] svg g[class*="concat_"][class$="_group"]')).map(plot => {
            const title = plot.querySelector('.role-title-text');
            const grids = Array.from(plot.querySelectorAll('.role-axis-grid'));
            return [title ? title.textContent : '', Math.max(0, ...grids.map(g => g.getBoundingClientRect().height))];
        }))""")
    return {title: height for title, height in heights.items() if title in CURVE_TITLES}


def plotted_runs(page: Page, expected: set[str], timeout: float = 20) -> set[str]:
    """The runs the curves draw, once they are `expected` (a redrawn chart may still hold the lines it had)."""
    deadline = time.time() + timeout
    while set(line_opacities(page)) != expected and time.time() < deadline:
        page.wait_for_timeout(250)
    return set(line_opacities(page))


def line_opacities(page: Page) -> dict[str, list[float]]:
    """The opacity of every curve line, by run (from the lines' labels), in the order the plots draw them."""
    return page.evaluate("""() => {
        const lines = {};
        for (const path of document.querySelectorAll('[data-testid="stVegaLiteChart"] svg .mark-line path')) {
            const run = (path.getAttribute('aria-label') || '').match(/run: ([^;]+)/);
            if (run) (lines[run[1]] = lines[run[1]] || []).push(Number(path.getAttribute('opacity') ?? 1));
        }
        return lines;
    }""")


def select_rows(page: Page, rows: list[int]) -> None:
    """Click the row-selection boxes of the runs table (a canvas grid: by position)."""
    table = page.locator('[data-testid="stDataFrame"]').first
    for row in rows:  # the table's place is read again before each click: a rerun may move what is above it
        table.scroll_into_view_if_needed()
        box = table.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + 35 * (row + 1) + 17)
        idle(page)


def test_compare_curves_stay_readable_with_2_and_8_runs(server, browser):
    from goemo_core.runs.store import RunStore

    url, home = server
    fake_curves(RunStore(home / "runs"), 8)  # the 8 newest runs: the first rows of the table
    page = new_page(browser)
    open_page(page, f"{url}/compare")
    expect(page.get_by_text("Training curves")).to_be_visible()
    from urllib.parse import parse_qs, urlparse

    # selected by default: whole recipes, newest first: the 8 newest runs are two recipes of 4 seeds
    assert len(parse_qs(urlparse(page.url).query).get("run", [])) == 8, page.url
    select_rows(page, [2, 3, 4, 5, 6, 7])  # keep 2
    heights = curve_plot_heights(page)
    assert len(heights) == 5 and min(heights.values()) >= 150, heights
    no_exceptions(page)
    shot(page, "09-compare-2-runs")

    select_rows(page, [2, 3, 4, 5, 6, 7])  # 8 selected again
    selected = parse_qs(urlparse(page.url).query).get("run", [])  # the permalink names the selected runs
    assert len(selected) == 8, page.url
    expect(curves_chart(page).locator("svg .role-legend-symbol path")).to_have_count(len(selected))  # one legend
    heights = curve_plot_heights(page)
    assert len(heights) == 5 and min(heights.values()) >= 150, heights
    expect(page.get_by_text("Accuracy against cost")).to_be_visible()
    no_exceptions(page)
    shot(page, "10-compare-8-runs")
    page.close()


def test_stopping_the_server_keeps_a_running_jobs_work(browser, tmp_path):
    """Ctrl+C on the server while a job trains: the worker stops after its batch and keeps the best epoch so far,
    and the server stops cleanly (no C++ 'terminate called', no traceback)."""
    process, url = start_server(tmp_path)
    try:
        page = new_page(browser)
        launch_tiny_job(page, url, epochs=30, limit=2000)
        deadline = time.time() + 240
        while time.time() < deadline:
            histories = list((tmp_path / "runs").glob("*/history.jsonl"))
            if histories and histories[0].read_text().strip():
                break
            time.sleep(1)
        else:
            pytest.fail("no epoch finished")
        page.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    [run] = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert (run / "status").read_text().strip() == "cancelled"
    assert (run / "model.safetensors").is_file() and (run / "metrics.json").is_file()
    log = (tmp_path / "server.log").read_text()
    assert "terminate called" not in log and "Traceback" not in log, log[-2000:]


def test_compare_16_runs_a_legend_click_isolates_a_run_tags_filter_and_a_copied_link_reopens(server, browser):
    from urllib.parse import parse_qs, urlparse

    from goemo_core.runs.store import RunStore

    url, home = server
    ids = fake_curves(RunStore(home / "runs"), 16, spaced=False, tags=("even", "odd"))  # run 0 … run 15
    page = new_page(browser)
    open_page(page, f"{url}/compare?" + "&".join(f"run={run_id}" for run_id in ids))
    legend = curves_chart(page).locator("svg .role-legend-label text")
    expect(legend).to_have_count(16)  # one legend for all the plots, an entry per run, each its own colour
    colours = curves_chart(page).locator("svg .role-legend-symbol path").evaluate_all(
        "symbols => symbols.map(s => s.getAttribute('fill') || s.getAttribute('stroke'))")
    assert len(set(colours)) == 16, colours
    assert plotted_runs(page, {f"run {i}" for i in range(16)}) == {f"run {i}" for i in range(16)}

    legend.filter(has_text=re.compile(r"^run 5$")).click()  # isolates run 5 in every plot
    deadline = time.time() + 20
    while min(line_opacities(page)["run 5"]) < 1.0 or max(line_opacities(page)["run 0"]) == 1.0:
        assert time.time() < deadline, line_opacities(page)
        page.wait_for_timeout(250)
    opacities = line_opacities(page)
    assert len(opacities["run 5"]) == 5 and min(opacities["run 5"]) == 1.0, opacities["run 5"]
    assert max(value for run, values in opacities.items() if run != "run 5" for value in values) < 0.5
    no_exceptions(page)
    shot(page, "11-compare-16-runs-legend-click")

    tags = page.locator(".st-key-compare-filter-tag input")
    tags.click()
    tags.fill("even")
    tags.press("Enter")
    page.keyboard.press("Escape")
    idle(page)
    expect(page.get_by_text(re.compile(r"^8 of \d+ runs match the filters"))).to_be_visible()
    expect(legend).to_have_count(8)  # the selection keeps the linked runs the filter leaves
    even = {f"run {i}" for i in range(0, 16, 2)}
    assert plotted_runs(page, even) == even
    query = parse_qs(urlparse(page.url).query)
    assert query["tag"] == ["even"] and sorted(query["run"]) == sorted(ids[0::2]), page.url
    link = page.url
    page.close()

    copied = new_page(browser)  # the copied link, in a fresh session
    open_page(copied, link)
    expect(copied.locator(".st-key-compare-filter-tag")).to_contain_text("even")
    expect(copied.get_by_text(re.compile(r"^8 of \d+ runs match the filters"))).to_be_visible()
    expect(curves_chart(copied).locator("svg .role-legend-label text")).to_have_count(8)
    assert plotted_runs(copied, even) == even
    assert parse_qs(urlparse(copied.url).query) == query  # the link stays what it was
    no_exceptions(copied)
    shot(copied, "12-compare-copied-link")
    copied.close()


def test_classify_shows_several_labels_of_a_multi_label_run(server, browser, monkeypatch):
    from goemo_core.data.tasks import get_task
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    url, home = server
    for key, value in (("GOEMO_HOME", str(home)), ("GOEMO_DATA_DIR", str(DATA_DIR)), ("GOEMO_DEVICE", "cpu")):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GOEMO_PRETRAINED", raising=False)
    for task in ("ekman", "goemotions"):  # runs of two tasks: Classify asks which
        config = make_config("gru", {"limit": 200, "epochs": 1, "device": "cpu", "pretrained": None,
                                     "task": task, "threshold": 0.05},
                             params={"embedding_dim": 16, "hidden_size": 16, "head_units": 16})
        assert train_run(config).status == "completed"

    page = new_page(browser)
    open_page(page, f"{url}/classify")
    choose(page, "classify_task", get_task("goemotions").description)
    expect(page.get_by_text(re.compile(r"probabilities for the 28 labels"))).to_be_visible()
    shot(page, "13-classify-task-chosen")
    text = page.locator(".st-key-classify_text textarea")
    expect(text).to_have_count(1)  # the tabs drawn before the task was chosen are gone
    text.click()
    text.fill("Thank you so much, what a wonderful surprise!")
    text.press("Control+Enter")
    idle(page)
    shot(page, "14-classify-multi-label")
    shown = page.locator('[data-testid="stMetricValue"]').first
    expect(shown).to_have_text(re.compile(r"\w+, \w+"))  # threshold 0.05: several labels are predicted
    labels = [name.strip() for name in shown.inner_text().split(",")]
    assert len(labels) > 1 and set(labels) <= set(get_task("goemotions").labels), labels
    no_exceptions(page)
    shot(page, "14-classify-multi-label")
    page.close()


def test_a_multi_label_run_launches_at_its_task_defaults_and_its_permalink_reopens_it(server, browser):
    """Choosing a multi-label task restarts the recipe inputs at that task's recipe in the browser too (the widgets
    show and send the new values), so the run launches with no edit; Compare's link names the task, and a link
    with only the run's id finds the task from the run."""
    import json
    from urllib.parse import parse_qs, urlparse

    from goemo_core.data.tasks import get_task

    url, home = server
    before = {p.name for p in (home / "runs").iterdir()} if (home / "runs").is_dir() else set()
    page = new_page(browser)
    open_page(page, f"{url}/train")
    page.get_by_text("Hyperparameters").first.click()
    expect(page.locator(".st-key-r-soft_labels input").first).to_have_value(re.compile(r"^(1|1\.0)$"))
    choose(page, "train_task", f"goemotions: {get_task('goemotions').description}")
    expect(page.locator(".st-key-r-soft_labels input").first).to_have_value("0")  # what the browser shows and sends
    set_number(page, "train_limit", 200)  # a quick run: the data option, no recipe edit
    page.locator(".st-key-train_launch button").click()
    expect(page.get_by_text(re.compile(r"Launched 1 job"))).to_be_visible()
    expect(page.locator('[data-testid="stAlertContentError"]')).to_have_count(0)
    deadline = time.time() + 900  # ten epochs of a default BiLSTM on 200 examples, on a busy 2-core machine
    while time.time() < deadline:
        new = [p for p in (home / "runs").glob("*") if p.name not in before and (p / "status").is_file()]
        if new and (new[0] / "status").read_text().strip() in ("completed", "failed", "cancelled"):
            break
        time.sleep(2)
    [run] = new
    assert (run / "status").read_text().strip() == "completed"
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "goemotions" and config["soft_labels"] == 0 and config["monitor"] == "val_macro_f1"
    shot(page, "15-train-multi-label-at-defaults")

    open_page(page, f"{url}/compare?run={run.name}")  # a link without its task: the run's task is found
    expect(page.get_by_text("Per-label confusion counts (test split)")).to_be_visible()
    query = parse_qs(urlparse(page.url).query)
    assert query["task"] == ["goemotions"] and query["run"] == [run.name], page.url
    link = page.url
    no_exceptions(page)
    page.close()

    copied = new_page(browser)
    open_page(copied, link)
    expect(copied.get_by_text("Per-label confusion counts (test split)")).to_be_visible()
    assert parse_qs(urlparse(copied.url).query) == query
    no_exceptions(copied)
    shot(copied, "16-compare-multi-label-permalink")
    copied.close()


def test_compare_cost_chart_reads_well_in_its_default_cpu_view_and_the_data_charts_too(server, browser):
    """Eight runs near 40 % accuracy measured in one pass under loads that all differ: one legend entry for the
    pass, an accuracy axis spanning the points (the notebook's 62.43 % rule off the axis), every tick label
    different, and the remeasure button counting only the runs it can measure. The Data page's split bars follow
    the legend's order and the co-occurrence heatmap names all 28 labels."""
    from urllib.parse import parse_qs, urlparse

    from goemo_core.runs.store import RunStore

    url, home = server
    ids = fake_curves(RunStore(home / "runs"), 8, spaced=False, tags=("cost-a", "cost-b"))
    for i, run_id in enumerate(ids):
        run = RunStore(home / "runs").get(run_id)
        run.write_json("metrics.json", {**run.metrics, "accuracy": 40.0 + i / 10, "cost": {
            **run.metrics["cost"], "measurement": {"kind": "end of training", "at": "2026-12-06 10:00:00",
                                                   "load": [1.0 + i, 1.0, 1.0], "repeats": 3}}})
    page = new_page(browser)
    open_page(page, f"{url}/compare?" + "&".join(f"run={run_id}" for run_id in ids))
    scatter = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="latency of one sentence").first
    scatter.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    legend_titles = scatter.locator("svg .role-legend-title").evaluate_all("ts => ts.map(t => t.textContent)")
    assert "measured" in legend_titles, legend_titles
    labels = page.evaluate("""() => {
        const chart = Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
            .find(c => c.textContent.includes('latency of one sentence'));
        const legends = Array.from(chart.querySelectorAll('svg .role-legend'));
        const measured = legends.find(l => (l.querySelector('.role-legend-title') || {}).textContent === 'measured');
        const yAxis = Array.from(chart.querySelectorAll('svg .role-axis')).find(
            a => (a.querySelector('.role-axis-title') || {}).textContent?.includes('accuracy'));
        return {measured: Array.from(measured.querySelectorAll('.role-legend-label text')).map(t => t.textContent),
                ticks: Array.from(yAxis.querySelectorAll('.role-axis-label text')).map(t => t.textContent)};
    }""")
    assert labels["measured"] == ["end of training (3 repeats, each run alone)"], labels
    ticks = [float(tick) for tick in labels["ticks"]]
    assert len(ticks) >= 3 and len(set(labels["ticks"])) == len(ticks), labels  # no two ticks alike
    assert 39.0 < min(ticks) and max(ticks) < 41.5, ticks  # the points' range, not squashed by a 62.43 % rule
    # these runs have no weights: the button counts the runs it would measure, and names the others
    expect(page.get_by_text("Measure the CPU cost of these 0 runs again, together").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Not measured again: .*files missing: model.safetensors"))).to_be_visible()
    assert len(parse_qs(urlparse(page.url).query)["run"]) == 8
    no_exceptions(page)
    scatter.screenshot(path=str(SHOTS / "17-compare-cost-chart.png"))
    shot(page, "17-compare-8-runs-cost")

    open_page(page, f"{url}/data")
    choose(page, "data_task", "goemotions: " + __import__("goemo_core.data.tasks", fromlist=["get_task"])
           .get_task("goemotions").description)
    heatmap = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="also labelled").first
    heatmap.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)
    names = heatmap.locator("svg .role-axis-label text").evaluate_all("ts => ts.map(t => t.textContent)")
    assert len(names) == 2 * 28, len(names)  # every label named on both axes
    bars = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="share of the split's examples").filter(
        has_text="admiration").first
    legend = bars.locator("svg .role-legend-label text").evaluate_all("ts => ts.map(t => t.textContent)")
    assert legend == ["train", "validation", "test"], legend
    no_exceptions(page)
    heatmap.screenshot(path=str(SHOTS / "18-data-cooccurrence.png"))
    bars.screenshot(path=str(SHOTS / "19-data-split-bars.png"))
    page.close()
