"""Accuracy under attack over runs: pooled over the completed seeds of each recipe on one sample, tested between two
recipes with Welch's t-test, carried by the summary and the paper tables; a damaged attack file leaves the run
usable; changed words cut out of a text for highlighting."""

import hashlib
import json

import pytest
from conftest import fake_attack, fake_run

from goemo_core.results.robustness import (adversarial_examples, attack_points, attack_problems, marked_segments,
                                           robustness_difference, robustness_table)
from goemo_core.results.summary import seed_summary
from goemo_core.results.tables import paper_table
from goemo_core.runs.attack_files import attack_path, run_attacks
from goemo_core.runs.store import RunStore

def sample(n: int = 20, seed: int = 211) -> dict:
    return {"split": "test", "n": n, "seed": seed, "ids_sha256": hashlib.sha256(f"{n}/{seed}".encode()).hexdigest()}


@pytest.fixture
def two_recipes():
    store = RunStore()
    plain = [fake_run(store, "gru", seed, 66.0 + i) for i, seed in enumerate((211, 212, 213))]
    hardened = [fake_run(store, "gru", seed, 65.0 + i, adversarial=0.05) for i, seed in enumerate((211, 212, 213))]
    for run, failed in zip(plain, (4, 5, 6)):
        fake_attack(run, "pwws", failed)
        fake_attack(run, "pruthi", failed + 6)
    for run, failed in zip(hardened, (10, 11, 12)):
        fake_attack(run, "pwws", failed)
    return store, plain, hardened


def test_accuracy_under_attack_is_pooled_per_recipe_and_tested_between_recipes(two_recipes):
    store, plain, hardened = two_recipes
    table, used = robustness_table(store.list())
    assert used == sample() and len(table) == 2
    rows = {row["changes"]: row for row in table.to_dict(orient="records")}
    base, adv = rows["defaults"], rows["adversarial=0.05"]
    assert base["pwws_per_seed"] == [20.0, 25.0, 30.0] and base["pwws_mean"] == pytest.approx(25.0)
    assert base["pwws"] == "25.00 ± 5.00 (n=3)" and base["clean"] == "80.00 ± 0.00" and base["seeds"] == 3
    assert base["pruthi_per_seed"] == [50.0, 55.0, 60.0] and adv["pruthi"] == "–" and adv["pruthi_per_seed"] == []
    assert adv["pwws_per_seed"] == [50.0, 55.0, 60.0]
    difference = robustness_difference(adv, base).set_index("attack")
    pwws = difference.loc["PWWS (Ren et al. 2019)"]
    assert pwws["A − B (points)"] == pytest.approx(30.0) and pwws["test"].endswith("*")
    assert pwws["seeds"] == "3 vs 3" and "Pruthi et al. 2019" not in difference.index  # B has none: no test

    fake_attack(hardened[0], "deepwordbug", 10)  # one seed attacked: its figure alone, said once
    adv = next(row for row in robustness_table(store.list())[0].to_dict(orient="records")
               if row["changes"] == "adversarial=0.05")
    assert adv["deepwordbug"] == "50.00 (one seed)" and adv["deepwordbug_std"] is None


def test_only_completed_runs_and_attacks_on_the_common_sample_are_pooled(two_recipes):
    store, plain, _ = two_recipes
    fake_attack(plain[0], "deepwordbug", 3, n=10, seed=5)  # another sample: left out of a table on the common one
    cancelled = fake_run(store, "gru", 214, 60.0, status="cancelled")
    fake_attack(cancelled, "pwws", 0)
    table, _ = robustness_table(store.list())
    base = next(row for row in table.to_dict(orient="records") if row["changes"] == "defaults")
    assert base["pwws_per_seed"] == [20.0, 25.0, 30.0] and base["deepwordbug_per_seed"] == []
    points = attack_points(store.list(), {}, sample())
    assert len(points) == 9 and cancelled.run_id not in set(points["run_id"])
    assert (points["under_attack"] <= points["clean"]).all()


def test_the_summary_and_the_paper_tables_carry_accuracy_under_attack(two_recipes):
    store, plain, hardened = two_recipes
    summary = seed_summary(store.list())
    row = summary[summary["changes"] == "defaults"].iloc[0]
    assert row["pwws_under_attack_mean"] == pytest.approx(25.0) and row["pwws_attacked"] == 3
    assert row["pruthi_under_attack_std"] == pytest.approx(5.0)  # the sample std over seeds, as every ±
    assert row["deepwordbug_attacked"] == 0 and row["deepwordbug_under_attack_mean"] is None
    markdown = paper_table(summary, "markdown")
    assert "| Under pwws (%) | Under pruthi (%) |" in markdown and "Under deepwordbug" not in markdown
    assert "25.00 ± 5.00" in markdown and "Under R: accuracy under TextAttack's recipe R" in markdown
    assert "Under pwws" in paper_table(summary, "csv").splitlines()[0]
    plain_summary = seed_summary([fake_run(RunStore(), "lstm", 211, 60.0)])
    assert "Under" not in paper_table(plain_summary[plain_summary["arch"] == "lstm"], "markdown").splitlines()[0]


def test_a_damaged_attack_file_is_reported_and_the_run_stays_usable(two_recipes):
    store, plain, _ = two_recipes
    path = attack_path(plain[0], "pwws")
    document = json.loads(path.read_text())
    document["figures"]["failed"] += 1  # no longer adds up to the examples
    path.write_text(json.dumps(document))
    assert plain[0].refresh().problem is None and plain[0].run_id in {run.run_id for run in store.list()}
    found, problems = run_attacks(plain[0])
    assert "pwws" not in found and "do not add up" in problems["pwws"]
    assert any(plain[0].run_id in line and "pwws" in line for line in attack_problems(store.list()))
    table, _ = robustness_table(store.list())
    assert next(r for r in table.to_dict(orient="records") if r["changes"] == "defaults")["pwws_per_seed"] == [
        25.0, 30.0]


def test_changed_words_are_cut_out_for_highlighting_and_examples_are_filtered_by_result(two_recipes):
    _, plain, _ = two_recipes
    text = "so <b>happy</b> & glad"
    assert marked_segments(text, [[3, 15], [18, 22]]) == [("so ", False), ("<b>happy</b>", True), (" & ", False),
                                                           ("glad", True)]
    assert marked_segments("abc", [[1, 9], [0, 1]]) == [("a", True), ("bc", False)]  # out of range: unmarked
    fooled = adversarial_examples(plain[0], "pwws")
    assert len(fooled) == 12 and {r["result"] for r in fooled} == {"successful"}
    assert len(adversarial_examples(plain[0], "pwws", ("skipped", "failed"))) == 8


def test_a_results_file_carries_the_attack_figures_and_summarises_them_like_the_folders(two_recipes, tmp_path):
    from goemo_core.results.reference import export_results, reference_runs, write_results

    store, plain, _ = two_recipes
    path = write_results(tmp_path / "ekman-cpu.json", export_results(store.list(), "ekman"))
    carried = json.loads(path.read_text())["runs"][0]["files"]
    assert "attacks/pwws.json" in carried and not any(name.endswith(".jsonl") for name in carried)
    columns = ["changes", "pwws_under_attack_mean", "pwws_under_attack_std", "pwws_attacked", "pruthi_attacked"]
    from_file, from_folders = seed_summary(reference_runs(path)), seed_summary(store.list())
    assert sorted(map(str, from_file[columns].to_dict("records"))) == sorted(
        map(str, from_folders[columns].to_dict("records")))
    assert sorted(robustness_table(reference_runs(path))[0]["pwws"]) == sorted(robustness_table(store.list())[0][
        "pwws"])  # rows in another order: a results file keeps its runs sorted
