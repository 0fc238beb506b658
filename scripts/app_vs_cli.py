"""A Train-page job against the same `train` from the command line: the epoch seconds of the page's default run
(BiLSTM, limit 1,000, 2 epochs) in interleaved pairs, the page open in headless Chromium all along; and the server's
own CPU time per job, and per second with an idle Train page open.

Usage: python scripts/app_vs_cli.py ARTIFACTS_FOLDER [PAIRS]
(GOEMO_DATA_DIR, GOEMO_PRETRAINED, … from the environment; needs Debian's chromium and the playwright package.)
Prints JSON with both runs' epoch seconds, the per-pair ratios and their median."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
LIMIT, EPOCHS, PORT = 1000, 2, 8768
URL = f"http://127.0.0.1:{PORT}"
FINISHED = ("completed", "failed", "cancelled")


def server_cpu_seconds(pid: int) -> float:
    """utime + stime of the server process itself (its job workers are other processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cli_epochs(env: dict) -> list[float]:
    out = subprocess.run([sys.executable, "-m", "goemo_core", "train", "--arch", "lstm", "--limit", str(LIMIT),
                          "--epochs", str(EPOCHS), "--set", "patience=10", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [record["seconds"] for record in json.loads(out.stdout)["history"]]


def fill(page: Page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input").first
    field.fill(str(value))
    field.press("Enter")
    page.wait_for_timeout(1500)


def app_epochs(page: Page, runs: Path, server_pid: int) -> tuple[list[float], float]:
    """Launch the page's default architecture with the CLI run's settings; wait, page open, until its run ends.
    Returns its epoch seconds and the server's CPU seconds from the launch to the end."""
    page.goto(URL + "/train")
    page.wait_for_selector(".st-key-train_limit input")
    fill(page, "train_limit", LIMIT)
    page.get_by_text("Hyperparameters").first.click()
    fill(page, "r-epochs", EPOCHS)
    fill(page, "r-patience", 10)
    existing = set(runs.iterdir()) if runs.exists() else set()
    page.locator(".st-key-train_launch button").click()
    before = server_cpu_seconds(server_pid)
    while True:
        page.wait_for_timeout(1000)
        new = [d for d in runs.iterdir() if d not in existing and (d / "status").exists()]
        if new and (new[0] / "status").read_text().strip() in FINISHED:
            history = (new[0] / "history.jsonl").read_text().splitlines()
            return [json.loads(line)["seconds"] for line in history], server_cpu_seconds(server_pid) - before


def main(home: Path, pairs: int) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    # one torch thread for the CLI run and the job's worker alike: the other core serves the browser and the server
    env = {**os.environ, "GOEMO_HOME": str(home), "GOEMO_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                                   str(PORT), "--server.headless", "true"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(URL + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        results = {"app": [], "cli": [], "server_cpu_per_job_s": []}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                 headless=True, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(180_000)
            page.goto(URL + "/train")
            page.wait_for_selector(".st-key-train_limit input")
            page.wait_for_timeout(3000)
            before = server_cpu_seconds(server.pid)
            page.wait_for_timeout(30_000)
            results["server_cpu_idle_page_per_s"] = (server_cpu_seconds(server.pid) - before) / 30
            for _ in range(pairs):
                results["cli"].append(cli_epochs(env))
                epochs, server_seconds = app_epochs(page, home / "runs", server.pid)
                results["server_cpu_per_job_s"].append(server_seconds)
                results["app"].append(epochs)
                print("cli", results["cli"][-1], "app", epochs, file=sys.stderr, flush=True)
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    ratios = [statistics.mean(a) / statistics.mean(c) for a, c in zip(results["app"], results["cli"])]
    return {**results, "ratio_app_over_cli_per_pair": ratios, "median_ratio": statistics.median(ratios)}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3), indent=1))
