"""The attention bias `[B, H, T, T]` (T = N + 1): spatial + multi-hop edge + graph-token terms (spec §4–§5).

Built once per forward and shared by every layer. The edge term is computed by table lookup:
a path code (one small integer per hop, see `graphormer.graph`) selects a row of a per-hop
`[62, H]` table, so the reference's `[B, N, N, D, 3, H]` embedding is never built.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphormer.graph import BOND_STRIDES, NON_BOND, NUM_BOND_CODES, NUM_PATH_CODES, UNREACHABLE
from graphormer.model.embedding import FEATURE_OFFSET

NUM_SPATIAL = UNREACHABLE + 2  # 512 rows, spd + 1: 0 = padding pair, 1 = self, ..., 511 = unreachable (spd 510)
NUM_BOND_COLUMNS = len(BOND_STRIDES)


def path_code_rows() -> torch.Tensor:
    """`[62, 3]` rows of `edge_encoder` that each path code reads, one per bond column.

    Reference layout: bond value v in column c sits at row v + 3 + 512 c. Code 0 (no hop) reads the
    padding row 0; code 61 (legacy non-bond) reads row 1 in every column, which is where the
    reference's zero "non-bonded" pair entry lands after its +1 shifts.
    """
    rows = torch.zeros(NUM_PATH_CODES, NUM_BOND_COLUMNS, dtype=torch.long)
    index = torch.arange(NUM_BOND_CODES)  # bond codes 1..60, less one: the mixed-radix bond index
    strides = (NUM_BOND_CODES,) + BOND_STRIDES
    for c in range(NUM_BOND_COLUMNS):
        t = index % strides[c] // strides[c + 1]  # the bond's value in column c
        rows[1:NUM_BOND_CODES + 1, c] = t + 3 + FEATURE_OFFSET * c
    rows[NON_BOND] = 1
    return rows


class AttentionBias(nn.Module):
    def __init__(self, num_heads: int, max_hops: int = 5, num_edge_dis: int = 128,
                 max_spatial_distance: int | None = None):
        super().__init__()
        if max_hops > num_edge_dis:
            raise ValueError(f"max_hops={max_hops} needs at most num_edge_dis={num_edge_dis} hop matrices")
        self.num_heads = num_heads
        self.max_hops = max_hops
        self.num_edge_dis = num_edge_dis
        self.max_spatial_distance = max_spatial_distance
        H = num_heads
        self.spatial_pos_encoder = nn.Embedding(NUM_SPATIAL, H, padding_idx=0)
        self.graph_token_virtual_distance = nn.Embedding(1, H)
        self.edge_encoder = nn.Embedding(FEATURE_OFFSET * NUM_BOND_COLUMNS + 1, H, padding_idx=0)
        # One H x H matrix per hop position, stored flat as in the reference (state-dict compatible).
        self.edge_dis_encoder = nn.Embedding(num_edge_dis * H * H, 1)
        self.register_buffer("code_rows", path_code_rows(), persistent=False)

    def hop_tables(self, num_hops: int) -> torch.Tensor:
        """`[num_hops, 62, H]`: hop k's bias for every path code (mean over bond columns, then @ W_k)."""
        H = self.num_heads
        # F.embedding (not weight[...]) so the padding row gets no gradient, as in the reference.
        base = F.embedding(self.code_rows, self.edge_encoder.weight, padding_idx=0).mean(dim=1)  # [62, H]
        W = self.edge_dis_encoder.weight.view(self.num_edge_dis, H, H)[:num_hops]
        # Tiny tables: keep them in parameter precision even under autocast; the cast comes later.
        with torch.autocast(base.device.type, enabled=False):
            return torch.matmul(base, W)

    def forward(self, spd: torch.Tensor, path: torch.Tensor, node_mask: torch.Tensor,
                dtype: torch.dtype | None = None) -> torch.Tensor:
        """spd int `[B, N, N]` (-1 on padding pairs, 510 unreachable), path int `[B, N, N, D]`
        (D <= max_hops), node_mask bool `[B, N]` -> float bias `[B, H, N + 1, N + 1]` in `dtype`."""
        B, N, _, D = path.shape
        if D > self.max_hops:
            raise ValueError(f"path has {D} hop columns but max_hops={self.max_hops}")
        dtype = dtype or self.spatial_pos_encoder.weight.dtype
        spd = spd.long()
        path = path.long()

        node_bias = F.embedding(spd + 1, self.spatial_pos_encoder.weight.to(dtype), padding_idx=0)  # [B,N,N,H]
        if D > 0:
            tables = self.hop_tables(D).to(dtype)
            # Accumulate hop by hop: peak memory stays O(B N^2 H) whatever D is.
            edge = F.embedding(path[..., 0], tables[0])
            for k in range(1, D):
                edge = edge + F.embedding(path[..., k], tables[k])
            # Divide by the number of hops actually encoded: min(spd, max_hops), self and padding -> 1,
            # unreachable -> max_hops (spec §5.3 step 1). Using max_hops, not D, makes zero hop
            # columns beyond D change nothing.
            hops = spd.clamp(1, self.max_hops).to(dtype)
            node_bias = node_bias + edge / hops[..., None]

        T = N + 1
        bias = node_bias.new_empty(B, self.num_heads, T, T)
        bias[:, :, 1:, 1:] = node_bias.permute(0, 3, 1, 2)
        # One learned scalar per head for every pair involving the graph token, both directions.
        token = self.graph_token_virtual_distance.weight.to(dtype).view(1, -1, 1)
        bias[:, :, 0, :] = token
        bias[:, :, 1:, 0] = token

        if self.max_spatial_distance is not None:
            far = F.pad(spd >= self.max_spatial_distance, (1, 0, 1, 0))
            bias = bias.masked_fill(far[:, None], float("-inf"))
        # Padded keys are never attended to; padded query rows stay finite (they see the graph token).
        key_pad = F.pad(~node_mask, (1, 0))
        return bias.masked_fill(key_pad[:, None, None, :], float("-inf"))
