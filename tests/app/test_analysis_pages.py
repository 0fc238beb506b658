"""Compare's analysis sections (calibration with its reliability diagram, confident errors, disagreements, slices)
for a single-label and a multi-label task, a run without stored files shown as such, and the views' HTML of an
explanation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import fake_run, page_file
from scored_runs import scored_run
from streamlit.testing.v1 import AppTest

from goemo_core.runs.store import RunStore

TIMEOUT = 120


def compare() -> AppTest:
    return AppTest.from_file(str(page_file("compare.py")), default_timeout=TIMEOUT)


def frame_with(at: AppTest, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def chart_with(at: AppTest, text: str) -> tuple[dict, list]:
    """The specification and data frames of the chart whose specification mentions `text` (a title, a field)."""
    import pyarrow as pa

    chart = next(chart for chart in at.get("vega_lite_chart") if text in chart.proto.spec)
    frames = [pa.ipc.open_stream(data.data.data).read_all().to_pandas() for data in chart.proto.datasets]
    return json.loads(chart.proto.spec), frames


def test_compare_shows_calibration_errors_disagreements_and_slices_of_a_single_label_task(fresh_manager):
    store = RunStore()
    gru = scored_run(store, "gru", draw=1, skill=1.0, scale=2.5)[0]
    lstm = scored_run(store, "lstm", draw=2, skill=1.2)[0]
    bare = fake_run(store, "rwkv", 211, 55.0)  # completed, but without stored probabilities or predictions
    at = compare().run()
    assert not at.exception, [e.value for e in at.exception]
    calibration = frame_with(at, "ece_calibrated")
    assert len(calibration) == 2 and (calibration["temperature"] > 0).all()
    assert any("No calibration" in c.value and bare.run_id in c.value for c in at.caption)
    summary = frame_with(at, "vs_best")
    assert all("→" in text for text in summary["test_ece"] if text != "–")  # pooled ECE, then with T
    _, frames = chart_with(at, "Reliability diagram")
    bins = next(frame for frame in frames if "count" in frame)
    assert set(bins["run"]) == {gru.run_id, lstm.run_id}
    assert bins.groupby("run")["count"].sum().tolist() == [300, 300]  # every test prediction in a bin
    assert ((bins["lower"] <= bins["confidence"]) & (bins["confidence"] <= bins["upper"])).all()

    at.selectbox(key="errors_run").set_value(bare.run_id).run()
    assert any(f"Run {bare.run_id} has no readable test_predictions.csv" in c.value for c in at.caption)
    at.selectbox(key="errors_run").set_value(gru.run_id).run()
    errors = frame_with(at, "p_true")
    assert len(errors) and (errors["true"] != errors["predicted"]).all()
    assert errors["confidence"].is_monotonic_decreasing
    at.selectbox(key="errors_true").set_value("joy").run()
    assert set(frame_with(at, "p_true")["true"]) == {"joy"}

    disagreeing = frame_with(at, f"{gru.run_id} confidence")
    assert len(disagreeing) and (disagreeing[gru.run_id] != disagreeing[lstm.run_id]).all()
    slices = frame_with(at, "error_share")
    assert set(slices["slice"]) == {"all", "length", "raw labels", "tie rule"}
    assert any("Decided by the tie rule" in c.value for c in at.caption)
    spec, _ = chart_with(at, '"tie rule"')
    assert spec["facet"]["column"]["field"] == "slice"
    assert any("No slices" in c.value and bare.run_id in c.value for c in at.caption)

    at.toggle(key="reliability_after").set_value(True).run()
    assert not at.exception


def test_compare_shows_the_analysis_of_a_multi_label_task(fresh_manager):
    store = RunStore()
    scored_run(store, "gru", task="ekman-multilabel", draw=1, skill=2.0, scale=2.0)
    scored_run(store, "xlstm", task="ekman-multilabel", draw=2, skill=2.0)
    scored_run(store, "lstm", draw=3)  # another task: not on this page's selection
    at = compare().run()
    at.selectbox(key="compare_task").set_value("ekman-multilabel").run()
    assert not at.exception, [e.value for e in at.exception]
    calibration = frame_with(at, "ece_calibrated")
    assert len(calibration) == 2 and set(calibration["ece_kind"]) == {"mean per-label"}
    errors = frame_with(at, "error")
    assert set(errors["error"]) <= {"false positive", "false negative"} and len(errors)
    slices = frame_with(at, "error_share")
    assert "tie rule" not in set(slices["slice"])  # no primary label, no tie rule
    assert chart_with(at, "Reliability diagram")


def test_an_explanation_is_html_escaped_and_coloured_by_sign():
    from views.explain_views import highlighted_html

    text = "I <script>alert(1)</script> love & hate"
    words = [{"word": "I", "start": 0, "end": 1, "attribution": 0.2},
             {"word": "<script>alert(1)</script>", "start": 2, "end": 27, "attribution": -0.1},
             {"word": "love", "start": 28, "end": 32, "attribution": 0.4},
             {"word": "&", "start": 33, "end": 34, "attribution": 0.0},
             {"word": "hate", "start": 35, "end": 39, "attribution": -0.4}]
    shown = highlighted_html({"text": text, "words": words})
    assert "<script>" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and ">&amp;</span>" in shown
    assert 'title="+0.4000" style="background-color: rgba(26, 127, 55, 0.750)' in shown  # strongest: full colour
    assert 'title="-0.4000" style="background-color: rgba(207, 34, 46, 0.750)' in shown
    assert shown.count("<span") == 5


@pytest.mark.parametrize("damage", ["calibration", "predictions"])
def test_damaged_analysis_files_are_shown_not_crashed_on(fresh_manager, damage):
    store = RunStore()
    run = scored_run(store, "gru", draw=1)[0]
    scored_run(store, "lstm", draw=2)
    if damage == "calibration":
        (run.path / "calibration.json").write_text("{not json")
    else:
        run.predictions_path.write_text("id,text\n1,only two columns\n")
    at = compare().run()
    assert not at.exception, [e.value for e in at.exception]
    if damage == "calibration":  # computed again
        assert len(frame_with(at, "ece_calibrated")) == 2
    else:
        assert any("test_predictions.csv" in c.value for c in at.caption)


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """An artifacts folder with one tiny trained GRU, trained once for this module."""
    from conftest import DATA_DIR

    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    home = tmp_path_factory.mktemp("classify") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GOEMO_HOME", str(home))
        mp.setenv("GOEMO_DATA_DIR", str(DATA_DIR))
        config = make_config("gru", {"limit": 150, "epochs": 1, "device": "cpu", "pretrained": None},
                             params={"embedding_dim": 16, "hidden_size": 16, "head_units": 16})
        assert train_run(config).status == "completed"
    return home


@pytest.mark.slow
def test_classify_explains_a_sentence_for_a_picked_class_and_offers_calibrated_probabilities(trained_home,
                                                                                            monkeypatch,
                                                                                            fresh_manager):
    monkeypatch.setenv("GOEMO_HOME", str(trained_home))
    at = AppTest.from_file(str(page_file("classify.py")), default_timeout=TIMEOUT).run()
    at.text_area(key="classify_text").set_value("I am <b>so</b> angry right now").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [m.value for m in at.markdown if "<span" in m.value]
    assert len(shown) == 1 and "&lt;</span>" in shown[0] and "<b>" not in shown[0]  # user text, escaped
    assert any("Integrated Gradients" in c.value and "convergence delta" in c.value for c in at.caption)
    plain = next(df.value for df in at.dataframe if "class" in str(df.value.index.name))
    at.selectbox(key="explain_class").set_value("sadness").run()
    assert any("for **sadness**" in c.value for c in at.caption)
    at.toggle(key="classify_calibrated").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    scaled = next(df.value for df in at.dataframe if "class" in str(df.value.index.name))
    assert scaled.iloc[:, 0].idxmax() == plain.iloc[:, 0].idxmax()  # the same prediction, other confidence
    assert scaled.iloc[:, 0].sum() == pytest.approx(1.0) and not np.allclose(scaled, plain)
