"""Node input embeddings: atom features + centrality (degree) + the graph token (spec §2–§3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_OFFSET = 512  # rows reserved per feature column in the shared tables (spec §2.2)
NUM_ATOM_COLUMNS = 9  # OGB atom feature columns
NUM_DEGREES = 512  # degree table rows; row 0 = padding, degree d -> row d + 1
MAX_DEGREE = NUM_DEGREES - 2


class NodeEmbedding(nn.Module):
    """`[B, N, 9]` atom features + degrees -> `[B, N + 1, d]` tokens, graph token first.

    One shared atom table for all 9 columns, indexed by `value + 2 + 512 * column` (the official
    v2 convention; 0 = padding). Two degree tables, both fed the (undirected) degree + 1, exactly
    as the reference does for molecules.
    """

    def __init__(self, embed_dim: int, num_atom_columns: int = NUM_ATOM_COLUMNS):
        super().__init__()
        self.atom_encoder = nn.Embedding(FEATURE_OFFSET * num_atom_columns + 1, embed_dim, padding_idx=0)
        self.in_degree_encoder = nn.Embedding(NUM_DEGREES, embed_dim, padding_idx=0)
        self.out_degree_encoder = nn.Embedding(NUM_DEGREES, embed_dim, padding_idx=0)
        self.graph_token = nn.Embedding(1, embed_dim)
        offsets = 2 + FEATURE_OFFSET * torch.arange(num_atom_columns)
        self.register_buffer("atom_offsets", offsets, persistent=False)

    def forward(self, x: torch.Tensor, node_mask: torch.Tensor, degree: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        pad = ~node_mask
        atom_idx = (x.long() + self.atom_offsets).masked_fill(pad[..., None], 0)
        # embedding_bag sums the 9 rows without materialising a [B, N, 9, d] tensor.
        atoms = F.embedding_bag(atom_idx.view(B * N, C), self.atom_encoder.weight, mode="sum", padding_idx=0)
        deg_idx = (degree.long().clamp(0, MAX_DEGREE) + 1).masked_fill(pad, 0)
        nodes = atoms.view(B, N, -1) + self.in_degree_encoder(deg_idx) + self.out_degree_encoder(deg_idx)
        token = self.graph_token.weight.to(nodes.dtype).expand(B, 1, -1)
        return torch.cat([token, nodes], dim=1)
