"""The memory-lean attention core equals plain autograd: same outputs and gradients, same dropout mask."""

import pytest
import torch

from graphormer.model import attention


@pytest.mark.parametrize("keep_probs", [False, True], ids=["recompute", "keep_probs"])
@pytest.mark.parametrize("p", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_recomputing_core_matches_plain_autograd(monkeypatch, p, dtype, keep_probs):
    B, H, T, dh = 3, 2, 7, 5
    # grids up to KEEP_PROBS_MAX_TOKENS keep the probabilities; larger ones recompute them in backward
    monkeypatch.setattr(attention, "KEEP_PROBS_MAX_TOKENS", T if keep_probs else T - 1)
    gen = torch.Generator().manual_seed(0)
    tensors = [torch.randn(B, H, T, dh, generator=gen, dtype=dtype) for _ in range(3)]
    bias = torch.randn(B, H, T, T, generator=gen, dtype=dtype)
    bias[..., -2:] = float("-inf")  # padded keys

    def run(core: bool):
        monkeypatch.setattr(attention, "_use_recomputing_core", lambda q, b: core)
        leaves = [t.clone().requires_grad_(True) for t in (*tensors, bias)]
        torch.manual_seed(1)  # the same dropout mask on both sides
        out = attention.biased_attention(*leaves, dropout_p=p, training=True, backend="math")
        (out * torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)).sum().backward()
        return out.detach(), [t.grad for t in leaves]

    out_core, grads_core = run(True)
    out_plain, grads_plain = run(False)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out_core, out_plain, **tol)
    for got, want in zip(grads_core, grads_plain):
        torch.testing.assert_close(torch.nan_to_num(got), torch.nan_to_num(want), **tol)


def test_core_is_used_only_where_it_applies():
    q = torch.randn(2, 2, 4, 3, requires_grad=True)
    full = torch.zeros(2, 2, 4, 4)
    assert attention._use_recomputing_core(q, full)
    assert not attention._use_recomputing_core(q, torch.zeros(2, 1, 4, 4))  # broadcast bias: plain path
    with torch.no_grad():
        assert not attention._use_recomputing_core(q, full)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not attention._use_recomputing_core(q, full)
