"""A machine whose torch sees a GPU: the form shows the recipe that will train, explicit values win, and without a
CUDA toolkit the app still works (the xlstm package is imported only for an xLSTM, whose sLSTM falls back)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, page_file


def fake_cuda(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Faked GPU")


def test_on_a_gpu_the_form_shows_what_trains_and_an_explicit_64_trains_at_64(fresh_manager, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from goemo_core.jobs.manager import JobManager
    from goemo_core.training.config import make_config

    fake_cuda(monkeypatch)
    monkeypatch.setenv("GOEMO_DEVICE", "auto")
    submitted = []
    monkeypatch.setattr(JobManager, "submit", lambda self, kind, job, **kwargs: submitted.append(job) or "job")
    at = AppTest.from_file(str(page_file("train.py")), default_timeout=90).run()
    at.multiselect(key="train_archs").set_value(["lstm"]).run()
    at.selectbox(key="train_device").set_value("cuda").run()
    expected = make_config("lstm", {"device": "cuda"})
    shown = {name: at.number_input(key=f"r-{name}").value for name in ("batch_size", "lr", "epochs")}
    assert shown == {"batch_size": expected.batch_size, "lr": expected.lr, "epochs": expected.epochs}
    assert shown["batch_size"] == 256 and at.checkbox(key="r-length_buckets").value is True

    at.number_input(key="r-batch_size").set_value(64)  # the CPU default, set on purpose: it must win
    at.number_input(key="train_limit").set_value(100)
    at.button(key="train_launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [job] = submitted
    assert (job.config.batch_size, job.config.device, job.config.recipe) == (64, "cuda", "gpu")
    assert job.config.lr == expected.lr and job.config.length_buckets is True

    at.selectbox(key="train_device").set_value("cpu").run()  # another device: the inputs start at its recipe
    on_cpu = make_config("lstm", {"device": "cpu"})  # batches of 64, or 128 on a CPU with native bf16
    assert (at.number_input(key="r-batch_size").value, at.number_input(key="r-lr").value) == (on_cpu.batch_size,
                                                                                              on_cpu.lr)
    assert on_cpu.batch_size in (64, 128)


FAKED_GPU_WITHOUT_TOOLKIT = textwrap.dedent("""
    import json, os, sys
    import torch
    os.environ.pop("CUDA_HOME", None)
    os.environ.pop("CUDA_PATH", None)
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: 1
    torch.cuda.get_device_name = lambda *args: "Faked GPU"
    from streamlit.testing.v1 import AppTest
    from goemo_core.cli import main
    from goemo_core.training.config import make_config
    from goemo_core.training.prepare import build_model

    report = {"pages": {}}
    for path in sys.argv[1:]:
        at = AppTest.from_file(path, default_timeout=120).run()
        report["pages"][os.path.basename(path)] = [str(e.value)[:300] for e in at.exception]
    report["train"] = main(["train", "--arch", "gru", "--device", "cpu", "--limit", "120", "--epochs", "1",
                            "--pretrained", "none", "--set", "hidden_size=8", "--set", "embedding_dim=8"])
    config = make_config("xlstm", {"device": "cpu", "pretrained": None, "embedding_dim": 16, "num_heads": 2})
    encoder = build_model(config, 50, 0, None, "cuda").encoder  # built for the GPU: the kernel cannot be
    report["xlstm"] = {"backend": encoder.slstm_backend, "notes": encoder.notes}
    print("REPORT " + json.dumps(report))
""")


@pytest.mark.slow
def test_a_gpu_machine_without_a_cuda_toolkit_renders_every_page_and_trains(tmp_path):
    pages = sorted(str(p) for p in (ROOT / "app_pages").rglob("*.py"))
    env = {**os.environ, "GOEMO_HOME": str(tmp_path / "home"), "GOEMO_DEVICE": "auto", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", FAKED_GPU_WITHOUT_TOOLKIT, *pages], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    line = next((line for line in done.stdout.splitlines() if line.startswith("REPORT ")), None)
    assert line, done.stderr[-3000:]
    report = json.loads(line[len("REPORT "):])
    assert len(report["pages"]) == 7 and all(not errors for errors in report["pages"].values()), report["pages"]
    assert report["train"] == 0
    assert report["xlstm"]["backend"] == "vanilla"
    assert any("CUDA toolkit was not found" in note for note in report["xlstm"]["notes"])
