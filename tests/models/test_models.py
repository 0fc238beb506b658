"""Every registered architecture: output shape, padding invariance, determinism and statelessness; parameter checks;
pretrained embedding initialisation. Tiny models on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODELS, unavailable

from goemo_core.errors import InvalidConfig
from goemo_core.models import architectures, get_architecture, load_pretrained_embeddings, resolve_params
from goemo_core.models.common import EmbeddingInit, TokenEmbedding, padding_mask
from goemo_core.models.rnn import packed_states, padded_states, within_length_reversal

NUM_CLASSES = 7
VOCAB = 50
PRETRAINED = os.environ.get("GOEMO_PRETRAINED") or str(
    (Path(__file__).resolve().parents[2] / "../shared/models/all-MiniLM-L6-v2").resolve())

TINY = TINY_MODELS
NEEDS_ENCODER = {"transformer"}


@pytest.fixture(scope="session")
def pretrained() -> EmbeddingInit:
    if not Path(PRETRAINED).exists():
        unavailable(f"no local encoder at {PRETRAINED} (set GOEMO_PRETRAINED)")
    return load_pretrained_embeddings(PRETRAINED)


def build(name: str, request: pytest.FixtureRequest, seed: int = 0, **overrides) -> torch.nn.Module:
    arch = get_architecture(name)
    init = request.getfixturevalue("pretrained") if name in NEEDS_ENCODER else None
    vocab = init.weight.shape[0] if init is not None else VOCAB
    torch.manual_seed(seed)
    return arch.build(resolve_params(arch, {**TINY.get(name, {}), **overrides}), vocab, 0, NUM_CLASSES, init)


def batch(lengths: list[int], width: int | None = None, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (pad id 0) of the given lengths, padded to `width` (default: the longest)."""
    gen = torch.Generator().manual_seed(seed)
    width = width or max(lengths)
    ids = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(1, VOCAB, (length,), generator=gen)
    return ids, torch.tensor(lengths)


ARCHS = sorted(architectures())


@pytest.mark.parametrize("name", ARCHS)
def test_shape_padding_invariance_and_statelessness(name, request):
    model = build(name, request).eval()
    ids, lengths = batch([6, 3, 8])
    with torch.no_grad():
        logits = model(ids, lengths)
        again = model(ids, lengths)
        wider = model(*batch([6, 3, 8], width=13))
    assert logits.shape == (3, NUM_CLASSES) and torch.isfinite(logits).all()
    assert torch.equal(logits, again)  # no state carried from one call to the next
    torch.testing.assert_close(wider, logits, atol=1e-5, rtol=0)  # extra right padding changes nothing


@pytest.mark.parametrize("name", ARCHS)
def test_example_alone_equals_example_in_batch(name, request):
    model = build(name, request).eval()
    ids, lengths = batch([4, 9, 2, 6])
    with torch.no_grad():
        together = model(ids, lengths)
        for row in range(len(lengths)):
            alone = model(ids[row : row + 1, : lengths[row]], lengths[row : row + 1])
            torch.testing.assert_close(alone[0], together[row], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ARCHS)
def test_same_seed_same_model(name, request):
    first, second = build(name, request, seed=3).eval(), build(name, request, seed=3).eval()
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ids, lengths = batch([5, 2])
    with torch.no_grad():
        assert torch.equal(first(ids, lengths), second(ids, lengths))


@pytest.mark.parametrize("name", ARCHS)
def test_trains(name, request):
    model = build(name, request).train()
    ids, lengths = batch([5, 7, 3])
    torch.nn.functional.cross_entropy(model(ids, lengths), torch.tensor([0, 3, 6])).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads if g is not None)
    assert sum(g is not None for g in grads) > 0
    head_grad = list(model.parameters())[-1].grad  # the class layer's bias
    assert head_grad is not None and head_grad.abs().sum() > 0


@pytest.mark.parametrize("name", ARCHS)
def test_resolve_params_refuses_unknown_keys(name):
    with pytest.raises(InvalidConfig, match="bogus"):
        resolve_params(get_architecture(name), {"bogus": 1})


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["max", "meanmax"])
def test_pooled_recurrent_features_ignore_padding(name, pooling, request):
    model = build(name, request, pooling=pooling).eval()
    assert model.encoder.output_dim == (64 if pooling == "meanmax" else 32)  # hidden 16, two directions
    ids, lengths = batch([4, 9, 2, 6])
    with torch.no_grad():
        together = model(ids, lengths)
        wider = model(*batch([4, 9, 2, 6], width=15))
        alone = torch.cat([model(ids[r:r + 1, :lengths[r]], lengths[r:r + 1]) for r in range(4)])
        last = build(name, request, pooling="last").eval()(ids, lengths)
    torch.testing.assert_close(wider, together, atol=1e-5, rtol=0)
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=0)
    assert not torch.allclose(last, together)  # a different feature, not a renamed one


@pytest.mark.parametrize("cell", [torch.nn.LSTM, torch.nn.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_padded_recurrence_equals_the_packed_one(cell, layers):
    torch.manual_seed(layers)
    rnn = cell(8, 6, num_layers=layers, batch_first=True, bidirectional=True)
    lengths, width = torch.tensor([1, 7, 3, 9, 2, 9]), 11
    vectors = torch.randn(len(lengths), width, 8)
    real = padding_mask(lengths, width).unsqueeze(-1)
    results = []
    for run in (padded_states, packed_states):
        rnn.zero_grad()
        outputs, finals = run(rnn, vectors, lengths)
        assert outputs.shape == (6, width, 12) and finals.shape == (2 * layers, 6, 6)
        (outputs.masked_fill(~real, 0).square().sum() + finals.sum()).backward()
        results.append((outputs.masked_fill(~real, 0), finals, [p.grad.clone() for p in rnn.parameters()]))
    (padded, padded_finals, padded_grads), (packed, packed_finals, packed_grads) = results
    torch.testing.assert_close(padded, packed, atol=1e-6, rtol=1e-5)  # every real step, both directions
    torch.testing.assert_close(padded_finals, packed_finals, atol=1e-6, rtol=1e-5)  # every layer's final states
    for padded_grad, packed_grad in zip(padded_grads, packed_grads):  # and it trains the same weights the same way
        torch.testing.assert_close(padded_grad, packed_grad, atol=1e-5, rtol=1e-4)


def test_within_length_reversal_keeps_padding_in_place_and_undoes_itself():
    reversal = within_length_reversal(torch.tensor([3, 1, 5]), 5)
    assert reversal.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]
    assert torch.equal(reversal.gather(1, reversal), torch.arange(5).expand(3, 5))


@pytest.mark.parametrize("name", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "meanmax"])
def test_recurrent_models_give_the_same_logits_packed_or_padded(name, pooling, request):
    model = build(name, request, pooling=pooling).eval()
    assert not model.encoder.uses_packing(torch.device("cpu"))  # off CUDA the padded path is the default
    ids, lengths = batch([4, 9, 1, 6], width=12)
    with torch.no_grad():
        padded = model(ids, lengths)
        model.encoder.path = "packed"
        packed = model(ids, lengths)
    torch.testing.assert_close(padded, packed, atol=1e-5, rtol=0)


def test_pooling_refuses_unknown_choices():
    with pytest.raises(InvalidConfig, match="pooling: 'avg' is not one of last, max, meanmax"):
        resolve_params(get_architecture("gru"), {"pooling": "avg"})


def test_resolve_params_refuses_out_of_range():
    with pytest.raises(InvalidConfig, match="hidden_size"):
        resolve_params(get_architecture("lstm"), {"hidden_size": 0})
    with pytest.raises(InvalidConfig, match="hidden_size"):
        resolve_params(get_architecture("lstm"), {"hidden_size": "abc"})
    assert resolve_params(get_architecture("lstm"), {"hidden_size": "32"})["hidden_size"] == 32


def test_search_spaces_name_model_or_train_keys():
    from goemo_core.training.config import RECIPE_KEYS

    for arch in architectures().values():
        for key, spec in arch.search_space.items():
            assert key in arch.defaults or key in RECIPE_KEYS, (arch.name, key)
            assert spec[0] in ("int", "float", "logfloat", "categorical"), (arch.name, key)
    assert get_architecture("rwkv").search_space["max_length"] == ("int", 30, 60)


def test_default_bilstm_and_bigru_have_gates_of_the_same_width_and_about_the_same_size():
    lstm, gru = (get_architecture(name) for name in ("lstm", "gru"))
    assert 4 * lstm.defaults["hidden_size"] == 3 * gru.defaults["hidden_size"]
    assert {k: v for k, v in lstm.defaults.items() if k != "hidden_size"} == \
        {k: v for k, v in gru.defaults.items() if k != "hidden_size"}
    sizes = {}
    for arch in (lstm, gru):
        model = arch.build(resolve_params(arch), VOCAB, 0, NUM_CLASSES, None)
        recurrent = model.encoder.rnn
        assert recurrent.weight_hh_l0.shape[0] == 384  # the stacked gates of one direction
        sizes[arch.name] = sum(p.numel() for p in recurrent.parameters())
    assert 0.8 < sizes["lstm"] / sizes["gru"] < 1.0


def test_token_embedding_projects_pretrained_matrix_and_freezes():
    weight = torch.randn(20, 12)
    embedding = TokenEmbedding(20, 8, pad_id=0, init=EmbeddingInit(weight, "synthetic"))
    assert torch.equal(embedding.table.weight, weight) and embedding.table.weight.shape == (20, 12)
    ids = torch.tensor([[1, 2, 3, 0]])
    assert embedding(ids).shape == (1, 4, 8)
    embedding.set_frozen(True)
    embedding(ids).sum().backward()
    assert embedding.table.weight.grad is None
    assert embedding.project.weight.grad is not None
    with pytest.raises(Exception, match="tokenizer"):
        TokenEmbedding(21, 8, pad_id=0, init=EmbeddingInit(weight, "synthetic"))


@pytest.mark.parametrize("name", ["lstm", "xlstm", "rwkv"])
def test_recurrent_models_use_the_pretrained_table(name, pretrained):
    arch = get_architecture(name)
    model = arch.build(resolve_params(arch, TINY[name]), pretrained.weight.shape[0], 0, NUM_CLASSES, pretrained)
    assert torch.equal(model.embedding.table.weight, pretrained.weight)
    ids, lengths = batch([4, 2])
    assert model.eval()(ids, lengths).shape == (2, NUM_CLASSES)


def test_transformer_needs_an_encoder():
    arch = get_architecture("transformer")
    with pytest.raises(InvalidConfig, match="GOEMO_PRETRAINED"):
        arch.build(resolve_params(arch), VOCAB, 0, NUM_CLASSES, None)


# --- xLSTM specifics ---------------------------------------------------------------------------------------------

def test_xlstm_refuses_bad_block_layout_and_backend(request):
    with pytest.raises(InvalidConfig, match="slstm_at"):
        build("xlstm", request, slstm_at="2")  # only blocks 0..1
    with pytest.raises(InvalidConfig, match="slstm_backend"):
        build("xlstm", request, slstm_backend="tpu")
    with pytest.raises(InvalidConfig, match="num_heads"):
        build("xlstm", request, num_heads=3)


def test_xlstm_odd_width_and_inputs_longer_than_context(request):
    model = build("xlstm", request, embedding_dim=15, context_length=8, slstm_at="0,1").eval()
    ids, lengths = batch([12, 5], width=12)
    with torch.no_grad():
        logits = model(ids, lengths)
        cut = model(ids[:, :8], lengths.clamp_max(8))
    assert torch.equal(logits, cut)  # reads at most context_length tokens


def test_xlstm_slstm_weights_load_across_backends(monkeypatch, request):
    """A state dict saved by the vanilla (CPU) sLSTM loads into the CUDA-layout cell with the same weights."""
    import xlstm.blocks.slstm.cell as cell_module
    from xlstm import xLSTMBlockStack
    from xlstm.blocks.slstm.cell import sLSTMCellBase

    from goemo_core.models.xlstm_stack import _portable_slstm_weights, stack_config

    params = resolve_params(get_architecture("xlstm"), TINY["xlstm"])
    monkeypatch.setattr(cell_module, "sLSTMCellFuncGenerator", lambda training, config: None)  # skip nvcc
    torch.manual_seed(0)
    vanilla = xLSTMBlockStack(stack_config(params, 16, "vanilla"))
    torch.nn.init.normal_(next(m for m in vanilla.modules() if isinstance(m, sLSTMCellBase))._recurrent_kernel_)
    cuda = xLSTMBlockStack(stack_config(params, 16, "cuda"))
    for stack in (vanilla, cuda):
        _portable_slstm_weights(stack)
    cuda.load_state_dict(vanilla.state_dict())
    cells = [next(m for m in s.modules() if isinstance(m, sLSTMCellBase)) for s in (vanilla, cuda)]
    assert type(cells[0]) is not type(cells[1])
    for int2ext, attr in (("_recurrent_kernel_int2ext", "_recurrent_kernel"), ("_bias_int2ext", "_bias")):
        external = [getattr(c, int2ext)(getattr(c, attr)) for c in cells]
        assert torch.equal(*external)
    back = xLSTMBlockStack(stack_config(params, 16, "vanilla"))
    _portable_slstm_weights(back)
    back.load_state_dict(cuda.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(vanilla.state_dict().values(), back.state_dict().values()))


def test_xlstm_cuda_kernel_model_on_cpu_says_what_to_do(monkeypatch, request):
    import xlstm.blocks.slstm.cell as cell_module

    from goemo_core.models import xlstm_stack

    monkeypatch.setattr(cell_module, "sLSTMCellFuncGenerator", lambda training, config: None)  # skip nvcc
    monkeypatch.setattr(xlstm_stack, "resolve_backend", lambda choice: "cuda")  # as on a GPU machine
    model = build("xlstm", request).eval()
    with pytest.raises(InvalidConfig, match="vanilla"):
        model(*batch([3, 2]))


# --- RWKV specifics ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["recurrent", "parallel"])
def test_wkv_matches_the_definition_and_stays_finite(form):
    from goemo_core.models import rwkv

    wkv = getattr(rwkv, f"wkv_{form}")

    torch.manual_seed(0)
    B, T, C = 2, 6, 5
    w, u = -torch.rand(C) - 0.1, torch.randn(C)
    k, v = torch.randn(B, T, C), torch.randn(B, T, C)
    expected = torch.empty(B, T, C)
    for t in range(T):
        past = torch.arange(t)
        weights = torch.exp((t - 1 - past)[None, :, None] * w + k[:, :t])  # [B, t, C]
        now = torch.exp(u + k[:, t])
        expected[:, t] = ((weights * v[:, :t]).sum(1) + now * v[:, t]) / (weights.sum(1) + now)
    torch.testing.assert_close(wkv(w, u, k, v), expected, atol=1e-5, rtol=1e-5)
    huge = wkv(w, u, k * 500, v)  # exp(500·k) overflows float32 without the running maximum
    assert torch.isfinite(huge).all()


def test_parallel_wkv_equals_the_recurrence_on_random_inputs():
    from goemo_core.models.rwkv import wkv_parallel, wkv_recurrent

    torch.manual_seed(1)
    for B, T, C in ((64, 30, 32), (3, 1, 8), (5, 60, 16)):
        w, u = -torch.exp(torch.randn(C) * 2), torch.randn(C)
        k, v = torch.randn(B, T, C) * 3, torch.randn(B, T, C)
        torch.testing.assert_close(wkv_parallel(w, u, k, v), wkv_recurrent(w, u, k, v), atol=1e-4, rtol=1e-4)


def test_rwkv_model_gives_the_same_logits_with_either_wkv_form_on_padded_batches(monkeypatch, request):
    """The GPU's parallel form, run here on the CPU: same logits as the recurrence, padding still invisible."""
    from goemo_core.models import rwkv

    model = build("rwkv", request).eval()
    ids, lengths = batch([4, 9, 2, 6])
    with torch.no_grad():
        recurrent = model(ids, lengths)
        monkeypatch.setattr(rwkv, "wkv", rwkv.wkv_parallel)
        parallel = model(ids, lengths)
        wider = model(*batch([4, 9, 2, 6], width=15))
    torch.testing.assert_close(parallel, recurrent, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(wider, parallel, atol=1e-4, rtol=1e-4)


def test_xlstm_kernel_builds_are_kept_with_the_artifacts(monkeypatch, request, goemo_env):
    import xlstm.blocks.slstm.cell as cell_module
    from xlstm.blocks.slstm.src import cuda_init

    from goemo_core.models import xlstm_stack

    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setattr(cuda_init, "random", cuda_init.random)  # restored after the test
    monkeypatch.setattr(cell_module, "sLSTMCellFuncGenerator", lambda training, config: None)  # skip nvcc
    monkeypatch.setattr(xlstm_stack, "resolve_backend", lambda choice: "cuda")  # as on a GPU machine
    build("xlstm", request)
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(goemo_env / "cache" / "torch_extensions")
    assert cuda_init.random.random() == 0.0  # no random wait before loading a build


def test_xlstm_studies_search_a_few_fixed_kernel_configurations():
    space = get_architecture("xlstm").search_space
    widths, heads = space["embedding_dim"], space["num_heads"]
    assert widths[0] == heads[0] == "categorical"
    assert len(widths[1]) * len(heads[1]) <= 9  # at most this many sLSTM kernels to compile for a whole study


def test_cpu_dropout_keeps_dropouts_distribution_and_scaling():
    from goemo_core.models.common import Dropout, dropout

    torch.manual_seed(0)
    x = torch.ones(200_000, requires_grad=True)
    y = dropout(x, 0.3, True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # P(keep) = 1 - p
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))  # kept values scaled by 1 / (1 - p)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # the gradient goes through the same mask
    assert torch.equal(dropout(x, 0.3, False), x) and torch.equal(dropout(x, 0.0, True), x)
    assert torch.count_nonzero(dropout(x, 1.0, True)) == 0
    module = Dropout(0.3).eval()
    assert torch.equal(module(x), x) and module.state_dict() == {}
