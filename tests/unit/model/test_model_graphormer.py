"""The whole model: parameter counts, init, backend agreement, padding invariance, gradients, bf16."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graphormer.model import BASE, LARGE, SLIM, Graphormer, count_parameters

pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")

TINY = dict(num_layers=3, embed_dim=32, ffn_dim=48, num_heads=4, num_outputs=2)
INPUTS = ("x", "node_mask", "degree", "spd", "path")


def inputs(batch):
    return {k: batch[k] for k in INPUTS}


def randomized(model, std=0.3, seed=0):
    """Weights far from the tiny init so that backend or padding differences would show; padding rows stay 0."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, std)
            if "layer_norm" in name and name.endswith("weight"):
                p.add_(1.0)
        for m in model.modules():
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                m.weight[m.padding_idx] = 0
    return model


def tiny(seed=0, **kw):
    hp = dict(TINY, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    hp.update(kw)
    return randomized(Graphormer(**hp), seed=seed).eval()


def predict(model, batch, backend):
    model.attention = backend
    with torch.no_grad():
        return model(**inputs(batch))


@pytest.mark.parametrize("preset, expected", [(SLIM, 952_593), (BASE, 47_677_505),
                                               (LARGE, 159_310_913 - 1024 * 1024 - 1024)])
def test_parameter_counts(preset, expected):
    with torch.device("meta"):
        model = Graphormer(**preset)
    assert count_parameters(model) == expected


def test_init_follows_spec():
    torch.manual_seed(0)
    model = Graphormer(**SLIM)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            assert abs(m.weight.std().item() - 0.02) < 0.003
            assert m.bias is None or torch.all(m.bias == 0)
        elif isinstance(m, nn.Embedding):
            if m.weight.numel() > 1000:
                assert abs(m.weight.std().item() - 0.02) < 0.003
            if m.padding_idx is not None:
                assert torch.all(m.weight[m.padding_idx] == 0)
        elif isinstance(m, nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert model.lm_output_learned_bias.item() == 0


@pytest.mark.parametrize("pre_layernorm", [False, True])
@pytest.mark.parametrize("backend", ["sdpa", "flex"])
def test_backends_agree_with_math(make_batch, backend, pre_layernorm):
    batch = make_batch()
    model = tiny(pre_layernorm=pre_layernorm)
    ref = predict(model, batch, "math")
    out = predict(model, batch, backend)
    assert out.shape == (len(batch["x"]), 2)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compiled_flex_agrees_with_math(make_batch):
    batch = make_batch()
    model = tiny()
    ref = predict(model, batch, "math")
    # the model compiles flex only on CUDA; force the compiled path (dynamic=False) on CPU
    for layer in model.layers:
        layer.self_attn.compile_flex = True
    torch.testing.assert_close(predict(model, batch, "flex"), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pre_layernorm", [False, True])
@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_padding_invariance(make_batch, molecules, backend, pre_layernorm):
    model = tiny(pre_layernorm=pre_layernorm)
    together = predict(model, make_batch(), backend)
    for i in range(len(molecules)):
        alone = predict(model, make_batch([i]), backend)
        torch.testing.assert_close(alone[0], together[i], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pre_layernorm", [False, True])
@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_packed_tokens_equal_the_padded_grid_float64(make_batch, backend, pre_layernorm):
    """Token-wise layers on real tokens only (the default) compute what the padded grid computes: outputs
    and every gradient, in float64, in training mode (the recomputing core) and in eval mode."""
    from graphormer.graph.packing import TokenLayout

    batch = inputs(make_batch())
    assert len(TokenLayout.of(batch["node_mask"]).groups) > 1  # sizes differ: padding to skip, several grids
    model = tiny(pre_layernorm=pre_layernorm).double()
    model.attention = backend
    for train in (True, False):
        model.train(train)
        results = []
        for pack in (True, False):
            model.pack_tokens = pack
            model.zero_grad(set_to_none=True)
            out = model(**batch)
            (out ** 2).sum().backward()
            results.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
        (out_packed, grads_packed), (out_padded, grads_padded) = results
        torch.testing.assert_close(out_packed, out_padded, rtol=1e-12, atol=1e-12)
        for name in grads_padded:
            torch.testing.assert_close(grads_packed[name], grads_padded[name], rtol=1e-10, atol=1e-12, msg=name)


def test_token_layout_packs_largest_first_and_groups_by_size():
    from graphormer.graph.packing import TokenLayout

    node_mask = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    layout = TokenLayout.of(node_mask)  # 3, 2 and 4 tokens with the graph token
    assert layout.index.tolist() == [8, 9, 10, 11, 0, 1, 2, 4, 5] and layout.first.tolist() == [4, 7, 0]
    grid = torch.arange(12.0).view(3, 4, 1)
    packed = layout.pack(grid)
    assert packed.squeeze(1).tolist() == [8, 9, 10, 11, 0, 1, 2, 4, 5]
    assert [(g.molecules.tolist(), g.start, g.end, g.length) for g in layout.groups] == \
        [([2], 0, 4, 4), ([0], 4, 7, 3), ([1], 7, 9, 2)]
    for group in layout.groups:  # each group's grid holds its molecules' tokens, cut to its largest
        expected = grid[group.molecules, :group.length] * F.pad(node_mask, (1, 0), value=True)[
            group.molecules, :group.length, None]
        assert torch.equal(group.unpack(packed), expected)
        assert torch.equal(group.pack(group.unpack(packed)), packed[group.start:group.end])
    # molecules of one size stay one group; so does a batch where splitting saves little
    assert len(TokenLayout.of(torch.ones(8, 5, dtype=torch.bool)).groups) == 1
    assert len(TokenLayout.of(torch.arange(6)[None, :] < torch.tensor([[6], [6], [6], [5]])).groups) == 1


def test_mask_that_is_not_a_prefix_takes_the_padded_grid(make_batch):
    batch = inputs(make_batch())
    batch["node_mask"] = batch["node_mask"].clone()
    batch["node_mask"][0, 0] = False  # a hole before real atoms: packing would misplace the tokens
    model = tiny().double()
    with torch.no_grad():
        packed = model(**batch)
        model.pack_tokens = False
        padded = model(**batch)
    torch.testing.assert_close(packed, padded, rtol=0, atol=0)


def test_fewer_hop_columns_than_max_hops(make_batch):
    model = tiny(max_hops=5)
    short = make_batch(max_hops=3)
    padded = dict(short, path=torch.cat([short["path"], torch.zeros_like(short["path"][..., :2])], -1))
    torch.testing.assert_close(predict(model, short, "math"), predict(model, padded, "math"), rtol=0, atol=0)


def test_predictions_depend_on_the_graph(make_batch):
    out = predict(tiny(), make_batch(), "math")
    assert out[:, 0].unique().numel() == out.shape[0]  # no two molecules collapse to one prediction


def test_gradcheck_float64(make_batch):
    from torch.func import functional_call

    model = Graphormer(num_layers=2, embed_dim=8, ffn_dim=8, num_heads=2, dropout=0.0, attention_dropout=0.0,
                       activation_dropout=0.0, attention="math", max_spatial_distance=4)
    model = randomized(model, std=0.5).double().train()  # training mode: the math backend on CPU
    batch = inputs(make_batch([0, 1, 3]))  # CCO, a single atom, a salt: padding, unreachable, masking
    # Padding rows are read (an empty hop reads edge_encoder row 0) but get no gradient by design
    # (padding_idx, as in the reference), so they are held fixed and left out of the check.
    padded = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Embedding) and m.padding_idx == 0}
    state = {n: p.detach().clone() for n, p in model.named_parameters()}
    names = list(state)
    params = [(state[n][1:] if n in padded else state[n]).requires_grad_() for n in names]

    def f(*ps):
        full = {n: torch.cat([state[n][:1], p]) if n in padded else p for n, p in zip(names, ps)}
        return functional_call(model, full, kwargs=batch)

    # every parameter through random projections, then exhaustively on the small tensors
    assert torch.autograd.gradcheck(f, params, fast_mode=True)
    small = [i for i, p in enumerate(params) if p.numel() <= 100]

    def g(*ps):
        full = list(params)
        for i, p in zip(small, ps):
            full[i] = p
        return f(*full)

    assert torch.autograd.gradcheck(g, [params[i] for i in small])


@pytest.mark.parametrize("backend", ["math", "sdpa"])
def test_bf16_autocast_close_to_fp32(make_batch, backend):
    batch = make_batch()
    model = tiny(seed=1)
    randomized(model, std=0.1, seed=1)
    ref = predict(model, batch, backend)
    seen = []
    hook = model.attn_bias.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = predict(model, batch, backend)
    hook.remove()
    assert seen and set(seen) == {torch.bfloat16}  # one bias per size group
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05 * ref.abs().max().item())


def test_train_step_under_autocast_and_flex_training_refused(make_batch):
    batch = make_batch()
    model = Graphormer(**TINY).train()  # default dropouts, attention='auto' -> math on CPU
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**inputs(batch)).float().pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.attention = "flex"
    with pytest.raises(ValueError, match="flex"):
        model(**inputs(batch))


def test_hparams_rebuild_and_reset_head(make_batch):
    batch = make_batch()
    model = tiny()
    twin = Graphormer(**model.hparams).eval()
    twin.load_state_dict(model.state_dict())
    torch.testing.assert_close(predict(twin, batch, "math"), predict(model, batch, "math"))

    enc = model.encode(**inputs(batch))
    assert enc.shape == (len(batch["x"]), TINY["embed_dim"])
    model.reset_head(5)
    assert model.hparams["num_outputs"] == 5
    assert model.lm_output_learned_bias.item() == 0
    out = predict(model, batch, "math")
    assert out.shape == (len(batch["x"]), 5)
    torch.testing.assert_close(model.encode(**inputs(batch)), enc)  # the trunk is untouched
    rebuilt = Graphormer(**model.hparams)
    rebuilt.load_state_dict(model.state_dict())


def test_unknown_attention_name_fails_at_construction():
    with pytest.raises(ValueError, match="auto, math, sdpa, flex"):
        Graphormer(**TINY, attention="fast")
