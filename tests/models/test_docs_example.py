"""The model added on docs/architecture.md ("Adding a model") works as the page says: registered with one line, it
trains, writes a completed run and predicts like any architecture."""

from __future__ import annotations

import re
import sys
import types

import torch
from conftest import ROOT

from goemo_core.models import registry

PAGE = ROOT / "docs" / "architecture.md"


def documented_module() -> types.ModuleType:
    """The first Python block of the page, loaded as a module of goemo_core.models (its relative imports work)."""
    code = re.search(r"```python\n(.*?)```", PAGE.read_text(), re.S).group(1)
    module = types.ModuleType("goemo_core.models.docs_cnn")
    module.__package__ = "goemo_core.models"
    sys.modules[module.__name__] = module
    exec(compile(code, str(PAGE), "exec"), module.__dict__)
    return module


def test_the_documented_model_registers_trains_and_predicts(monkeypatch):
    from goemo_core.serving.predict import predict_texts
    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    cnn = documented_module().CNN
    monkeypatch.setitem(registry._REGISTRY, cnn.name, cnn)
    monkeypatch.delitem(sys.modules, "goemo_core.models.docs_cnn")
    model = cnn.build(cnn.defaults, 50, 0, 7, None)
    ids, lengths = torch.randint(1, 50, (3, 6)), torch.tensor([6, 2, 1])
    logits = model(ids, lengths)
    assert logits.shape == (3, 7)
    # padding never changes a text's features: a text alone, or right-padded with the pad id, gives the same logits
    model.eval()
    padded = torch.cat([ids[1:2, :2], torch.zeros(1, 4, dtype=torch.long)], dim=1)
    assert torch.allclose(model(ids[1:2, :2], lengths[1:2]), model(padded, lengths[1:2]), atol=1e-6)

    config = make_config("cnn", {"limit": 100, "epochs": 1, "pretrained": "none", "embedding_dim": 16,
                                 "hidden_size": 16, "head_units": 16, "kernel_width": 5})
    result = train_run(config)
    assert result.status == "completed" and result.run.config["params"]["kernel_width"] == 5
    predictions = predict_texts(result.run.run_id, ["I am so happy", "this is awful"])
    assert [round(sum(p["probabilities"].values()), 5) for p in predictions] == [1.0, 1.0]
