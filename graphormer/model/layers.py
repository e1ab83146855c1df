"""Transformer encoder layer with the Graphormer attention bias (spec §7)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from graphormer.model.attention import biased_attention
from graphormer.model.dropout import Dropout


class TokenLayout(NamedTuple):
    """Where packed tokens `[n, d]` (the graph token and real atoms of every molecule, in order) sit in the
    padded `[B, T]` grid. Token-wise work (projections, LayerNorm, FFN, dropout) runs on the packed rows;
    only attention needs the grid. Padding is about a third of a ZINC/molhiv batch, so this skips it."""

    index: torch.Tensor  # [n] flat positions in the B*T grid
    first: torch.Tensor  # [B] packed row of each molecule's graph token
    batch: int
    length: int

    @classmethod
    def of(cls, node_mask: torch.Tensor) -> "TokenLayout":
        real = F.pad(node_mask, (1, 0), value=True)  # the graph token is always real
        counts = real.sum(1)
        return cls(real.reshape(-1).nonzero().squeeze(1), torch.cumsum(counts, 0) - counts, *real.shape)

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        """`[B, T, c]` -> `[n, c]`."""
        return t.reshape(self.batch * self.length, -1).index_select(0, self.index)

    def unpack(self, t: torch.Tensor) -> torch.Tensor:
        """`[n, c]` -> `[B, T, c]`, zeros on padding."""
        grid = t.new_zeros(self.batch * self.length, t.shape[-1])
        return grid.index_copy(0, self.index, t).view(self.batch, self.length, -1)


class MultiheadAttention(nn.Module):
    """Separate q/k/v/out projections with biases (fairseq layout, so reference weights map 1:1)."""

    def __init__(self, embed_dim: int, num_heads: int, attention_dropout: float = 0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.scaling = self.head_dim ** -0.5
        self.attention_dropout = attention_dropout
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, backend: str = "math",
                layout: TokenLayout | None = None) -> torch.Tensor:
        """x `[B, T, d]`, or packed `[n, d]` with its `layout`; the output has the shape of x."""
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if layout is not None:
            q, k, v = layout.unpack(q), layout.unpack(k), layout.unpack(v)
        B, T, d = q.shape

        def heads(t):  # [B, T, d] -> [B, H, T, dh]
            return t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

        # flex has no attention dropout; resolve_backend only lets it train when that is allowed.
        p = 0.0 if backend == "flex" else self.attention_dropout
        out = biased_attention(heads(q), heads(k), heads(v), bias, dropout_p=p, training=self.training,
                               backend=backend, scale=self.scaling)
        out = out.transpose(1, 2).reshape(B, T, d)
        return self.out_proj(out if layout is None else layout.pack(out))


class EncoderLayer(nn.Module):
    """post-LN (v2 default): x = LN(x + Drop(MHA(x))); x = LN(x + Drop(FFN(x))).
    pre-LN:                x = x + Drop(MHA(LN(x)));  x = x + Drop(FFN(LN(x)))."""

    def __init__(self, embed_dim: int, ffn_dim: int, num_heads: int, dropout: float = 0.1,
                 attention_dropout: float = 0.1, activation_dropout: float = 0.1, pre_layernorm: bool = False):
        super().__init__()
        self.pre_layernorm = pre_layernorm
        self.self_attn = MultiheadAttention(embed_dim, num_heads, attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.final_layer_norm = nn.LayerNorm(embed_dim)
        self.dropout = Dropout(dropout)
        self.activation_dropout = Dropout(activation_dropout)

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_dropout(F.gelu(self.fc1(x))))  # exact (erf) GELU

    def forward(self, x: torch.Tensor, bias: torch.Tensor, backend: str = "math",
                layout: TokenLayout | None = None) -> torch.Tensor:
        if self.pre_layernorm:
            x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), bias, backend, layout))
            return x + self.dropout(self.ffn(self.final_layer_norm(x)))
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, bias, backend, layout)))
        return self.final_layer_norm(x + self.dropout(self.ffn(x)))
