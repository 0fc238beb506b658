"""The app shell and the Data page under AppTest."""

import json

import pyarrow as pa
from conftest import ROOT, page_file
from streamlit.testing.v1 import AppTest

from goemo_core.data.goemotions import EKMAN_CLASSES, GOEMOTIONS_LABELS

TIMEOUT = 120


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def chart_data(chart):
    """The chart's one data set, as Streamlit sends it to the browser."""
    [dataset] = chart.proto.datasets
    return pa.ipc.open_stream(dataset.data.data).read_pandas()


def views(node) -> list[dict]:
    """Every unit view (a dict with a mark) of a spec, through layers and facets."""
    if isinstance(node, dict):
        found = [node] if "mark" in node else []
        return found + [v for key in ("layer", "spec", "hconcat", "vconcat") if key in node
                        for v in views(node[key])]
    if isinstance(node, list):
        return [v for item in node for v in views(item)]
    return []


def color_scales(chart) -> list[dict]:
    return [v["encoding"]["color"]["scale"] for v in views(spec(chart))
            if "scale" in v.get("encoding", {}).get("color", {}) and v["encoding"]["color"]["scale"]]


def data_page() -> AppTest:
    return AppTest.from_file(str(page_file("data.py")), default_timeout=TIMEOUT).run()


def test_shell_shows_home_and_the_sidebar_facts(fresh_manager):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "local folder" in sidebar and "CPU" in sidebar and "Artifacts" in sidebar
    assert [m.label for m in at.metric][:3] == ["Runs", "Completed runs", "Running jobs"]


def test_data_page_shows_counts_charts_and_samples(fresh_manager):
    at = AppTest.from_file(str(page_file("data.py")), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric] == ["43,410", "5,426", "5,427"]
    assert len(charts(at)) == 5  # Ekman, raw labels, 28 → 7 grouping, the task's labels, token lengths
    at.selectbox(key="browse_class").select("disgust").run()
    sample = at.dataframe[-1].value
    assert len(sample) == 50 and set(sample["ekman"]) == {"disgust"}


def test_data_page_explains_a_missing_data_folder(fresh_manager, monkeypatch, tmp_path):
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "no-such-folder"))
    at = AppTest.from_file(str(page_file("data.py")), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "GOEMO_DATA_DIR" in at.error[0].value
    assert not at.metric  # the page stopped after saying what is wrong


def test_data_page_explains_a_malformed_row(fresh_manager, monkeypatch, tmp_path):
    from goemo_core.data.goemotions import GOEMOTIONS_LABELS

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "emotions.txt").write_text("\n".join(GOEMOTIONS_LABELS))
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (folder / name).write_text("fine\t27\ta\nbroken\t1,x\tb\n")
    monkeypatch.setenv("GOEMO_DATA_DIR", str(folder))
    at = AppTest.from_file(str(page_file("data.py")), default_timeout=TIMEOUT).run()
    assert not at.exception and "line 2" in at.error[0].value


def test_data_page_names_every_emotion_and_colours_each_class_the_same_everywhere(fresh_manager):
    from views.palette import EKMAN_COLORS

    assert tuple(EKMAN_COLORS) == EKMAN_CLASSES and len(set(EKMAN_COLORS.values())) == len(EKMAN_CLASSES)
    at = data_page()
    assert not at.exception
    ekman, raw, grouping, _task_labels, lengths = charts(at)

    [bars] = [v for v in views(spec(raw)) if v["mark"]["type"] == "bar"]
    y = bars["encoding"]["y"]
    assert y["field"] == "emotion" and sorted(y["sort"]) == sorted(GOEMOTIONS_LABELS)  # one row per emotion
    assert y["axis"]["labelOverlap"] is False  # vega would otherwise drop every other name
    assert bars["height"]["step"] >= 18  # room for a label per row
    assert set(chart_data(raw)["emotion"]) == set(GOEMOTIONS_LABELS)

    palette = {"domain": list(EKMAN_CLASSES), "range": list(EKMAN_COLORS.values())}
    for chart in (ekman, raw, grouping):
        scales = color_scales(chart)
        assert scales and all(scale == palette for scale in scales), scales
    assert {v["encoding"]["color"]["field"] for c in (raw, grouping) for v in views(spec(c))
            if v["mark"]["type"] == "bar"} == {"ekman"}  # the 28 → 7 bars are coloured by class, not emotion


def test_token_lengths_are_shares_of_each_split(fresh_manager):
    at = data_page()
    lengths = charts(at)[-1]
    top = spec(lengths)
    assert top["facet"]["column"]["field"] == "split"  # a panel per split: none hides behind another
    [bars] = [v for v in views(top) if v["mark"]["type"] == "bar"]
    assert bars["encoding"]["y"]["field"] == "share"
    histogram = chart_data(lengths)
    assert set(histogram["split"]) == {"train", "validation", "test"}
    assert histogram.groupby("split")["share"].sum().round(9).eq(1).all()
    assert histogram.groupby("split")["examples"].sum().to_dict() == {"train": 43410, "validation": 5426,
                                                                       "test": 5427}


def test_single_split_shows_horizontal_class_bars_with_their_share(fresh_manager):
    at = data_page()
    at.segmented_control(key="split_view").set_value("test").run()
    assert not at.exception
    ekman = spec(charts(at)[0])
    assert "facet" not in ekman
    bars, labels = views(ekman)
    # a row per class, the label after the bar: labels cannot overlap
    assert bars["encoding"]["y"]["field"] == "class" and bars["encoding"]["x"]["field"] == "share"
    assert labels["mark"]["type"] == "text" and labels["mark"]["align"] == "left"
    assert labels["encoding"]["text"]["format"] == ".1%"
    shown = chart_data(charts(at)[0])
    assert set(shown["split"]) == {"test"} and round(shown["share"].sum(), 9) == 1
    assert dict(zip(shown["class"], shown["count"]))["joy"] == 2052
