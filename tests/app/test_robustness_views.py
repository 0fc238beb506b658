"""Compare's Robustness section (AppTest): accuracy under attack pooled over seeds, A against B, the chart's points,
adversarial examples with the changed words highlighted and every text HTML-escaped; a multi-label task is not
attacked; the scatter has a point per run and recipe."""

from __future__ import annotations

import re

import pytest
from conftest import fake_attack, fake_run, page_file
from streamlit.testing.v1 import AppTest

from goemo_core.runs.store import RunStore

TIMEOUT = 120


def html_bodies(at: AppTest) -> str:
    return "\n".join(element.proto.body for element in at.get("html"))


@pytest.fixture
def attacked_runs():
    store = RunStore()
    plain = [fake_run(store, "gru", seed, 66.0 + i) for i, seed in enumerate((211, 212, 213))]
    hardened = [fake_run(store, "gru", seed, 65.0, adversarial=0.05) for seed in (211, 212, 213)]
    for run, failed in zip(plain, (4, 5, 6)):
        fake_attack(run, "pwws", failed, text="I <b>{i}</b> & you are so happy")
    for run, failed in zip(hardened, (10, 11, 12)):
        fake_attack(run, "pwws", failed)
    return plain, hardened


def compare(runs) -> AppTest:
    at = AppTest.from_file(str(page_file("compare.py")), default_timeout=TIMEOUT)
    at.query_params["run"] = [run.run_id for run in runs]  # a permalink's selection: every run
    return at.run()


def test_compare_shows_accuracy_under_attack_a_against_b_and_escaped_adversarial_examples(attacked_runs):
    at = compare([*attacked_runs[0], *attacked_runs[1]])
    assert not at.exception, [e.value for e in at.exception]
    assert "Robustness under attack" in [s.value for s in at.subheader]
    table = next(df.value for df in at.dataframe if "pwws" in df.value.columns)
    assert sorted(table["pwws"]) == ["25.00 ± 5.00 (n=3)", "55.00 ± 5.00 (n=3)"]
    assert set(table["clean"]) == {"80.00 ± 0.00"} and list(table["deepwordbug"]) == ["–", "–"]
    difference = next(df.value for df in at.dataframe if "A − B (points)" in df.value.columns)
    assert abs(abs(difference.set_index("attack").loc["PWWS (Ren et al. 2019)", "A − B (points)"]) - 30.0) < 1e-9
    assert at.button(key="attack_launch").label == "Attack 6 completed run(s)"
    run = at.selectbox(key="adversarial_run")
    run.set_value(attacked_runs[0][0].run_id).run()
    body = html_bodies(at)
    assert "I &lt;b&gt;8&lt;/b&gt; &amp; you are so " in body and "<b>8</b>" not in body  # escaped, not markup
    assert body.count("background:#fbd5d5") == 12 and body.count("background:#cdeccd") == 12  # 12 fooled examples
    assert ">happy</span>" in body and ">felicitous</span>" in body


def test_the_chart_has_a_point_per_attacked_run_and_a_multi_label_task_is_not_attacked(attacked_runs):
    from goemo_core.results.robustness import attack_points
    from views.robustness_views import attack_scatter

    from goemo_core.results.attack_columns import common_sample

    runs = RunStore().list()
    assert attack_points(runs, {}, None).empty
    points = attack_points(runs, {}, common_sample(runs))
    spec = attack_scatter(points).to_dict()
    assert len(points) == 6 and spec["layer"][1]["encoding"]["y"]["field"] == "under_attack"

    store = RunStore()
    fake_run(store, "gru", 211, 40.0, task="ekman-multilabel")
    at = AppTest.from_file(str(page_file("compare.py")), default_timeout=TIMEOUT).run()
    at.selectbox(key="compare_task").set_value("ekman-multilabel").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("multi-label task are not attacked" in c.value for c in at.caption)


@pytest.mark.slow  # trains a tiny run and imports TextAttack
def test_classify_attacks_a_typed_sentence_with_one_run_and_one_recipe():
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    settings = {"limit": 200, "epochs": 1, "batch_size": 32, "device": "cpu", "pretrained": None}
    train_run(make_config("gru", settings, params={"embedding_dim": 16, "hidden_size": 16, "head_units": 16}))
    at = AppTest.from_file(str(page_file("classify.py")), default_timeout=300).run()
    at.text_area(key="classify_text").set_value("I am so happy & <glad> about this wonderful gift").run()
    at.selectbox(key="attack_sentence_recipe").set_value("deepwordbug").run()
    at.button(key="attack_sentence_button").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    verdict = next(m.value for m in at.markdown if "DeepWordBug (Gao et al. 2018)" in m.value)
    assert re.search(r"(changed|did not change) the prediction in [\d.]+ s \([\d,]+ queries\)", verdict)
    body = html_bodies(at)
    assert "&amp; &lt;" in body and "&gt; about" in body and "<glad>" not in body  # escaped, whatever changed
    assert "· true" not in body  # a typed sentence has no true label
