"""How long each page of the app takes to open with N run folders: serves the app on an artifacts folder holding two
tiny trained runs and N − 2 copies of them (their weights hard-linked, their seeds, names, tags and metrics varied),
then opens every page in headless Chromium several times and prints each page's median open time.

A page is open when Streamlit's script run has finished (the app's `data-test-script-state` is `notRunning`); the
first load of every page (it imports what the page needs) is shown apart from the median. Beside the wall time, the
CPU seconds the server spent on each load: on a busy machine the wall time mostly measures the wait for a core, the
CPU time what the page itself costs (about its wall time on an idle machine).

With --script, no server and no browser: each page's script is run in Streamlit's AppTest and the CPU seconds of its
script thread are measured (the page's own cost, steady on a busy machine; the browser's drawing is not in it).

Usage: python scripts/page_times.py [--runs N] [--loads K] [--home FOLDER] [--script] [--json]
(GOEMO_DATA_DIR, NLTK_DATA from the environment; needs Debian's chromium and the playwright package.)"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGES = ["", "data", "augment", "train", "tune", "compare", "classify"]  # "" is Home
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LINKED = ("model.safetensors", "tokenizer.json", "probabilities.safetensors")  # large and never written again


def tiny_runs(home: Path) -> list[Path]:
    """Two tiny completed runs (a BiLSTM and a BiGRU, 200 examples, 2 epochs) trained into `home`."""
    os.environ["GOEMO_HOME"] = str(home)
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    folders = []
    for arch in ("lstm", "gru"):
        config = make_config(arch, {"limit": 200, "epochs": 2, "device": "cpu", "pretrained": None},
                             params={"embedding_dim": 16, "hidden_size": 16, "head_units": 16})
        folders.append(train_run(config).run.path)
    return folders


def copy_run(source: Path, runs: Path, number: int, rng: random.Random) -> None:
    """A copy of `source` as a run of its own: a fresh id (older than the trained runs), another seed, name, tag
    and test and validation metrics; the weights and tokenizer are hard links."""
    config = json.loads((source / "config.json").read_text())
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() - 3600 - number * 60))
    run_id = f"{config['arch']}-{stamp}-{number:04x}"
    target = runs / run_id
    target.mkdir()
    for path in source.iterdir():
        if path.name in LINKED:
            os.link(path, target / path.name)
        elif path.is_file():
            shutil.copyfile(path, target / path.name)
    seed = 1000 + number // 3  # three copies share a recipe, as repeats over seeds would
    config.update(run_id=run_id, seed=seed, created=stamp.replace("-", " "), limit=None,  # as full-data runs
                  params={**config["params"], "hidden_size": 16 + 8 * (number % 7)})
    (target / "config.json").write_text(json.dumps(config))
    metrics = json.loads((source / "metrics.json").read_text())
    shift = rng.uniform(-3, 3)
    metrics["accuracy"] = round(metrics["accuracy"] + shift, 2)
    metrics["macro_f1"] = round(max(0.0, metrics["macro_f1"] + shift / 100), 4)
    if isinstance(metrics.get("validation"), dict):
        metrics["validation"]["accuracy"] = round(metrics["validation"]["accuracy"] + shift, 2)
    (target / "metrics.json").write_text(json.dumps(metrics))
    (target / "label.json").write_text(json.dumps({"name": f"copy {number}", "tags": [f"group{number % 5}"],
                                                   "note": ""}))


def make_home(home: Path, count: int) -> None:
    """`count` run folders under home/runs: two trained, the rest copies."""
    trained = tiny_runs(home)
    rng = random.Random(211)
    for number in range(max(0, count - len(trained))):
        copy_run(trained[number % len(trained)], home / "runs", number, rng)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GOEMO_HOME": str(home), "GOEMO_DEVICE": "cpu",
           "GOEMO_OPTUNA_STORAGE": f"sqlite:///{home}/optuna.db"}
    log = open(home / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                                str(port), "--server.headless", "true"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the app did not start: see " + str(home / "server.log"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_seconds(browser, url: str, server: int) -> tuple[float, float]:
    """Seconds from navigating to `url` in a fresh tab to the end of the page's script run, and the CPU seconds the
    server spent meanwhile (what the wall time would be on an idle machine, less the browser's share)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        started, cpu = time.perf_counter(), cpu_seconds(server)
        page.goto(url)
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=180_000)
        return time.perf_counter() - started, cpu_seconds(server) - cpu
    finally:
        page.close()


def measure(url: str, loads: int, server: int) -> tuple[dict[str, float], dict[str, list[float]],
                                                        dict[str, list[float]]]:
    """Each page's first load (its imports and caches), then `loads` more: wall and server CPU seconds."""
    from playwright.sync_api import sync_playwright

    first: dict[str, float] = {}
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        for name in PAGES:
            first[name or "home"] = open_seconds(browser, f"{url}/{name}", server)[0]
        for _ in range(loads):  # pages interleaved, so a busy moment of the machine spreads over all of them
            for name in PAGES:
                wall, used = open_seconds(browser, f"{url}/{name}", server)
                times.setdefault(name or "home", []).append(wall)
                cpu.setdefault(name or "home", []).append(used)
        browser.close()
    return first, times, cpu


PAGE_FILES = {"home": "app_pages/study/home.py", "data": "app_pages/study/data.py",
              "augment": "app_pages/study/augment.py", "train": "app_pages/experiments/train.py",
              "tune": "app_pages/experiments/tune.py", "compare": "app_pages/experiments/compare.py",
              "classify": "app_pages/experiments/classify.py"}
SCRIPT_RUNNER = """import os, runpy, sys, time
sys.path.insert(0, {root!r})
os.chdir({root!r})
started = time.thread_time()
try:
    runpy.run_path(os.environ["PAGE_FILE"], run_name="__main__")
finally:  # st.stop() ends a page early: its time counts too
    with open(os.environ["PAGE_CPU_FILE"], "a") as out:
        out.write(f"{{time.thread_time() - started}}\\n")
"""


def measure_scripts(home: Path, loads: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Each page's script run in AppTest on `home`: the first run's CPU seconds (imports, caches), then `loads`
    reruns'."""
    from streamlit.testing.v1 import AppTest

    os.environ.update(GOEMO_HOME=str(home), GOEMO_DEVICE="cpu", GOEMO_OPTUNA_STORAGE=f"sqlite:///{home}/optuna.db")
    folder = Path(tempfile.mkdtemp(prefix="goemo-page-scripts-"))
    runner = folder / "runner.py"
    runner.write_text(SCRIPT_RUNNER.format(root=str(ROOT)))
    first, cpu = {}, {}
    for name, page in PAGE_FILES.items():
        record = folder / f"{name}.txt"
        os.environ.update(PAGE_FILE=page, PAGE_CPU_FILE=str(record))
        app = AppTest.from_file(str(runner), default_timeout=600)
        for _ in range(loads + 1):
            app.run()
        if app.exception:
            raise SystemExit(f"{name}: {app.exception[0].value}")
        seconds = [float(line) for line in record.read_text().split()]
        first[name], cpu[name] = seconds[0], seconds[1:]
    shutil.rmtree(folder, ignore_errors=True)
    return first, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="run folders in the artifacts folder")
    parser.add_argument("--loads", type=int, default=5, help="timed loads of each page (after one warm-up)")
    parser.add_argument("--home", type=Path, help="artifacts folder to build (default: a temporary one)")
    parser.add_argument("--script", action="store_true",
                        help="measure each page's script CPU in AppTest (no server, no browser)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="goemo-page-times-"))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "runs").is_dir():
        make_home(home, args.runs)
    if args.script:
        report_scripts(home, args.loads, args.json)
        return
    process, url = serve(home)
    try:
        first, times, cpu = measure(url, args.loads, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    load = [round(value, 2) for value in os.getloadavg()]
    runs = sum(1 for _ in (home / "runs").iterdir())
    if args.json:
        print(json.dumps({"runs": runs, "loads": args.loads, "load_average": load,
                          "median_s": {page: round(statistics.median(t), 2) for page, t in times.items()},
                          "first_s": {page: round(t, 2) for page, t in first.items()},
                          "server_cpu_s": {page: round(statistics.median(t), 2) for page, t in cpu.items()},
                          "seconds": times}))
        return
    print(f"{runs} run folders · median of {args.loads} loads after the first · load average {load}")
    for page, values in times.items():
        print(f"{page:<9} {statistics.median(values):6.2f} s   (min {min(values):.2f}, max {max(values):.2f}; "
              f"server CPU {statistics.median(cpu[page]):.2f} s; first load {first[page]:.2f} s)")


def report_scripts(home: Path, loads: int, as_json: bool) -> None:
    first, cpu = measure_scripts(home, loads)
    runs = sum(1 for _ in (home / "runs").iterdir())
    if as_json:
        print(json.dumps({"runs": runs, "loads": loads, "first_cpu_s": {p: round(t, 3) for p, t in first.items()},
                          "script_cpu_s": {p: round(statistics.median(t), 3) for p, t in cpu.items()},
                          "seconds": cpu}))
        return
    print(f"{runs} run folders · script CPU, median of {loads} reruns after the first")
    for page, values in cpu.items():
        print(f"{page:<9} {statistics.median(values):6.3f} s   (min {min(values):.3f}, max {max(values):.3f}; "
              f"first run {first[page]:.2f} s)")


if __name__ == "__main__":
    main()
