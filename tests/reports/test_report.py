"""The HTML report: every section over six runs of two architectures, figures that agree with the run files, user
text escaped, nothing that could load a resource, optional sections only where their files exist."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_home import HOSTILE_NOTE, HOSTILE_TAG, SCRIPT_NAME, report_home

from goemo_core.reports import build_report, write_report
from goemo_core.reports.charts import to_svg
from goemo_core.reports.html import esc, mean_spread, number
from goemo_core.reports.sections import OPTIONAL_SECTIONS, flat_figures
from goemo_core.runs.store import RunStore

PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAA"
         "AABJRU5ErkJggg==")
SECTIONS = ["summary", "runs", "curves", "per-class", "confusion", "cost"]


class Document(HTMLParser):
    """Tags, attributes and the text of each data-section and data-table of a document."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.sections, self.tables, self.text = [], {}, {}, []
        self._open: list[tuple[str, str, str]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        for kind in ("data-section", "data-table"):
            if kind in attrs:
                self._open.append((tag, kind, attrs[kind]))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        for _, kind, key in self._open:
            store = self.sections if kind == "data-section" else self.tables
            store[key] = store.get(key, "") + data


@pytest.fixture
def home_runs():
    store = RunStore()
    runs = report_home(store)
    return store, runs


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One report over the six runs, written once for the tests that only read it."""
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:  # set up before each test's own home: the same settings by hand
        patch.setenv("GOEMO_HOME", str(folder / "home"))
        patch.setenv("GOEMO_DEVICE", "cpu")
        patch.delenv("GOEMO_PRETRAINED", raising=False)
        store = RunStore()
        runs = report_home(store)
        held = write_report(store.list(), folder / "r.html", title="<i>my</i> report")
    return runs, (folder / "r.html").read_text(), held


def test_a_report_over_six_runs_holds_every_section_and_chart(written):
    _, text, held = written
    assert held["bytes"] == len(text.encode()) and held["tasks"] == ["ekman"] and len(held["runs"]) == 6
    assert held["sections"]["ekman"] == [*SECTIONS, "calibration", "robustness"]
    parsed = Document(text)
    keys = [attrs["data-section"] for _, attrs in parsed.tags if "data-section" in attrs]
    assert keys == [*SECTIONS, "calibration", "robustness", "left-out", "environment"]
    charts = [attrs["data-chart"] for _, attrs in parsed.tags if "data-chart" in attrs]
    # curves, per-class, one confusion matrix per run, cost, the reliability diagram
    assert charts == ["curves", "per-class", *["confusion"] * 6, "cost", "calibration"] and held["charts"] == 10
    assert text.count("<svg") == 10


def test_the_summary_chooses_on_validation_and_marks_significance(written):
    runs, text, _ = written
    summary = Document(text).tables["summary"]
    # one chosen recipe per architecture; the best on validation is the reference of the significance marks
    assert summary.count("✓") == 2 and "best on validation" in summary
    assert re.search(r"n\.s\.|p = 0\.\d+ \*", summary)
    gru = [run.metrics["accuracy"] for name, run in runs.items() if name.startswith("gru")]
    mean = sum(gru) / 3
    spread = (sum((a - mean) ** 2 for a in gru) / 2) ** 0.5  # the sample std, as the summary pools seeds
    assert mean_spread(mean, spread, 2) in summary


def test_per_class_and_cost_tables_show_the_run_files_figures(written):
    runs, text, _ = written
    tables = Document(text).tables
    metrics = runs["gru-2"].metrics
    assert f"{metrics['per_class']['joy']['f1']:.3f}" in tables["per-class-f1"]
    assert f"{metrics['per_class']['fear']['precision']:.3f}" in tables["per-class-precision"]
    assert number(metrics["cost"]["cpu_latency_ms"], 2) in tables["cost"]
    assert "20,000" in tables["cost"]


def test_user_text_is_escaped_and_nothing_can_run_or_load(written):
    _, text, _ = written
    assert "<script" not in text.lower() and "<img" not in text.lower() and "<b>bold" not in text
    assert esc(SCRIPT_NAME) in text and esc(HOSTILE_TAG) in text and esc(HOSTILE_NOTE) in text
    assert esc("<i>my</i> report") in text
    parsed = Document(text)
    assert SCRIPT_NAME in "".join(parsed.text) and HOSTILE_NOTE in parsed.tables["runs"]
    assert not [tag for tag, attrs in parsed.tags if tag in {"script", "img", "iframe", "link", "object", "embed"}
                or any(name.startswith("on") or name in {"src", "xlink:href"} for name in attrs)]
    # links stay inside the file; the only absolute URLs are the SVG namespace names (identifiers, never fetched)
    assert all(attrs["href"].startswith("#") for tag, attrs in parsed.tags if tag == "a")
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/2000/svg",
                                                                "http://www.w3.org/1999/xlink"}
    assert "default-src 'none'" in text  # the content security policy forbids every request and script


def test_optional_sections_read_their_files_defensively(written):
    runs, text, _ = written
    tables = Document(text).tables
    assert "0.0810" in tables["calibration"] and "1.4000" in tables["calibration"]  # nested: after.temperature
    robustness = tables["robustness"]
    assert "pwws" in robustness and "12.00" in robustness and "0.7800" in robustness
    assert "deepwordbug" in robustness and "unreadable: deepwordbug.json is not valid JSON" in robustness
    # without the files, the sections are not shown at all
    others = [run for name, run in runs.items() if name != "gru-1"]
    _, held = build_report(others)
    assert held["sections"]["ekman"] == SECTIONS
    assert [section.key for section in OPTIONAL_SECTIONS] == ["calibration", "robustness"]


def test_a_damaged_analysis_file_of_another_shape_is_shown_not_raised(home_runs):
    store, runs = home_runs
    (runs["gru-2"].path / "calibration.json").write_text('[1, 2, 3]')
    (runs["gru-3"].path / "calibration.json").write_text('{"ece": NaN}')
    (runs["lstm-2"].path / "calibration.json").write_bytes(b"\xff\xfe not text")
    (runs["lstm-3"].path / "calibration.json").write_text('{"bins": [{"confidence": "high"}, 7], "ece": 0.2}')
    calibration = Document(build_report(store.list())[0]).tables["calibration"]
    assert "holds no JSON object" in calibration and "not valid JSON" in calibration
    assert "not UTF-8" in calibration and "0.2000" in calibration


def test_runs_that_cannot_be_pooled_or_read_are_listed_with_the_reason(home_runs):
    store, runs = home_runs
    runs["lstm-3"].set_status("cancelled")
    (runs["gru-3"].path / "metrics.json").write_text('{"accuracy": "high"}')
    text, held = build_report(store.list(), unreadable=store.unreadable())
    left_out = Document(text).tables["left-out"]
    assert "cancelled" in left_out and runs["lstm-3"].run_id in left_out
    assert runs["gru-3"].run_id in left_out and "metrics.json" in left_out
    assert held["unreadable"] == [runs["gru-3"].run_id] and len(held["runs"]) == 5


def test_the_environment_names_the_machine_the_packages_and_each_runs_data(written):
    tables = Document(written[1]).tables
    assert "python" in tables["machine"] and "CPU" in tables["machine"]
    assert "torch" in tables["packages"] and "vl-convert-python" in tables["packages"]
    assert tables["origins"].count("0123456789abcdef") == 6 and "0.1.0+abc1234" in tables["origins"]


def test_an_svg_that_could_load_something_is_refused():
    class Drawn:
        def __init__(self, spec):
            self.spec = spec

        def to_dict(self, validate=True):
            return self.spec

    spec = {"data": {"values": [{"x": 1}]}, "mark": "point", "encoding": {"x": {"field": "x", "type": "quantitative"}}}
    assert to_svg(Drawn(spec)).startswith("<svg")
    with pytest.raises(ValueError, match="link or a script"):
        to_svg(Drawn({**spec, "mark": "image", "encoding": {**spec["encoding"], "url": {"value": PIXEL}}}))


def test_figures_and_escaping_helpers():
    assert number(None) == number(float("nan")) == number("7") == number(True) == "–"
    assert number(1234567, 0, True) == "1,234,567" and number(2.345, 1) == "2.3"
    assert mean_spread(67.031, None, 2) == "67.03" and mean_spread(67.031, 0.129, 2) == "67.03 ± 0.13"
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert flat_figures({"a": 1, "b": {"c": 2.5, "d": [1]}, "e": "x" * 81, "f": True}) == {"a": 1, "b.c": 2.5,
                                                                                          "f": True}
