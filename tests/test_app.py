"""The app shell and the Data page under AppTest."""

from streamlit.testing.v1 import AppTest

from conftest import ROOT

TIMEOUT = 120


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def test_shell_shows_home_and_the_sidebar_facts(fresh_manager):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "local folder" in sidebar and "CPU" in sidebar and "Artifacts" in sidebar
    assert [m.label for m in at.metric][:3] == ["Runs", "Completed runs", "Running jobs"]


def test_data_page_shows_counts_charts_and_samples(fresh_manager):
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert [m.value for m in at.metric] == ["43,410", "5,426", "5,427"]
    assert len(charts(at)) == 4  # Ekman, raw labels, 28 → 7 grouping, token lengths
    at.selectbox(key="browse_class").select("disgust").run()
    sample = at.dataframe[-1].value
    assert len(sample) == 50 and set(sample["ekman"]) == {"disgust"}


def test_data_page_explains_a_missing_data_folder(fresh_manager, monkeypatch, tmp_path):
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "no-such-folder"))
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "GOEMO_DATA_DIR" in at.error[0].value
    assert not at.metric  # the page stopped after saying what is wrong


def test_data_page_explains_a_malformed_row(fresh_manager, monkeypatch, tmp_path):
    from goemo_core.data import GOEMOTIONS_LABELS

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "emotions.txt").write_text("\n".join(GOEMOTIONS_LABELS))
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (folder / name).write_text("fine\t27\ta\nbroken\t1,x\tb\n")
    monkeypatch.setenv("GOEMO_DATA_DIR", str(folder))
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and "line 2" in at.error[0].value
