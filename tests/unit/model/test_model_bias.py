"""The attention bias against a literal re-implementation of the reference (spec §4.2, §5.3)."""

import pytest
import torch

from graphormer.graph import NON_BOND as NOT_A_BOND
from graphormer.model.bias import AttentionBias

H, MAX_HOPS = 4, 5


def reference_edge_input(path):
    """Path codes [B,N,N,D] -> the reference's edge_input [B,N,N,D,3] (v + 3 + 512 c; 0 = no hop)."""
    c = (path - 1).clamp(min=0)
    t = torch.stack([c // 12, (c % 12) // 2, c % 2], dim=-1) + 3 + 512 * torch.arange(3)
    t = torch.where((path == 0)[..., None], 0, t)
    return torch.where((path == NOT_A_BOND)[..., None], 1, t)  # legacy non-bond -> row 1


def reference_bias(module, spd, path, node_mask, max_hops, spatial_pos_max=1024):
    """GraphAttnBias.forward as the reference writes it: materialise [B,N,N,D,3,H], mean, bmm, sum, divide."""
    B, N = node_mask.shape
    D = path.shape[-1]
    # collator: attn_bias 0 on real pairs, -inf on padded columns; spd >= spatial_pos_max masked
    attn_bias = torch.zeros(B, N + 1, N + 1, dtype=torch.float64)
    for b in range(B):
        n = int(node_mask[b].sum())
        attn_bias[b, :, n + 1:] = float("-inf")
        attn_bias[b, 1:n + 1, 1:n + 1][spd[b, :n, :n] >= spatial_pos_max] = float("-inf")
    spatial_pos = spd + 1  # 0 = padding

    bias = attn_bias.unsqueeze(1).repeat(1, H, 1, 1)
    bias[:, :, 1:, 1:] += module.spatial_pos_encoder(spatial_pos).permute(0, 3, 1, 2)
    t = module.graph_token_virtual_distance.weight.view(1, H, 1)
    bias[:, :, 1:, 0] += t
    bias[:, :, 0, :] += t

    sp = spatial_pos.clone()
    sp[sp == 0] = 1
    sp = torch.where(sp > 1, sp - 1, sp).clamp(0, max_hops)
    emb = module.edge_encoder(reference_edge_input(path))  # [B, N, N, D, 3, H]
    assert emb.shape == (B, N, N, D, 3, H)
    emb = emb.mean(-2)
    flat = emb.permute(3, 0, 1, 2, 4).reshape(D, -1, H)
    flat = torch.bmm(flat, module.edge_dis_encoder.weight.reshape(-1, H, H)[:D])
    emb = flat.reshape(D, B, N, N, H).permute(1, 2, 3, 0, 4)
    edge = (emb.sum(-2) / sp.double().unsqueeze(-1)).permute(0, 3, 1, 2)
    bias[:, :, 1:, 1:] += edge
    return bias + attn_bias.unsqueeze(1)


def random_module(max_spatial_distance=None, zero_padding=False, seed=0):
    torch.manual_seed(seed)
    m = AttentionBias(H, MAX_HOPS, max_spatial_distance=max_spatial_distance).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()  # padding rows too: the reference reads them for empty hops
        if zero_padding:
            for e in (m.spatial_pos_encoder, m.edge_encoder):
                e.weight[0] = 0
    return m


def test_matches_reference_on_molecules(make_batch):
    b = make_batch()
    m = random_module()
    got = m(b["spd"], b["path"], b["node_mask"])
    ref = reference_bias(m, b["spd"], b["path"], b["node_mask"], MAX_HOPS)
    assert got.shape == ref.shape and got.dtype == torch.float64
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_matches_reference_with_legacy_codes_and_every_code(make_batch):
    # Random codes (all of 0..61, including the legacy "not a bond" 61) on a molecule batch's shape.
    b = make_batch()
    g = torch.Generator().manual_seed(3)
    path = torch.randint(0, 62, b["path"].shape, generator=g)
    assert (path == NOT_A_BOND).any()
    m = random_module()
    got = m(b["spd"], path, b["node_mask"])
    torch.testing.assert_close(got, reference_bias(m, b["spd"], path, b["node_mask"], MAX_HOPS),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("limit", [3, 20, 510])
def test_spatial_masking_matches_reference(make_batch, limit):
    b = make_batch()
    m = random_module(max_spatial_distance=limit)
    got = m(b["spd"], b["path"], b["node_mask"])
    ref = reference_bias(m, b["spd"], b["path"], b["node_mask"], MAX_HOPS, spatial_pos_max=limit)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    if limit <= 510:  # the salt's unreachable pairs are masked
        assert torch.isinf(got[3, :, 1, 5]).all()


def test_masks_and_token_entries(make_batch):
    b = make_batch()
    m = random_module(zero_padding=True)
    bias = m(b["spd"], b["path"], b["node_mask"])
    key_pad = ~torch.cat([torch.ones(len(b["x"]), 1, dtype=torch.bool), b["node_mask"]], 1)
    key_pad = key_pad[:, None, None, :].expand_as(bias)
    assert torch.isneginf(bias[key_pad]).all()
    assert torch.isfinite(bias[~key_pad]).all()  # padded query rows included
    t = m.graph_token_virtual_distance.weight.view(H)
    torch.testing.assert_close(bias[0, :, 0, 0], t)
    torch.testing.assert_close(bias[0, :, 2, 0], t)
    torch.testing.assert_close(bias[0, :, 0, 3], t)
    # the unreachable pair of the salt (no masking by default) reads spatial row 511, no edge term
    torch.testing.assert_close(bias[3, :, 1, 5], m.spatial_pos_encoder.weight[511])


def test_fewer_hop_columns_equal_zero_padded_columns(make_batch):
    b = make_batch()
    m = random_module(zero_padding=True)
    full = m(b["spd"], b["path"], b["node_mask"])
    for d in (0, 2, 4):
        short = b["path"][..., :d]
        padded = torch.cat([short, torch.zeros_like(b["path"][..., d:])], -1)
        torch.testing.assert_close(m(b["spd"], short, b["node_mask"]), m(b["spd"], padded, b["node_mask"]),
                                   rtol=1e-12, atol=1e-12)
    # and the reference's truncation: all 5 columns vs the same paths cut to 3 and re-padded
    cut = torch.cat([b["path"][..., :3], torch.zeros_like(b["path"][..., 3:])], -1)
    torch.testing.assert_close(m(b["spd"], b["path"][..., :3], b["node_mask"]),
                               reference_bias(m, b["spd"], cut, b["node_mask"], MAX_HOPS), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(full, m(b["spd"], b["path"][..., :3], b["node_mask"]))


def test_too_many_hop_columns_is_an_error(make_batch):
    b = make_batch(max_hops=5)
    m = AttentionBias(H, max_hops=4)
    with pytest.raises(ValueError, match="max_hops=4"):
        m(b["spd"], b["path"], b["node_mask"])


def test_padding_rows_get_no_gradient(make_batch):
    b = make_batch()
    m = random_module(zero_padding=True)
    bias = m(b["spd"], b["path"], b["node_mask"])
    bias[torch.isfinite(bias)].sum().backward()
    assert torch.all(m.spatial_pos_encoder.weight.grad[0] == 0)
    assert torch.all(m.edge_encoder.weight.grad[0] == 0)
    assert m.edge_encoder.weight.grad[3].abs().sum() > 0  # single bond, column 0


def test_dtype_argument():
    m = AttentionBias(H)
    spd = torch.tensor([[[0, 1], [1, 0]]])
    path = torch.tensor([[[[0], [1]], [[1], [0]]]])
    bias = m(spd, path, torch.ones(1, 2, dtype=torch.bool), torch.bfloat16)
    assert bias.dtype == torch.bfloat16 and bias.shape == (1, H, 3, 3)
