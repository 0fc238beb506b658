"""Faults a user can cause: odd text, bad CSV uploads, damaged run directories. Each gets a clear message and
nothing completed is lost or altered."""

import io
import os
import subprocess
import sys

import pytest
from conftest import DATA_DIR, digest, page_file

from goemo_core.errors import InvalidConfig, MissingResource
from goemo_core.runs.store import RunStore
from goemo_core.serving.batch_io import read_text_table
from goemo_core.serving.predict import Predictor
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run


@pytest.fixture(scope="module")
def run_home(tmp_path_factory):
    """One tiny completed run, trained once for the module."""
    home = tmp_path_factory.mktemp("reliability")
    old = {k: os.environ.get(k) for k in ("GOEMO_HOME", "GOEMO_DATA_DIR", "GOEMO_PRETRAINED")}
    os.environ.update(GOEMO_HOME=str(home), GOEMO_DATA_DIR=str(DATA_DIR))
    os.environ.pop("GOEMO_PRETRAINED", None)  # the learnt vocabulary: emoji and Japanese are unknown to it
    try:
        result = train_run(make_config("gru", {"limit": 150, "epochs": 1, "hidden_size": 16, "embedding_dim": 16,
                                               "head_units": 16, "device": "cpu"}))
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return home, result.run.run_id


@pytest.fixture
def predictor(run_home, monkeypatch):
    home, run_id = run_home
    monkeypatch.setenv("GOEMO_HOME", str(home))
    return Predictor.from_run_id(run_id)


@pytest.mark.parametrize("text, note", [
    ("", "empty"), ("   \n\t ", "empty"), ("happy " * 10000, "first 30 tokens"),
    ("\x00\x01\x02\xff\xfe binary", None), ("\U0001F600\U0001F525\U0001F389", "unknown"),
    ("これはテストです", "unknown"), ("\udcff lone surrogate", None),
])
def test_odd_texts_get_an_answer(predictor, text, note):
    (result,) = predictor.predict([text])
    if note == "empty":
        assert result["label"] is None and "empty" in result["note"]
        return
    assert result["label"] in result["probabilities"]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    if note:
        assert note in result["note"]


def test_bytes_that_are_not_utf8(predictor):
    (result,) = predictor.predict([b"caf\xe9 is \xff\xfe nice"])
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_cli_stdin_that_is_not_utf8(run_home):
    home, run_id = run_home
    out = subprocess.run([sys.executable, "-m", "goemo_core", "predict", "--run", run_id, "--json"],
                         input=b"caf\xe9 \xff\xfe ok\n", capture_output=True,
                         env={**os.environ, "GOEMO_HOME": str(home)}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert b'"probabilities"' in out.stdout


@pytest.mark.parametrize("content, message", [
    (b"sentence,score\nhello,1\n", "no 'text' column"),
    (b"", "empty"),
    (b'text\n"unterminated quote here\nsecond\n', "could not be parsed"),
])
def test_bad_csv_uploads_name_the_problem(content, message):
    with pytest.raises(InvalidConfig, match=message):
        read_text_table(io.BytesIO(content))


def test_huge_csv_is_refused_not_processed():
    content = b"text\n" + b"a sentence\n" * 100_000
    with pytest.raises(InvalidConfig, match="100,000 rows"):
        read_text_table(io.BytesIO(content))


def test_csv_with_bad_bytes_still_reads():
    frame = read_text_table(io.BytesIO(b"text,other\ncaf\xe9,1\nfine,2\n"))
    assert len(frame) == 2


def test_corrupt_weights_are_reported_and_other_runs_untouched(run_home, monkeypatch, tmp_path):
    home, run_id = run_home
    monkeypatch.setenv("GOEMO_HOME", str(home))
    store = RunStore()
    before = digest(store.get(run_id).path)
    copy = store.create({**store.get(run_id).config, "arch": "gru"})
    for name in ("tokenizer.json", "model.safetensors"):
        (copy.path / name).write_bytes((store.get(run_id).path / name).read_bytes())
    copy.write_json("metrics.json", store.get(run_id).metrics)
    copy.set_status("completed")
    (copy.path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(MissingResource, match="corrupt"):
        Predictor(copy)
    (copy.path / "tokenizer.json").unlink()
    with pytest.raises(MissingResource, match="tokenizer.json missing"):
        Predictor(copy)
    assert digest(store.get(run_id).path) == before
    assert Predictor.from_run_id(run_id).predict(["fine"])[0]["label"]


def test_run_with_missing_config_is_not_listed(run_home, monkeypatch):
    home, run_id = run_home
    monkeypatch.setenv("GOEMO_HOME", str(home))
    broken = home / "runs" / "lstm-20000101-000000-dead"
    broken.mkdir()
    (broken / "status").write_text("completed")
    assert "lstm-20000101-000000-dead" not in [r.run_id for r in RunStore().list()]
    with pytest.raises(MissingResource):
        RunStore().get("lstm-20000101-000000-dead")


def test_no_pickle_loading_anywhere():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder, _, files in os.walk(root):
        # the project's own files: not the virtual environment the set-up scripts keep in the project folder
        if {".git", "artifacts", "__pycache__", ".venv"} & set(os.path.relpath(folder, root).split(os.sep)):
            continue
        for name in files:
            if name.endswith(".py") and name != "test_reliability.py":
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                for line in text.splitlines():
                    if ("torch.load(" in line and "weights_only=True" not in line) or "pickle.load" in line:
                        offenders.append(f"{name}: {line.strip()}")
    assert offenders == []


def test_streamlit_config_is_local_only():
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, ".streamlit", "config.toml"), "rb") as handle:
        config = tomllib.load(handle)
    assert config["server"]["address"] == "127.0.0.1"
    assert 0 < config["server"]["maxUploadSize"] <= 50
    assert config["server"]["fileWatcherType"] == "none"  # files changing under a running app never reload it


def test_passwords_are_masked():
    from goemo_core.settings import mask_url

    assert mask_url("postgresql://bob:s3cr3t@db:5432/optuna") == "postgresql://bob:***@db:5432/optuna"
    assert mask_url("sqlite:////tmp/optuna.db") == "sqlite:////tmp/optuna.db"


# --- damaged run folders next to good ones ---------------------------------------------------------------------------

TINY = {"limit": 150, "epochs": 1, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu"}


def copy_run(run_home, home, run_id=None):
    """A copy of the module's trained run in `home` (under `run_id`), so a test can damage or delete it."""
    import shutil

    source_home, source_id = run_home
    target = home / "runs" / (run_id or source_id)
    shutil.copytree(source_home / "runs" / source_id, target)
    return target


def damage_config(folder, **changes):
    import json

    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


@pytest.fixture
def good_and_bad_runs(run_home, goemo_env):
    """The trained run, and damaged copies of it: config.json a list, and four sizes that are not numbers."""
    import json

    good = copy_run(run_home, goemo_env)
    bad = {}
    for key, value in (("config", None), ("max_length", "thirty"), ("vocab_size", [1]), ("pad_id", "0"),
                       ("embedding_init_dim", {"d": 1}), ("status", b"\xff\xfecompleted"), ("tags", b'{"tags": 5}')):
        folder = copy_run(run_home, goemo_env, f"gru-20000101-00000{len(bad)}-bad{len(bad)}")
        if value is None:
            (folder / "config.json").write_text(json.dumps([1, 2, 3]))
        elif isinstance(value, bytes):  # a status that is not UTF-8, tags that are a number
            (folder / ("status" if key == "status" else "label.json")).write_bytes(value)
        else:
            damage_config(folder, **{key: value})
        bad[folder.name] = key
    return good.name, bad


def damaged_file(key: str) -> str:
    return {"status": "status", "tags": "label.json"}.get(key, "config.json")


def test_damaged_runs_are_left_out_of_every_table(good_and_bad_runs):
    from goemo_core.results.run_tables import comparison_export, comparison_table
    from goemo_core.results.summary import leaderboard, seed_summary, summarise_runs

    good, bad = good_and_bad_runs
    store = RunStore()
    before = digest(store.get(good).path)
    assert [r.run_id for r in store.list()] == [good]
    assert {run_id: reason for run_id, reason in store.unreadable()}.keys() == bad.keys()
    for run_id, key in bad.items():
        assert store.get(run_id).config is not None and isinstance(store.get(run_id).config, dict)
        assert (key if key != "config" else "list") in dict(store.unreadable())[run_id]
    everything = [store.get(run_id) for run_id in [good, *bad]]  # even when handed damaged runs
    assert list(comparison_table(everything)["run_id"]) == [good]
    assert list(comparison_export(everything)["run_id"]) == [good]
    assert list(seed_summary(everything)["runs"]) == [1] and summarise_runs(everything)["runs"] == [good]
    assert leaderboard(everything).empty  # a limited run is not on the full-data board
    assert digest(store.get(good).path) == before


def test_cli_lists_damaged_runs_as_unreadable_and_skips_them_elsewhere(good_and_bad_runs, capsys):
    import json

    from goemo_core.cli import main

    good, bad = good_and_bad_runs
    assert main(["runs", "list", "--json"]) == 0
    rows = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[good]["status"] == "completed" and rows.keys() == {good, *bad}
    for run_id, key in bad.items():
        assert rows[run_id]["status"] == "unreadable" and damaged_file(key) in rows[run_id]["reason"]
    assert main(["runs", "list"]) == 0
    text = capsys.readouterr().out
    assert all(f"{run_id}" in text for run_id in bad) and text.count("unreadable") == len(bad)
    assert main(["runs", "summary", "--json"]) == 0
    captured = capsys.readouterr()
    assert [row["runs"] for row in json.loads(captured.out)] == [1] and f"{len(bad)} unreadable" in captured.err
    for run_id, key in bad.items():
        assert main(["predict", "--run", run_id, "--text", "hello"]) == 3
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and damaged_file(key) in err
        assert "unknown architecture" not in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["home.py", "compare.py", "classify.py"])
def test_pages_render_next_to_damaged_runs(good_and_bad_runs, fresh_manager, name):
    from streamlit.testing.v1 import AppTest


    good, bad = good_and_bad_runs
    at = AppTest.from_file(str(page_file(name)), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    captions = "\n".join(c.value for c in at.caption)
    assert all(run_id in captions for run_id in bad)  # named, not shown
    if name == "compare.py":
        assert list(at.dataframe[0].value["run_id"]) == [good]
        options = at.multiselect(key="delete_targets").options  # "<run id> · <what it is>"
        assert {option.split(" · ")[0] for option in options} == {good, *bad}  # damaged runs can be deleted
    if name == "classify.py":
        from goemo_core.results.run_tables import describe_run

        assert at.multiselect(key="classify_runs-ekman").options == [describe_run(RunStore().get(good))]


def test_cli_bad_paths_are_one_line_errors(run_home, goemo_env, capsys):
    from goemo_core.cli import main

    copy_run(run_home, goemo_env)
    for argv in (["predict", "--run", "a" * 300, "--text", "hi"], ["runs", "delete", "a" * 300],
                 ["runs", "delete", "é" * 200], ["predict", "--run", "../" + run_home[1], "--text", "hi"]):
        assert main(argv) == 3
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "No run" in err and "Traceback" not in err


def test_training_into_an_unwritable_runs_folder_is_a_clear_error(run_home, goemo_env, capsys, monkeypatch):
    from pathlib import Path

    from goemo_core.cli import main

    kept = copy_run(run_home, goemo_env)
    before = digest(kept)
    runs_dir, mkdir = goemo_env / "runs", Path.mkdir

    def refuse(self, *args, **kwargs):  # root ignores chmod: refuse like a read-only folder would
        if self.parent == runs_dir:
            raise PermissionError(13, "Permission denied", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    code = main(["train", "--arch", "gru", "--limit", "150", "--epochs", "1", "--set", "hidden_size=16",
                 "--set", "embedding_dim=16"])
    err = capsys.readouterr().err
    assert code == 3 and "Permission denied" in err and "GOEMO_HOME" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error:")
    assert [p.name for p in runs_dir.iterdir()] == [kept.name] and digest(kept) == before


def test_cli_delete_refuses_links_and_read_only_folders(run_home, goemo_env, capsys, monkeypatch, tmp_path):
    from goemo_core.cli import main
    from goemo_core.runs import store as runs

    outside = copy_run(run_home, tmp_path / "elsewhere")
    link = goemo_env / "runs" / "gru-20000101-000000-link"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside, target_is_directory=True)
    before = digest(outside)
    assert main(["runs", "delete", link.name]) == 3
    err = capsys.readouterr().err
    assert "symbolic link" in err and len(err.strip().splitlines()) == 1
    assert link.is_symlink() and digest(outside) == before

    kept = copy_run(run_home, goemo_env)
    before = digest(kept)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runs.os, "rename", refuse)
    assert main(["runs", "delete", kept.name]) == 3
    err = capsys.readouterr().err
    assert "not writable" in err and len(err.strip().splitlines()) == 1 and digest(kept) == before


# --- caches -----------------------------------------------------------------------------------------------------------


def test_corrupt_caches_are_rebuilt_and_training_still_works(goemo_env):
    from tokenizers import Tokenizer

    first = train_run(make_config("gru", TINY))
    tokenizers = list((goemo_env / "cache" / "tokenizers").glob("*.json"))
    encoded = list((goemo_env / "cache" / "encoded").glob("*.safetensors"))
    assert tokenizers and encoded
    for path in tokenizers + encoded:
        path.write_bytes(b"\x00 not a cache file {")
    before = digest(first.run.path)
    second = train_run(make_config("gru", TINY))
    assert second.status == "completed" and second.metrics
    assert (second.run.path / "tokenizer.json").read_bytes() == (first.run.path / "tokenizer.json").read_bytes()
    assert all(Tokenizer.from_file(str(path)).get_vocab_size() > 2 for path in tokenizers)  # rebuilt whole
    assert [h["val_accuracy"] for h in second.history] == [h["val_accuracy"] for h in first.history]
    assert digest(first.run.path) == before


# --- reproducible runs ------------------------------------------------------------------------------------------------

REPRODUCE = """
import json
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run
result = train_run(make_config("gru", {"limit": 300, "epochs": 1, "hidden_size": 16, "embedding_dim": 16,
                                       "head_units": 16, "device": "cpu"}))
print(json.dumps({"run_dir": str(result.run.path), "history": result.history, "test": result.metrics}))
"""


@pytest.mark.slow
def test_two_fresh_artifact_folders_reproduce_a_run(tmp_path):
    import json

    from conftest import ROOT

    documents, homes = [], []
    for i, hash_seed in enumerate(("1", "2")):  # different hash orders in Python too
        home = tmp_path / f"home{i}"
        env = {**os.environ, "GOEMO_HOME": str(home), "GOEMO_DATA_DIR": str(DATA_DIR), "GOEMO_DEVICE": "cpu",
               "GOEMO_PRETRAINED": "", "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", REPRODUCE], capture_output=True, text=True, env=env,
                             cwd=str(ROOT), timeout=600)
        assert out.returncode == 0, out.stderr
        documents.append(json.loads(out.stdout.strip().splitlines()[-1]))
        homes.append(home)
    [cache_a], [cache_b] = (list((home / "cache" / "tokenizers").glob("*.json")) for home in homes)
    assert cache_a.name == cache_b.name and cache_a.read_bytes() == cache_b.read_bytes()
    runs_a, runs_b = (os.path.join(d["run_dir"], "tokenizer.json") for d in documents)
    assert open(runs_a, "rb").read() == open(runs_b, "rb").read()

    def without_timing(history):
        return [{k: v for k, v in record.items() if k not in ("seconds", "examples_per_s")} for record in history]

    assert without_timing(documents[0]["history"]) == without_timing(documents[1]["history"])
    without_cost = [{k: v for k, v in document["test"].items() if k != "cost"} for document in documents]
    assert without_cost[0] == without_cost[1]  # all but the timings of the inference speed


# --- terminal output --------------------------------------------------------------------------------------------------

NASTY = "so \x1b[2J\x1b[31mhappy\x1b[0m\r today\x07\x08 \u202eevil\u202c"


def test_text_output_cannot_drive_the_terminal_json_stays_exact(run_home, goemo_env, capsys):
    import json

    from goemo_core.cli import main

    copy_run(run_home, goemo_env)
    odd_id = copy_run(run_home, goemo_env, "gru-20000101-000000-\x1b[31mred").name

    def printed(*argv):
        assert main(list(argv)) == 0
        return capsys.readouterr().out

    for text in (printed("predict", "--run", run_home[1], "--text", NASTY), printed("runs", "list"),
                 printed("augment", "preview", "--text", NASTY, "-n", "2", "--seed", "0")):
        assert not any(c in text for c in "\x1b\r\x07\x08\u202e\u202c") and "\ufffd" in text
    assert json.loads(printed("predict", "--run", run_home[1], "--text", NASTY, "--json"))["predictions"][0][
        "text"] == NASTY
    assert odd_id in [row["run_id"] for row in json.loads(printed("runs", "list", "--json"))]
    assert json.loads(printed("augment", "preview", "--text", NASTY, "-n", "1", "--json"))["original"] == NASTY
    assert main(["predict", "--run", "\x1b[2Jnope", "--text", "hi"]) == 3
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.strip().splitlines()) == 1


# --- uploads ----------------------------------------------------------------------------------------------------------


def test_a_file_with_a_million_columns_is_refused_quickly():
    import time
    import tracemalloc

    content = b"text" + b",c" * 5_000_000 + b"\nhello" + b",1" * 5_000_000 + b"\n"  # 20 MB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidConfig, match="columns"):
            read_text_table(io.BytesIO(content), max_bytes=len(content))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5 and peak < 150 * 2**20
    header = ",".join(["text", *(f"c{i}" for i in range(200))]).encode()  # 201 columns: counted exactly
    with pytest.raises(InvalidConfig, match="201 columns; at most 200"):
        read_text_table(io.BytesIO(header + b"\n" + b"hi" + b",1" * 200 + b"\n"))
    with pytest.raises(InvalidConfig, match="Line 3 of the CSV file has 5,000,000 commas"):  # a huge row, not header
        read_text_table(io.BytesIO(b"text,n\nhi,1\n" + b"," * 5_000_000 + b"\n"))


def test_a_file_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(InvalidConfig, match="larger than"):
        read_text_table(io.BytesIO(b"text\n" + b"a sentence\n" * 1000), max_bytes=1000)


def test_malformed_csv_rows_are_reported_with_their_line_numbers():
    content = (b'id,text,score\n1,"fine, quoted",3\n2,unquoted, comma,4\n3,ok,5\n\n'
               b'4,"two\nlines",6\n5,another, bad, one,7\n6,short\n')
    with pytest.raises(InvalidConfig, match=r"3 malformed row\(s\).*header's 3: line\(s\) 3, 8, 9\."):
        read_text_table(io.BytesIO(content))
    many = b"id,text\n" + b"".join(b"%d,bad, row\n" % i for i in range(30))
    with pytest.raises(InvalidConfig, match=r"30 malformed row\(s\).*line\(s\) 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …"):
        read_text_table(io.BytesIO(many))


def test_plain_text_files_are_one_text_per_line():
    plain = b"I love it, really\n\n  so sad today  \n\"quoted, whole\"\n=1+1\n"
    assert list(read_text_table(io.BytesIO(plain), name="texts.txt")["text"]) == [
        "I love it, really", "so sad today", "quoted, whole", "=1+1"]
    lines = b"hello, world\nthis is fine\nwhat, a, day\n"  # a .csv without a text column, not a table
    assert list(read_text_table(io.BytesIO(lines), name="texts.csv")["text"]) == [
        "hello, world", "this is fine", "what, a, day"]
    only_text = b"text\nI love it, really\n\"so, so sad\"\n"  # one column: a line with commas is one text
    assert list(read_text_table(io.BytesIO(only_text))["text"]) == ["I love it, really", "so, so sad"]
    windows = b"text,n\r\nI love it,1\r\n\"two\r\nlines\",2\r\n"  # CRLF line ends, a quoted line break
    assert read_text_table(io.BytesIO(windows)).to_dict("list") == {"text": ["I love it", "two\nlines"],
                                                                   "n": ["1", "2"]}


def test_batch_results_keep_other_columns_and_download_without_formulas(predictor):
    import csv

    from goemo_core.serving.batch_io import results_csv, results_table

    frame = read_text_table(io.BytesIO(b'id,text,model,=cmd\n7,I love it,m1,=1+1\n'
                                       b'8,"=HYPERLINK(""http://x"")",m2,-3\n9,@SUM(A1),m3,+4\n'))
    texts = list(frame["text"])
    table = results_table({"run-a": predictor.predict(texts), "run-b": predictor.predict(texts)}, frame)
    assert list(table.columns[:5]) == ["text", "id", "input model", "=cmd", "model"]
    assert list(table["id"]) == ["7", "8", "9"] * 2 and list(table["input model"]) == ["m1", "m2", "m3"] * 2
    assert list(table["model"]) == ["run-a"] * 3 + ["run-b"] * 3
    rows = list(csv.reader(io.StringIO(results_csv(table))))
    assert rows[0][:5] == ["text", "id", "input model", "'=cmd", "model"]
    assert [r[0] for r in rows[1:4]] == ["I love it", "'=HYPERLINK(\"http://x\")", "'@SUM(A1)"]
    assert [r[3] for r in rows[1:4]] == ["'=1+1", "'-3", "'+4"]
    assert all(float(r[6]) > 0 for r in rows[1:])  # numbers stay numbers


def test_classify_batch_tab_uses_the_upload_and_keeps_its_columns(run_home, goemo_env, fresh_manager):
    from streamlit.testing.v1 import AppTest


    copy_run(run_home, goemo_env)
    at = AppTest.from_file(str(page_file("classify.py")), default_timeout=120).run()
    at.text_area(key="batch_lines").set_value("pasted one\npasted two\n").run()
    assert any("2 pasted line(s)" in c.value for c in at.caption)
    at.file_uploader(key="batch_csv").set_value(("in.csv", b"id,text\n1,I love it\n2,so sad\n", "text/csv")).run()
    assert not at.exception and not at.error
    assert any("uploaded file **in.csv**" in c.value and "pasted lines are ignored" in c.value for c in at.caption)
    batch = at.dataframe[-1].value
    assert list(batch["text"]) == ["I love it", "so sad"] and list(batch["id"]) == ["1", "2"]
    at.file_uploader(key="batch_csv").set_value(("bad.csv", b"id,text\n1,I love it, a lot\n2,fine\n",
                                                 "text/csv")).run()
    assert not at.exception and any("line(s) 2" in e.value for e in at.error)
    at.file_uploader(key="batch_csv").set_value(("lines.txt", b"one, two\nthree\n", "text/plain")).run()
    assert not at.exception and list(at.dataframe[-1].value["text"]) == ["one, two", "three"]


# --- interrupts -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signal_name, code, last_line", [("SIGINT", 130, "interrupted"),
                                                         ("SIGTERM", 143, "terminated (SIGTERM)")])
def test_ctrl_c_or_sigterm_during_training_leaves_a_cancelled_run_with_its_best_weights(tmp_path, signal_name, code,
                                                                                        last_line):
    """SIGTERM is what `docker stop`, systemd and `timeout` send: handled like Ctrl-C."""
    import signal
    import time

    from conftest import ROOT

    home = tmp_path / "home"
    env = {**os.environ, "GOEMO_HOME": str(home), "GOEMO_DATA_DIR": str(DATA_DIR), "GOEMO_DEVICE": "cpu",
           "GOEMO_PRETRAINED": ""}
    process = subprocess.Popen([sys.executable, "-m", "goemo_core", "train", "--arch", "gru", "--limit", "2000",
                                "--epochs", "50", "--set", "patience=50", "--set", "hidden_size=16",
                                "--set", "embedding_dim=16", "--set", "head_units=16"],
                               cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # as from a terminal, even when the tests themselves run in the background with SIGINT
                               # ignored (a child would inherit that and rightly never see the Ctrl-C)
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    history, deadline = None, time.time() + 300
    while history is None and time.time() < deadline and process.poll() is None:
        found = [p for p in home.glob("runs/*/history.jsonl") if p.read_text().strip()]
        history = found[0] if found else None
        time.sleep(0.1)
    assert history is not None, process.communicate(timeout=60)
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=300)
    assert process.returncode == code, err
    run = history.parent
    assert (run / "status").read_text().strip() == "cancelled"
    assert (run / "model.safetensors").is_file() and (run / "metrics.json").is_file()
    assert RunStore(run.parent).get(run.name).problem is None
    assert "Traceback" not in err and err.strip().splitlines()[-1] == last_line
    assert Predictor.from_run_id(run.name, RunStore(home / "runs")).predict(["so happy"])[0]["label"]


# --- structural bounds come from the weights, not from config.json ------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"vocab_size": 4_000_000}, "does not describe the saved weights"),
    ({"embedding_init_dim": 60_000}, "does not describe the saved weights"),
    ({"params": {"embedding_dim": 4096, "hidden_size": 4096, "head_units": 16}},
     "does not describe the saved weights"),
    ({"vocab_size": 50}, "more than the model's vocabulary of 50"),  # the tokenizer would index past the table
    ({"max_length": 10**9}, "'max_length' should be less than or equal to 512"),
])
def test_sizes_in_a_damaged_config_never_reach_an_allocation(run_home, goemo_env, changes, message):
    import time

    folder = copy_run(run_home, goemo_env)
    config = {**RunStore().get(folder.name).config, **changes}
    if "params" in changes:
        config["params"] = {**RunStore().get(folder.name).config["params"], **changes["params"]}
    damage_config(folder, **config)
    started = time.perf_counter()
    with pytest.raises(MissingResource, match=message):
        Predictor(RunStore().get(folder.name))
    assert time.perf_counter() - started < 10


def test_nan_weights_are_refused_not_predicted_with(run_home, goemo_env):
    from safetensors.torch import load_file, save_file

    folder = copy_run(run_home, goemo_env)
    weights = load_file(str(folder / "model.safetensors"))
    first = next(name for name, tensor in weights.items() if tensor.is_floating_point())
    weights[first][0] = float("nan")
    save_file(weights, str(folder / "model.safetensors"))
    with pytest.raises(MissingResource, match="non-finite weights"):
        Predictor(RunStore().get(folder.name))


def test_predict_refuses_more_texts_than_its_limit(run_home, goemo_env):
    from goemo_core.serving.predict import MAX_TEXTS, predict_texts

    folder = copy_run(run_home, goemo_env)
    with pytest.raises(InvalidConfig, match=f"at most {MAX_TEXTS:,} texts"):
        predict_texts(folder.name, ["hi"] * (MAX_TEXTS + 1))


# --- a run's life: every way a process ends -----------------------------------------------------------------------


def test_a_failed_write_leaves_a_failed_run_never_a_completed_one(goemo_env, monkeypatch):
    from goemo_core.runs import store as runs

    def full_disk(self, state_dict):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.Run, "save_weights", full_disk)
    with pytest.raises(MissingResource, match="could not be written .*No space left"):
        train_run(make_config("gru", TINY))
    [run] = RunStore().list()
    assert run.status == "failed" and "No space left" in run.info["error"]
    assert run.metrics is None


def test_a_diverging_run_ends_diverged_not_in_a_traceback(goemo_env, capsys):
    import json

    from goemo_core.cli import main

    code = main(["train", "--arch", "gru", "--limit", "150", "--epochs", "2", "--set", "lr=1e308", "--set",
                 "hidden_size=16", "--set", "embedding_dim=16", "--set", "head_units=16", "--json"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert json.loads(captured.out)["status"] == "diverged"
    [run] = RunStore().list()
    assert run.status == "diverged" and "non-finite" in run.info["error"]
    assert all(record["train_loss"] == record["train_loss"] for record in run.history)  # no NaN kept


def test_json_output_is_strict_non_finite_numbers_become_null(capsys):
    import json

    from goemo_core.cli import strict_json

    text = strict_json({"accuracy": float("nan"), "rows": [1.5, float("inf")]})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {"accuracy": None, "rows": [1.5, None]}
    assert "2 non-finite number(s) printed as null: accuracy, rows[1]" in capsys.readouterr().err


def test_a_byte_order_mark_is_not_part_of_the_first_text(tmp_path, monkeypatch):
    import shutil

    from goemo_core.data.goemotions import load_goemotions

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    for name in ("train.tsv", "emotions.txt"):
        (data / name).write_bytes(b"\xef\xbb\xbf" + (data / name).read_bytes())
    monkeypatch.setenv("GOEMO_DATA_DIR", str(data))
    first = load_goemotions()["train"][0]["text"]
    assert not first.startswith("\ufeff") and first == load_goemotions_from(DATA_DIR)[0]["text"]


def load_goemotions_from(folder):
    from goemo_core.data.goemotions import _load_local

    return _load_local(folder)["train"]


def test_compare_csv_download_neutralises_formulas(run_home, goemo_env):
    from goemo_core.results.run_tables import comparison_export
    from goemo_core.runs.folder import RunLabel

    folder = copy_run(run_home, goemo_env)
    run = RunStore().get(folder.name)
    run.set_label(RunLabel.clean('=HYPERLINK("http://example.com","x")', ["+cmd", "@sum"], "-2+3"))
    csv = comparison_export([run]).to_csv(index=False)
    assert "'=HYPERLINK" in csv and "'+cmd" in csv
    assert ",=" not in csv and ",+" not in csv and ",@" not in csv


@pytest.mark.parametrize("attribute, message", [
    ("text", "should be an object"), ({"arch": "gru", "epochs": "ten"}, "epochs: should be a valid integer"),
])
def test_a_study_with_damaged_stored_settings_is_one_clear_error(goemo_env, capsys, attribute, message):
    import optuna

    from goemo_core.cli import main
    from goemo_core.tune import list_studies
    from goemo_core.tune.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="gru-damaged", storage=open_storage(None), direction="maximize")
    study.set_user_attr("goemo", attribute)
    assert [row["arch"] for row in list_studies()] == ["gru"]  # a listing does not raise
    code = main(["tune", "--arch", "gru", "--study", "gru-damaged", "--n-trials", "1", "--limit", "100"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# --- damaged files of a run the Compare page shows ----------------------------------------------------------------


def rewrite_json(path, change):
    import json

    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _without(key):
    return lambda document: {k: v for k, v in document.items() if k != key}


def _renamed_classes(metrics):
    names = {"anger": "rage"}
    return {**metrics, "per_class": {names.get(k, k): v for k, v in metrics["per_class"].items()}}


def _history_lines(count):
    return "".join(f'{{"epoch": {i}, "val_accuracy": 40.0}}\n' for i in range(1, count + 1))


DAMAGES = {  # name: (what is damaged, how, whether the run becomes unreadable, words of the reason or the error)
    "no confusion": ("metrics.json", _without("confusion"), True, "without their 'confusion' matrix"),
    "per-class names": ("metrics.json", _renamed_classes, True, "'per_class' names"),
    "confusion shape": ("metrics.json", lambda m: {**m, "confusion": [row[:6] for row in m["confusion"][:6]]},
                        True, "'confusion' is not a square matrix"),
    "no per-class": ("metrics.json", _without("per_class"), False, ""),
    "no macro-F1, two seeds": ("metrics.json", _without("macro_f1"), False, ""),
    "100,000 epochs": ("history.jsonl", _history_lines(100_000), True, "more than 1,000 epochs"),
    "history not numbers": ("history.jsonl", '{"epoch": 1, "val_accuracy": "high"}\n', True, "history.jsonl line 1"),
    "predictions without confidence": ("test_predictions.csv", "id,text,true,predicted\n1,hi,joy,joy\n", False,
                                       "no 'confidence' column"),
    "predictions without columns": ("test_predictions.csv", "\n", False, "holds no table"),
    "predictions not UTF-8": ("test_predictions.csv", b"id,text,true,predicted,confidence\n1,\xff\xfe,joy,joy,1\n",
                              False, "not UTF-8"),
    "predictions odd confidence": ("test_predictions.csv", "id,text,true,predicted,confidence\n1,hi,joy,joy,x\n",
                                   False, "not probabilities"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_compare_renders_next_to_each_damaged_run_file(run_home, goemo_env, fresh_manager, case):
    from streamlit.testing.v1 import AppTest

    name, damage, unreadable, words = DAMAGES[case]
    good = copy_run(run_home, goemo_env)
    damaged = copy_run(run_home, goemo_env, "gru-29990101-000000-dmg0")  # the newest: the first examples shown
    damage_config(damaged, seed=212, run_id=damaged.name)
    targets = [good, damaged] if case == "no macro-F1, two seeds" else [damaged]
    for folder in targets:
        if callable(damage):
            rewrite_json(folder / name, damage)
        else:
            (folder / name).write_bytes(damage if isinstance(damage, bytes) else damage.encode())
    store = RunStore()
    reasons = dict(store.unreadable())
    assert (damaged.name in reasons) == unreadable and (not unreadable or words in reasons[damaged.name])
    at = AppTest.from_file(str(page_file("compare.py")), default_timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    captions = "\n".join(c.value for c in at.caption)
    if unreadable:
        assert damaged.name in captions and words in captions
    elif words:  # the examples of a confusion cell cannot be listed; the rest of the run is shown
        assert any(words in error.value for error in at.error), [e.value for e in at.error]
        assert f"cm-{damaged.name}" in {chart.key for chart in at.get("vega_lite_chart")}
    if case == "no macro-F1, two seeds":
        from goemo_core.results.summary import seed_summary

        [row] = seed_summary(store.list()).to_dict(orient="records")
        assert row["runs"] == 2 and row["test_macro_f1_mean"] != row["test_macro_f1_mean"]  # NaN: no seed has it
        assert row["test_accuracy_std"] is not None and row["n_by_metric"]["macro_f1"] == 0


# --- a file where a folder is expected ----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["runs", "cache"])
def test_training_with_a_file_where_a_home_folder_goes_is_one_line(goemo_env, capsys, where):
    from goemo_core.cli import main

    goemo_env.mkdir(parents=True, exist_ok=True)
    (goemo_env / where).write_text("not a folder")
    code = main(["train", "--arch", "gru", "--limit", "60", "--epochs", "1", "--pretrained", "none",
                 "--set", "hidden_size=8", "--set", "embedding_dim=8", "--set", "head_units=8"])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err  # log lines, then the error in one line
    assert err.strip().splitlines()[-1].startswith(f"error: {goemo_env / where} is a file where a folder is expected")
    assert (goemo_env / where).read_text() == "not a folder"  # never removed to make room


@pytest.mark.parametrize("blocked", ["augmented", "augmented/<name>"])
def test_augment_build_with_a_file_where_its_folder_goes_is_one_line(goemo_env, capsys, blocked):
    from goemo_core.augment.balance import AugmentSpec
    from goemo_core.cli import main

    argv = ["augment", "build", "--limit", "100", "--target-count", "20", "--seed", "3"]
    name = AugmentSpec.from_config({"limit": 100, "target_count": 20, "seed": 3}).name
    path = goemo_env / blocked.replace("<name>", name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{path} is a file where a folder is expected" in err
    assert path.read_text() == "not a folder"


@pytest.mark.parametrize("blocked", ["cache", "cache/teachers"])
def test_teacher_probabilities_with_a_file_where_the_cache_goes_is_one_line(goemo_env, blocked):
    from goemo_core.training.teachers import teacher_probabilities

    path = goemo_env / blocked
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")
    with pytest.raises(MissingResource, match=f"{path} is a file where a folder is expected"):
        teacher_probabilities([], ["a sentence"], goemo_env / "cache")


@pytest.mark.parametrize("blocked", ["cache", "cache/transfer"])
def test_transfer_variants_with_a_file_where_the_cache_goes_is_one_line(goemo_env, blocked):
    from goemo_core.augment.transfer import transfer_variants
    from goemo_core.settings import get_settings

    path = goemo_env / blocked
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")
    with pytest.raises(MissingResource, match=f"{path} is a file where a folder is expected"):
        transfer_variants(["a sentence to vary"], 1, 7, get_settings())


# --- run folders whose names no run id may have ---------------------------------------------------------------------


@pytest.mark.parametrize("name, words", [("g" * 220, "220 bytes long"), ("gru-2020\\x-1", "a backslash")])
def test_runs_list_shows_names_no_run_id_may_have_as_unreadable(run_home, goemo_env, capsys, name, words):
    import json

    from goemo_core.cli import main

    good = copy_run(run_home, goemo_env)
    copy_run(run_home, goemo_env, name)
    store = RunStore()
    assert [run.run_id for run in store.list()] == [good.name]
    assert dict(store.unreadable())[name].startswith("its name") and words in dict(store.unreadable())[name]
    assert main(["runs", "list", "--json"]) == 0
    rows = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[name]["status"] == "unreadable" and words in rows[name]["reason"]
    assert rows[good.name]["status"] == "completed" and rows[good.name]["task"] == "ekman"
