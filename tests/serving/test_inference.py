"""Batched inference: texts run in order of length, logits come back in the input's order."""

import torch

from goemo_core.models import get_architecture, resolve_params
from goemo_core.serving.inference import predict_logits, predict_probabilities


def _model() -> torch.nn.Module:
    arch = get_architecture("gru")
    torch.manual_seed(0)
    params = resolve_params(arch, {"embedding_dim": 8, "hidden_size": 8, "head_units": 8})
    return arch.build(params, 30, 0, 7, None)


def test_logits_come_back_in_the_input_order_whatever_the_batching():
    model = _model().train()
    gen = torch.Generator().manual_seed(2)
    lengths = torch.tensor([5, 1, 12, 3, 12, 7, 2, 9])
    ids = torch.randint(1, 30, (len(lengths), 12), generator=gen) * (torch.arange(12) < lengths[:, None])
    logits = predict_logits(model, ids, lengths, batch_size=3)
    assert model.training  # the mode is restored
    with torch.no_grad():
        model.eval()
        alone = torch.cat([model(ids[r:r + 1, :lengths[r]], lengths[r:r + 1]) for r in range(len(lengths))])
    assert logits.shape == (8, 7)
    torch.testing.assert_close(logits, alone, atol=1e-5, rtol=0)
    probabilities = predict_probabilities(model, ids, lengths, batch_size=5)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(8))


def test_no_texts_no_logits():
    assert predict_logits(_model(), torch.zeros((0, 4), dtype=torch.long), torch.zeros(0, dtype=torch.long)).shape \
        == (0, 7)
