"""What a benchmark grid costs its PostgreSQL storage (docs/multi-machine.md, section 7): transactions committed per
enqueued cell, per trained cell and per look of an idle worker, counted by PostgreSQL itself (pg_stat_database) on a
throwaway server (initdb, as the tests start one), with tiny cells trained on the CPU by one worker.

    python scripts/grid_costs.py [--cells 4] [--epochs 2] [--polls 20]

Prints one JSON document. Needs PostgreSQL's server binaries (initdb, pg_ctl) and the data (GOEMO_DATA_DIR)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

STATS_DELAY_S = 1.0  # PostgreSQL publishes its counters shortly after a transaction ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()

    import psycopg
    from servers import running_postgres

    from goemo_core import tune
    from goemo_core.bench.grid import enqueue_grid, grid_cells
    from goemo_core.jobs.worker import Worker, WorkerOptions

    tiny = {"hidden_size": 16, "embedding_dim": 16, "head_units": 16, "limit": 200, "epochs": args.epochs,
            "pretrained": "none"}
    with running_postgres("goemo", "costs", "grid") as (port, _):
        url = f"postgresql+psycopg://goemo:costs@127.0.0.1:{port}/grid"

        def transactions() -> int:
            time.sleep(STATS_DELAY_S)
            with psycopg.connect(host="127.0.0.1", port=port, user="goemo", password="costs",
                                 dbname="postgres") as connection:
                return connection.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                          "WHERE datname = 'grid'").fetchone()[0]

        tune.open_storage(url)  # Optuna's tables, not counted below
        start = transactions()
        cells = grid_cells(["gru"], range(211, 211 + args.cells), None, tiny)
        enqueue_grid("costs", cells, url)
        enqueued = transactions()
        worker = Worker(WorkerOptions(storage=url, studies=("costs",), exit_when_idle=True, poll_s=1, device="cpu"))
        started = time.perf_counter()
        done = worker.serve()["done"]
        seconds = time.perf_counter() - started
        trained = transactions()
        for _ in range(args.polls):
            worker.claim()
        polled = transactions()
        every = Worker(WorkerOptions(storage=url, device="cpu"))  # no --study: every grid and tuning queue
        for _ in range(args.polls):
            every.claim()
        polled_all = transactions()
        tune.close_storages()
    print(json.dumps({
        "cells": done, "epochs_per_cell": args.epochs, "seconds_per_cell": round(seconds / max(1, done), 1),
        "transactions_per_enqueued_cell": round((enqueued - start) / args.cells, 1),
        "transactions_per_trained_cell": round((trained - enqueued) / max(1, done), 1),
        "transactions_per_idle_look_one_study": round((polled - trained) / args.polls, 1),
        "transactions_per_idle_look_every_study": round((polled_all - polled) / args.polls, 1)}))


if __name__ == "__main__":
    main()
