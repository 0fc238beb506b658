"""The data layer: taxonomy, primary-label rule, loading (local and the hub default), statistics."""

import json
import subprocess
import sys

import pytest
from conftest import DATA_DIR

from goemo_core.data import goemotions as data
from goemo_core.errors import MissingResource
from goemo_core.settings import get_settings

EXPECTED_TRAIN = {"anger": 5316, "disgust": 579, "fear": 618, "joy": 16941, "sadness": 2648, "surprise": 4485,
                  "neutral": 12823}
EXPECTED_TEST = {"anger": 701, "disgust": 84, "fear": 89, "joy": 2052, "sadness": 319, "surprise": 576,
                 "neutral": 1606}


def ids(*names):
    return sorted(data.GOEMOTIONS_LABELS.index(n) for n in names)


def test_taxonomy_covers_every_raw_label_exactly_once():
    grouped = [raw for group in data.EKMAN_GROUPS.values() for raw in group]
    assert sorted(grouped) == sorted(data.GOEMOTIONS_LABELS)
    assert len(grouped) == len(set(grouped)) == 28
    assert data.EKMAN_CLASSES == ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")


@pytest.mark.parametrize("labels, expected", [
    (ids("neutral"), "neutral"),
    (ids("anger", "annoyance", "joy"), "anger"),  # anger group 2 vs joy 1
    (ids("admiration", "anger"), "joy"),  # 1-1 tie: admiration (id 0) is listed first
    (ids("anger", "admiration"), "joy"),  # ids are ascending, so the same list
    (ids("fear", "sadness"), "fear"),  # tie: fear (14) before sadness (25)
    (ids("amusement", "grief", "remorse"), "sadness"),  # sadness 2 vs joy 1
    (ids("confusion", "curiosity", "disgust"), "surprise"),
    (ids("surprise", "neutral"), "surprise"),  # tie: surprise (26) before neutral (27)
    (ids("disappointment", "disapproval"), "sadness"),  # tie: disappointment (9) before disapproval (10)
])
def test_primary_label_rule(labels, expected):
    assert data.EKMAN_CLASSES[data.primary_label(labels)] == expected


def test_primary_label_refuses_no_labels():
    with pytest.raises(ValueError):
        data.primary_label([])


def test_local_splits_match_the_published_counts():
    stats = data.dataset_statistics()
    assert {s: v["examples"] for s, v in stats["splits"].items()} == {"train": 43410, "validation": 5426,
                                                                       "test": 5427}
    assert stats["splits"]["train"]["ekman"] == EXPECTED_TRAIN
    assert stats["splits"]["test"]["ekman"] == EXPECTED_TEST
    test = stats["splits"]["test"]
    assert test["ekman"]["joy"] / test["examples"] == pytest.approx(0.378, abs=0.001)
    assert 0.1 < test["multi_label_fraction"] < 0.25
    assert test["imbalance_ratio"] == pytest.approx(2052 / 84)
    assert sum(stats["splits"]["train"]["raw"].values()) > 43410  # multi-label rows count every label


def test_quoted_texts_are_unquoted():
    texts = data.load_goemotions()["train"]["text"]
    assert not any(t.startswith('"') and t.endswith('"') and '""' in t for t in texts)


def test_columns_and_types():
    split = data.load_goemotions()["validation"]
    assert set(split.column_names) >= {"text", "labels", "id", "label"}
    row = split[0]
    assert isinstance(row["labels"], list) and all(isinstance(i, int) for i in row["labels"])
    assert 0 <= row["label"] < 7


def test_missing_folder_and_file_messages(tmp_path, monkeypatch):
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(MissingResource, match="GOEMO_DATA_DIR"):
        data.load_goemotions()
    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "emotions.txt").write_text("\n".join(data.GOEMOTIONS_LABELS))
    monkeypatch.setenv("GOEMO_DATA_DIR", str(folder))
    with pytest.raises(MissingResource, match="train.tsv is missing"):
        data.load_goemotions()


def write_folder(folder, train_rows):
    folder.mkdir()
    (folder / "emotions.txt").write_text("\n".join(data.GOEMOTIONS_LABELS) + "\n")
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (folder / name).write_text("hello there\t27\tid1\nso happy\t17,0\tid2\n")
    (folder / "train.tsv").write_text(train_rows)


@pytest.mark.parametrize("rows, message", [
    ("fine\t27\ta\nbroken row without tabs\n", "line 2: expected 3"),
    ("fine\t27\ta\nbad\tx,y\tb\n", "line 2: label ids 'x,y'"),
    ("fine\t27\ta\nbad\t99\tb\n", "outside 0..27"),
])
def test_malformed_rows_are_named(tmp_path, monkeypatch, rows, message):
    write_folder(tmp_path / "d", rows)
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(MissingResource, match=message):
        data.load_goemotions()


REAL_ROWS = (DATA_DIR / "train.tsv").read_text(encoding="utf-8").splitlines()[:40]


@pytest.mark.parametrize("bad_row, line, message", [
    ('"' + REAL_ROWS[9], 10, "one row runs over lines 10-"),  # a stray quote swallowing the rows after it
    ('"a quoted\ttab"\t27\tx', 10, "a field holds a tab or a line break"),
    ('"a quoted\nline break"\t27\tx', 10, "one row runs over lines 10-11"),
    ("x" * 200_000 + "\t27\tx", 10, "field larger than field limit"),
    ("a carriage\rreturn\t27\tx", 10, "expected 3 tab-separated fields"),
    ("", 10, "found 0"),
])
def test_damaged_data_files_name_the_file_and_line(tmp_path, monkeypatch, capsys, bad_row, line, message):
    from goemo_core.cli import main

    rows = REAL_ROWS[:9] + [bad_row] + REAL_ROWS[10:]
    write_folder(tmp_path / "d", "\n".join(rows) + "\n")
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(MissingResource, match=message) as caught:
        data.load_goemotions()
    assert f"{tmp_path / 'd' / 'train.tsv'}, line {line}:" in str(caught.value)
    assert main(["stats"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"train.tsv, line {line}:" in err and "Traceback" not in err


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.write_bytes("\n".join(data.GOEMOTIONS_LABELS).encode("utf-16")), "is not UTF-8 text"),
    (lambda path: path.write_bytes(b"admiration\n\xff\xfe\xfa\n"), "is not UTF-8 text"),
    (lambda path: path.write_text("admiration\namusement\n"), "does not list the 28 GoEmotions labels"),
    (lambda path: (path.unlink(), path.mkdir()), "emotions.txt is missing"),
])
def test_a_damaged_label_list_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys, damage, message):
    from goemo_core.cli import main

    write_folder(tmp_path / "d", "fine\t27\ta\n")
    damage(tmp_path / "d" / "emotions.txt")
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(MissingResource, match=message):
        data.load_goemotions()
    assert main(["stats"]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_a_row_count_that_disagrees_with_the_lines_is_refused(tmp_path, monkeypatch):
    write_folder(tmp_path / "d", "fine\t27\ta\nalso fine\t17\tb\rhidden\t27\tc\n")  # a bare CR ends a row
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "d"))
    with pytest.raises(MissingResource, match="3 rows were read from 2 lines"):
        data.load_goemotions()


def test_real_splits_keep_their_escaped_quotes():
    loaded = data.load_goemotions()
    assert {s: len(loaded[s]) for s in data.SPLITS} == {"train": 43410, "validation": 5426, "test": 5427}
    quoted = 0
    for split, filename in data.SPLIT_FILES.items():
        lines = (DATA_DIR / filename).read_text(encoding="utf-8").splitlines()
        texts = loaded[split]["text"]
        assert len(lines) == len(texts)
        for line, text in zip(lines, texts):
            field = line.split("\t")[0]
            if field.startswith('"'):  # CSV quoting: quotes inside are doubled
                quoted += 1
                assert text == field[1:-1].replace('""', '"')
            else:
                assert text == field
    assert quoted == 1383


def test_small_local_folder_loads(tmp_path, monkeypatch):
    write_folder(tmp_path / "d", 'a "quoted"\t2,3\tx\n"b ""q"" c"\t27\ty\n')
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "d"))
    train = data.load_goemotions()["train"]
    assert train["text"] == ['a "quoted"', 'b "q" c']
    assert train["label"] == [0, 6]


def test_hub_default_without_network_says_what_to_set(monkeypatch):
    monkeypatch.delenv("GOEMO_DATA_DIR")
    assert get_settings().data_dir is None
    assert "hub" in get_settings().data_source
    with pytest.raises(MissingResource, match="GOEMO_DATA_DIR"):
        data.load_goemotions()


@pytest.mark.slow
def test_stats_cli_json():
    out = subprocess.run([sys.executable, "-m", "goemo_core", "stats", "--json"], capture_output=True, text=True,
                         check=True)
    document = json.loads(out.stdout)
    assert document["splits"]["train"]["ekman"] == EXPECTED_TRAIN
    assert document["splits"]["validation"]["examples"] == 5426
    assert set(document["splits"]["test"]) >= {"examples", "ekman", "raw", "multi_label_fraction"}


@pytest.mark.slow
def test_stats_cli_missing_data_exits_3(tmp_path):
    import os

    env = {**os.environ, "GOEMO_DATA_DIR": str(tmp_path / "missing")}
    out = subprocess.run([sys.executable, "-m", "goemo_core", "stats"], capture_output=True, text=True, env=env)
    assert out.returncode == 3
    assert "GOEMO_DATA_DIR" in out.stderr and "Traceback" not in out.stderr


def test_browse_filters():
    split = data.load_goemotions()["validation"]
    sample, matches = data.browse(split, ekman="disgust", n=10)
    assert matches == 74 and len(sample) == 10 and set(sample["ekman"]) == {"disgust"}
    sample, matches = data.browse(split, raw=["grief"], n=500)
    assert len(sample) == matches and all("grief" in r for r in sample["raw labels"])


def test_length_histogram_bins_per_split_and_clips_the_tail():
    import pandas as pd

    lengths = pd.DataFrame({"split": ["train"] * 4 + ["test"] * 2, "tokens": [1, 2, 3, 120, 5, 5]})
    histogram = data.length_histogram(lengths, step=2, clip=80)
    assert list(histogram["split"].unique()) == ["train", "test"]  # split order, whatever the row order
    train = histogram[histogram["split"] == "train"]
    assert list(zip(train["start"], train["end"], train["examples"])) == [(0, 2, 1), (2, 4, 2), (80, 82, 1)]
    assert list(train["share"]) == [0.25, 0.5, 0.25]
    assert histogram[histogram["split"] == "test"]["share"].tolist() == [1.0]
    assert data.length_histogram(lengths.iloc[:0]).empty


def test_emotions_by_frequency_orders_every_label():
    stats = {"splits": {"train": {"raw": {name: (i * 7) % 28 for i, name in enumerate(data.GOEMOTIONS_LABELS)}}}}
    order = data.emotions_by_frequency(stats)
    assert sorted(order) == sorted(data.GOEMOTIONS_LABELS)
    counts = [stats["splits"]["train"]["raw"][name] for name in order]
    assert counts == sorted(counts, reverse=True)
