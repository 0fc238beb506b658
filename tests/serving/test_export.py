"""ONNX export: tiny runs exported and verified against PyTorch, padded batches of mixed lengths giving the same
probabilities, the cost recorded, serving from the file only while it is the verified one, and a one-line refusal
for what cannot export."""

import json

import pytest
import torch
from conftest import fake_run, unavailable

from goemo_core.cli import main
from goemo_core.data.goemotions import EKMAN_CLASSES
from goemo_core.errors import MissingResource
from goemo_core.runs.store import RunStore
from goemo_core.serving.cost import ONNX_COST_AXES, onnx_cost
from goemo_core.serving.predict import Predictor
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run

TINY = {"limit": 200, "epochs": 1, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu",
        "pretrained": None}
MIXED = ["I love it", "no", "", "this is a much longer sentence about being really angry at the weather again today",
         "what?! 🙃", "thanks a lot, that was kind of you"]
TOLERANCE = 1e-4


@pytest.fixture(autouse=True)
def onnx_runtime():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        unavailable("onnx and onnxruntime are not installed (requirements.txt)")


def export(run):
    from goemo_core.serving.onnx_export import export_run

    return export_run(run, timing_budget_s=0.05)


def graph_probabilities(session, ids, lengths):
    return torch.from_numpy(session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})[0])


@pytest.mark.parametrize("arch", ["rwkv", "gru", "lstm"])
def test_export_matches_pytorch_on_padded_batches_of_mixed_lengths(arch):
    from goemo_core.serving.onnx_predictor import ExportFiles, onnx_session

    run = train_run(make_config(arch, {**TINY, "max_length": 24})).run
    result = export(run)
    assert result["verified"] and result["max_abs_diff"] <= TOLERANCE and result["texts"] == 200

    files = ExportFiles.of_run(run)
    card = json.loads(files.card.read_text())
    assert card["labels"] == list(EKMAN_CLASSES) and card["task"] == "ekman" and card["max_length"] == 24
    assert card["verified"] and files.tokenizer.is_file()

    reference, session = Predictor(run), onnx_session(files.model)
    ids, lengths = reference.encoder(MIXED)
    longest = int(lengths.max())
    with torch.no_grad():
        expected = torch.softmax(reference.model(ids[:, :longest], lengths), -1)
    for width in (longest, longest + 3, ids.shape[1]):  # more padding never changes a probability
        got = graph_probabilities(session, ids[:, :width].contiguous(), lengths)
        assert got.shape == (len(MIXED), len(EKMAN_CLASSES))
        assert (got - expected).abs().max() <= TOLERANCE
        assert torch.allclose(got.sum(-1), torch.ones(len(MIXED)), atol=1e-5)
    for row in range(len(MIXED)):  # each text alone, unpadded, as in the batch
        alone = graph_probabilities(session, ids[row:row + 1, :int(lengths[row])].contiguous(), lengths[row:row + 1])
        assert (alone[0] - expected[row]).abs().max() <= TOLERANCE

    figures = run.refresh().metrics["cost"]["onnx"]
    for engine in ("pytorch", "onnxruntime"):
        assert figures[engine]["latency_ms"] > 0 and figures[engine]["sentences_per_s"] > 0
    assert onnx_cost(run.metrics) == {key: figures[key] for key in ONNX_COST_AXES}


def test_predict_serves_the_verified_file_and_refuses_a_changed_one(capsys):
    from goemo_core.serving.onnx_predictor import ExportFiles, has_verified_export, load_onnx_predictor

    run = train_run(make_config("gru", TINY)).run
    assert not has_verified_export(run)
    assert main(["predict", "--run", run.run_id, "--onnx", "--text", "hi"]) == 3
    assert "export onnx --run" in capsys.readouterr().err

    export(run)
    assert has_verified_export(run)
    texts = ["I am so happy for you", "", "that is disgusting"]
    served = load_onnx_predictor(run).predict(texts)
    pytorch = Predictor(run).predict(texts)
    assert served[1]["label"] is None and served[1]["note"] == pytorch[1]["note"]
    for mine, theirs in zip(served[::2], pytorch[::2]):
        assert mine["label"] == theirs["label"]
        assert sum(mine["probabilities"].values()) == pytest.approx(1.0)
        assert max(abs(mine["probabilities"][c] - theirs["probabilities"][c]) for c in EKMAN_CLASSES) <= TOLERANCE
    assert main(["predict", "--run", run.run_id, "--onnx", "--text", texts[0], "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["predictions"][0]["label"] == served[0]["label"]
    assert document["served_by"] == "onnxruntime" and "served from run" in err and "ONNX Runtime" in err
    assert main(["predict", "--run", run.run_id, "--text", texts[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["served_by"] == "pytorch"

    model = ExportFiles.of_run(run).model
    model.write_bytes(model.read_bytes()[:-1] + b"\0")  # same size, other bytes
    with pytest.raises(MissingResource, match="changed since it was verified"):
        load_onnx_predictor(run)


def test_xlstm_is_refused_in_one_line(capsys):
    run = fake_run(RunStore(), "xlstm", 1, 50.0)
    assert main(["export", "onnx", "--run", run.run_id]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "xlstm cannot be exported to ONNX: the xlstm package" in err
    assert not (run.path / "export").exists()


def test_unfinished_run_and_bad_out_are_refused(capsys):
    run = fake_run(RunStore(), "gru", 1, None)  # failed: no metrics, no weights
    assert main(["export", "onnx", "--run", run.run_id]) == 3
    assert "is failed; only completed runs are exported" in capsys.readouterr().err
    done = fake_run(RunStore(), "gru", 2, 50.0)
    assert main(["export", "onnx", "--run", done.run_id, "--out", "model.bin"]) == 2
    assert "must end in .onnx" in capsys.readouterr().err


def test_onnx_cost_is_empty_without_a_verified_export():
    assert onnx_cost(None) == {key: None for key in ONNX_COST_AXES}
    unverified = {"cost": {"onnx": {"verified": False, "onnx_cpu_latency_ms": 1.0}}}
    assert onnx_cost(unverified)["onnx_cpu_latency_ms"] is None


@pytest.mark.slow
def test_transformer_exports(pretrained):
    if not (pretrained / "model.safetensors").is_file():
        unavailable(f"no local encoder in {pretrained}")
    run = train_run(make_config("transformer", {"limit": 64, "epochs": 1, "device": "cpu"})).run
    result = export(run)
    assert result["verified"] and result["max_abs_diff"] <= TOLERANCE


def test_classify_serves_from_the_export_and_compare_offers_its_cost(fresh_manager):
    from conftest import page_file
    from streamlit.testing.v1 import AppTest

    run = train_run(make_config("gru", TINY)).run
    classify = AppTest.from_file(str(page_file("classify.py")), default_timeout=90).run()
    assert not classify.exception and "classify_onnx" not in [t.key for t in classify.toggle]  # no export: no choice
    export(run)
    classify = AppTest.from_file(str(page_file("classify.py")), default_timeout=90).run()
    classify.text_area(key="classify_text").set_value("What a wonderful surprise!").run()
    pytorch_label = classify.metric[0].value
    classify.toggle(key="classify_onnx").set_value(True).run()
    assert not classify.exception and classify.metric[0].value == pytorch_label

    compare = AppTest.from_file(str(page_file("compare.py")), default_timeout=90).run()
    assert not compare.exception
    axis = compare.segmented_control(key="cost_axis")
    assert "onnx_cpu_latency_ms" in axis.options or "latency of one sentence on the CPU, ONNX Runtime (ms)" in [
        str(o) for o in axis.options]
    axis.set_value("onnx_cpu_latency_ms").run()
    assert not compare.exception and not any("None of the selected runs has this" in c.value for c in compare.caption)


def test_a_damaged_onnx_cost_makes_the_run_unreadable_not_a_crash():
    run = fake_run(RunStore(), "gru", 1, 50.0)
    good = {"file": "x.onnx", "verified": True, "max_abs_diff": 1e-7, "onnx_cpu_latency_ms": 0.4}
    run.write_json("metrics.json", {"accuracy": 50.0, "cost": {"onnx": good}})
    assert run.refresh().problem is None and onnx_cost(run.metrics)["onnx_cpu_latency_ms"] == 0.4
    run.write_json("metrics.json", {"accuracy": 50.0, "cost": {"onnx": {**good, "max_abs_diff": "small"}}})
    assert "max_abs_diff" in run.refresh().problem and run.metrics is None
