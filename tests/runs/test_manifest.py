"""A run folder that travels: its manifest (sizes and SHA-256 of the files that rebuild it, where it was trained), and
the checks a copy passes before it becomes a run folder: a changed byte, a missing file, a file that does not fit its
schema, a truncated weights file and a manifest that names a path are each refused with the reason."""

import json
import shutil

import pytest
from conftest import whole_run

from goemo_core.runs.atomic import write_atomic
from goemo_core.runs.manifest import MANIFEST, build_manifest, check_copy, differences, file_digest, parse_manifest
from goemo_core.runs.manifest import TRAVELLING_FILES
from goemo_core.runs.schemas import Unreadable
from goemo_core.runs.store import RunStore


def copy_of(run, manifest, folder):
    folder.mkdir()
    for name in manifest["files"]:
        shutil.copy(run.path / name, folder / name)
    write_atomic(folder / "status", manifest["status"] + "\n")
    return folder


def test_the_manifest_lists_every_file_with_its_checksum_and_where_the_run_was_trained():
    run = whole_run(RunStore())
    manifest = parse_manifest(json.dumps(build_manifest(run)))
    assert set(manifest["files"]) == {"config.json", "metrics.json", "history.jsonl", "info.json", "owner.json",
                                      "probabilities.safetensors", "model.safetensors", "tokenizer.json"}
    assert set(manifest["files"]) <= set(TRAVELLING_FILES)
    assert manifest["files"]["model.safetensors"] == {"sha256": file_digest(run.weights_path),
                                                      "bytes": run.weights_path.stat().st_size}
    assert (manifest["run_id"], manifest["status"], manifest["device"]) == (run.run_id, "completed", "CPU")
    assert manifest["host"] == run.owner["host"]
    assert differences(run.path, manifest) == []


def test_a_true_copy_passes_and_each_kind_of_damage_is_refused(tmp_path):
    run = whole_run(RunStore())
    manifest = build_manifest(run)
    copy = check_copy(copy_of(run, manifest, tmp_path / "copy"), manifest)
    assert copy.status == "completed" and copy.config["arch"] == "gru" and copy.metrics["accuracy"] == 61.0

    flipped = copy_of(run, manifest, tmp_path / "flipped")
    data = bytearray((flipped / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (flipped / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(Unreadable, match="model.safetensors: its SHA-256 differs"):
        check_copy(flipped, manifest)

    gone = copy_of(run, manifest, tmp_path / "gone")
    (gone / "tokenizer.json").unlink()
    with pytest.raises(Unreadable, match="tokenizer.json is missing"):
        check_copy(gone, manifest)

    # files that match a manifest made from them, and still cannot make a run folder
    bad_metrics = copy_of(run, manifest, tmp_path / "bad-metrics")
    (bad_metrics / "metrics.json").write_text('{"accuracy": 140.0}')
    truncated = copy_of(run, manifest, tmp_path / "truncated")
    (truncated / "model.safetensors").write_bytes((truncated / "model.safetensors").read_bytes()[:-8])
    for folder, words in ((bad_metrics, "metrics.json: 'accuracy'"), (truncated, "model.safetensors is truncated")):
        regenerated = {**manifest, "files": {name: {"sha256": file_digest(folder / name),
                                                    "bytes": (folder / name).stat().st_size}
                                             for name in manifest["files"]}}
        with pytest.raises(Unreadable, match=words):
            check_copy(folder, regenerated)


def test_a_manifest_that_names_a_path_or_misses_a_field_does_not_fit():
    entry = {"sha256": "0" * 64, "bytes": 1}
    base = {"format": 1, "run_id": "gru-1", "status": "completed", "files": {"config.json": entry}}
    assert parse_manifest(json.dumps(base))["run_id"] == "gru-1"
    for document, words in (({**base, "files": {"../../etc/passwd": entry}}, "files"),
                            ({**base, "files": {"config.json": {**entry, "sha256": "xyz"}}}, "sha256"),
                            ({**base, "status": "great"}, "status"), ({**base, "format": 2}, "format")):
        with pytest.raises(Unreadable, match=words):
            parse_manifest(json.dumps(document))
    with pytest.raises(Unreadable, match=f"{MANIFEST} is not valid JSON"):
        parse_manifest("{")
