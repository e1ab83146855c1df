"""Transformer encoder layer with the Graphormer attention bias (spec §7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphormer.model.attention import biased_attention
from graphormer.model.dropout import Dropout
from graphormer.graph.packing import TokenLayout


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
        # flex only: None = compiled on CUDA, eager elsewhere (biased_attention's `compile`)
        self.compile_flex: bool | None = None

    def forward(self, x: torch.Tensor, bias, backend: str = "math", layout: TokenLayout | None = None,
                probs_out: list | None = None) -> torch.Tensor:
        """x `[B, T, d]` with bias `[B, H, T, T]`, or packed `[n, d]` with its `layout` and one bias per
        layout group; the output has the shape of x. `probs_out` (unpacked x, math backend) receives the
        attention probabilities `[B, H, T, T]`."""
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if layout is None:
            return self.out_proj(self._attend(q, k, v, bias, backend, probs_out))
        if probs_out is not None:
            raise ValueError("attention probabilities are recorded on unpacked tokens only")
        parts = [group.pack(_cut(self._attend(*(_fit(group.unpack(t), group_bias) for t in (q, k, v)), group_bias,
                                              backend), group))
                 for group, group_bias in zip(layout.groups, bias)]
        return self.out_proj(parts[0] if len(parts) == 1 else torch.cat(parts))

    def graph_tokens(self, x: torch.Tensor, bias, backend: str, layout: TokenLayout) -> torch.Tensor:
        """The output rows of the graph tokens only, `[B, d]` in batch order, from packed `x` `[n, d]`: the
        graph tokens query, every token is key and value."""
        q, k, v = self.q_proj(x.index_select(0, layout.first)), self.k_proj(x), self.v_proj(x)
        parts = [self._attend(q.index_select(0, group.molecules)[:, None], group.unpack(k), group.unpack(v),
                              group_bias[:, :, :1], backend)[:, 0]
                 for group, group_bias in zip(layout.groups, bias)]
        # groups hold the molecules largest first; put the rows back in batch order
        order = torch.cat([group.molecules for group in layout.groups])
        return self.out_proj(torch.cat(parts).index_select(0, torch.argsort(order)))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, backend: str,
                probs_out: list | None = None):
        """Projections q `[B, Tq, d]`, k and v `[B, T, d]` -> attention output `[B, Tq, d]`."""
        B, Tq, d = q.shape

        def heads(t):  # [B, T, d] -> [B, H, T, dh]
            return t.view(B, t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

        # flex has no attention dropout; resolve_backend only lets it train when that is allowed.
        p = 0.0 if backend == "flex" else self.attention_dropout
        out = biased_attention(heads(q), heads(k), heads(v), bias, dropout_p=p, training=self.training,
                               backend=backend, scale=self.scaling, compile=self.compile_flex, probs_out=probs_out)
        return out.transpose(1, 2).reshape(B, Tq, d)


def _fit(t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A group's grid `[B, T, d]` zero-padded to its bias's `[B', H, T', T']` (flex's length buckets)."""
    B, T = bias.shape[0], bias.shape[-1]
    if t.shape[:2] == (B, T):
        return t
    return F.pad(t, (0, 0, 0, T - t.shape[1], 0, B - t.shape[0]))


def _cut(t: torch.Tensor, group) -> torch.Tensor:
    """The inverse of `_fit`: the group's own `[batch, length, d]` grid."""
    return t if t.shape[:2] == (group.batch, group.length) else t[:group.batch, :group.length]


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

    def forward(self, x: torch.Tensor, bias, backend: str = "math", layout: TokenLayout | None = None,
                probs_out: list | None = None) -> torch.Tensor:
        if self.pre_layernorm:
            x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), bias, backend, layout, probs_out))
            return x + self.dropout(self.ffn(self.final_layer_norm(x)))
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, bias, backend, layout, probs_out)))
        return self.final_layer_norm(x + self.dropout(self.ffn(x)))

    def graph_tokens(self, x: torch.Tensor, bias, backend: str, layout: TokenLayout) -> torch.Tensor:
        """This layer's output for the graph tokens only, `[B, d]` (the last layer: nothing else is read)."""
        if self.pre_layernorm:
            first = x.index_select(0, layout.first)
            first = first + self.dropout(self.self_attn.graph_tokens(self.self_attn_layer_norm(x), bias, backend,
                                                                     layout))
            return first + self.dropout(self.ffn(self.final_layer_norm(first)))
        first = x.index_select(0, layout.first) + self.dropout(self.self_attn.graph_tokens(x, bias, backend, layout))
        first = self.self_attn_layer_norm(first)
        return self.final_layer_norm(first + self.dropout(self.ffn(first)))
