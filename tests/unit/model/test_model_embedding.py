"""Node embeddings: official index convention, degrees, graph token, padding."""

import torch

from graphormer.model.embedding import NodeEmbedding

D = 6


def random_embedding(seed=0):
    torch.manual_seed(seed)
    m = NodeEmbedding(D).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_()
        m.atom_encoder.weight[0] = 0
        m.in_degree_encoder.weight[0] = 0
        m.out_degree_encoder.weight[0] = 0
    return m


def test_matches_naive_lookup(make_batch):
    b = make_batch()
    m = random_embedding()
    out = m(b["x"], b["node_mask"], b["degree"])
    B, N, _ = b["x"].shape
    assert out.shape == (B, N + 1, D)
    for bi in range(B):
        torch.testing.assert_close(out[bi, 0], m.graph_token.weight[0])
        for i in range(N):
            if not b["node_mask"][bi, i]:
                assert torch.all(out[bi, i + 1] == 0)  # padding: index 0 everywhere -> zero rows
                continue
            idx = [int(b["x"][bi, i, c]) + 2 + 512 * c for c in range(9)]
            deg = int(b["degree"][bi, i]) + 1
            want = m.atom_encoder.weight[idx].sum(0) + m.in_degree_encoder.weight[deg] + m.out_degree_encoder.weight[deg]
            torch.testing.assert_close(out[bi, i + 1], want)


def test_carbon_reads_row_7():
    # official convention: carbon (raw 5 in column 0) -> row 7 (the HF port would read 8)
    m = random_embedding()
    x = torch.zeros(1, 1, 9, dtype=torch.long)
    x[0, 0, 0] = 5
    with torch.no_grad():
        m.atom_encoder.weight.zero_()
        m.in_degree_encoder.weight.zero_()
        m.out_degree_encoder.weight.zero_()
        m.atom_encoder.weight[7] = 1.0
    out = m(x, torch.ones(1, 1, dtype=torch.bool), torch.zeros(1, 1, dtype=torch.long))
    assert torch.all(out[0, 1] == 1.0)


def test_degree_is_clamped_to_510():
    m = random_embedding()
    x = torch.zeros(1, 2, 9, dtype=torch.long)
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = m(x, mask, torch.tensor([[510, 10_000]]))
    torch.testing.assert_close(out[0, 1], out[0, 2])


def test_padding_values_are_ignored(make_batch):
    b = make_batch()
    m = random_embedding()
    a = m(b["x"], b["node_mask"], b["degree"])
    x2 = torch.where(b["node_mask"][..., None], b["x"], 77)
    torch.testing.assert_close(a, m(x2, b["node_mask"], b["degree"] + (~b["node_mask"]) * 3))
