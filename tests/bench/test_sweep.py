"""`bench distill`: the grid's points (α = 0 trained once), the point chosen on validation, runs reused on a rerun."""

import pytest

from goemo_core.bench.distill_sweep import bench_distill, distill_plan, sweep_configs, sweep_table
from goemo_core.errors import InvalidConfig
from goemo_core.runs.store import RunStore
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run

TINY = {"limit": 60, "epochs": 1, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu",
        "pretrained": None}


def test_the_grid_trains_the_student_without_the_teachers_term_once():
    points = sweep_configs("gru", ["t"], [0.0, 0.5], [1.0, 4.0], [0, 2], seeds=2)
    settings = [(p[0].distill_weight, p[0].distill_temperature, p[0].transfer_augment) for p in points]
    assert settings == [(0.0, 1.0, 0), (0.5, 1.0, 0), (0.5, 1.0, 2), (0.5, 4.0, 0), (0.5, 4.0, 2)]
    assert all([c.seed for c in p] == [211, 212] and c.teachers == ("t",) for p in points for c in p)
    with pytest.raises(InvalidConfig, match="distill_temperature"):
        sweep_configs("gru", ["t"], [0.5], [0.0], [0], seeds=1)


def test_the_sweep_chooses_on_validation_and_reuses_its_runs(goemo_env):
    teacher = train_run(make_config("gru", {**TINY, "seed": 7})).run
    overrides = {key: value for key, value in TINY.items()}
    document = bench_distill("gru", [teacher.run_id], [0.0, 0.5], [2.0], [0, 1], overrides=overrides)
    rows = document["rows"]
    assert [(r["distill_weight"], r["transfer_augment"]) for r in rows] == [(0.0, 0), (0.5, 0), (0.5, 1)]
    chosen = max(rows, key=lambda r: r["val_accuracy_mean"])
    assert [r["chosen"] for r in rows].count(True) == 1 and chosen["chosen"]
    assert document["chosen"]["transfer_augment"] == chosen["transfer_augment"]
    assert "✓" in sweep_table(document)
    count = len(RunStore().list())
    plan = distill_plan("gru", [teacher.run_id], [0.0, 0.5], [2.0], [0, 1, 2], overrides=overrides)
    assert [row["state"] for row in plan] == ["completed", "completed", "completed", "new"]  # N = 2 is new
    assert plan[3]["model"] == "distill_weight=0.5, distill_temperature=2.0, transfer_augment=2"
    said = []  # the teacher chosen on validation: the only plain BiGRU here (students are never candidates)
    assert distill_plan("gru", ["best:gru"], [0.0, 0.5], [2.0], [0, 1, 2], overrides=overrides,
                        log=said.append) == plan
    assert said and said[0].startswith(f"best:gru is {teacher.run_id}, the best on validation of 1 completed gru run")
    with pytest.raises(Exception, match="missing-run"):
        distill_plan("gru", ["missing-run"], [0.5], [2.0], [0], overrides=overrides)
    again = bench_distill("gru", [teacher.run_id], [0.0, 0.5], [2.0], [0, 1], overrides=overrides)
    assert len(RunStore().list()) == count and [r["run_ids"] for r in again["rows"]] == [r["run_ids"] for r in rows]
