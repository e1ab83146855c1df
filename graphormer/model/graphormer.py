"""The Graphormer model (v2 / HF layout): embeddings -> shared attention bias -> L layers -> head on token 0."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphormer.model.attention import resolve_backend
from graphormer.model.bias import AttentionBias
from graphormer.model.embedding import NodeEmbedding
from graphormer.model.dropout import Dropout
from graphormer.model.layers import EncoderLayer
from graphormer.graph.packing import MAX_GROUPS, TokenLayout, bucket_length


def apply_graphormer_init(module: nn.Module) -> None:
    """Spec §8 (`apply_graphormer_init`): Linear N(0, 0.02) / bias 0, Embedding N(0, 0.02) with a
    zero padding row, LayerNorm 1 / 0. Use with `model.apply(apply_graphormer_init)`."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def compute_dtype(device: torch.device, param_dtype: torch.dtype) -> torch.dtype:
    """The dtype matmuls run in: the autocast dtype when autocast is on, else the parameters'."""
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return param_dtype


class Graphormer(nn.Module):
    """`forward(x, node_mask, degree, spd, path) -> [B, num_outputs]` (inputs: the Batch table in
    docs/architecture.md). `attention` picks the backend: auto | math | sdpa | flex."""

    def __init__(self, num_layers: int, embed_dim: int, ffn_dim: int, num_heads: int, num_outputs: int = 1,
                 dropout: float = 0.1, attention_dropout: float = 0.1, activation_dropout: float = 0.1,
                 pre_layernorm: bool = False, embed_layernorm: bool = True, max_hops: int = 5,
                 num_edge_dis: int = 128, max_spatial_distance: int | None = None, attention: str = "auto",
                 allow_flex_without_dropout: bool = False, extra_features: int = 0):
        super().__init__()
        extra_features = int(extra_features or 0)  # null in the model configs = none
        # Plain constructor arguments, kept so a checkpoint can rebuild the model: Graphormer(**hparams).
        self._hparams = dict(
            num_layers=num_layers, embed_dim=embed_dim, ffn_dim=ffn_dim, num_heads=num_heads,
            num_outputs=num_outputs, dropout=dropout, attention_dropout=attention_dropout,
            activation_dropout=activation_dropout, pre_layernorm=pre_layernorm, embed_layernorm=embed_layernorm,
            max_hops=max_hops, num_edge_dis=num_edge_dis, max_spatial_distance=max_spatial_distance,
            attention=attention, allow_flex_without_dropout=allow_flex_without_dropout, extra_features=extra_features)
        resolve_backend(attention, "cpu", False, 0.0)  # reject unknown names now, not at the first batch
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.attention = attention
        self.attention_dropout = attention_dropout
        # Token-wise work on real tokens only (TokenLayout). An execution choice, not part of the model:
        # export turns it off (a data-dependent token count cannot be traced), and so does torch.compile.
        self.pack_tokens = True
        self.allow_flex_without_dropout = allow_flex_without_dropout

        self.node_embedding = NodeEmbedding(embed_dim)
        self.attn_bias = AttentionBias(num_heads, max_hops, num_edge_dis, max_spatial_distance)
        self.embed_layer_norm = nn.LayerNorm(embed_dim) if embed_layernorm else None
        self.embed_dropout = Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(embed_dim, ffn_dim, num_heads, dropout, attention_dropout, activation_dropout, pre_layernorm)
            for _ in range(num_layers))
        # Head (v2): Linear -> GELU -> LN -> Linear without bias, plus one learned scalar bias. With
        # `extra_features` > 0 the first Linear also reads that many per-molecule inputs (e.g. scaled RDKit
        # descriptors) concatenated to the graph token, as chemprop's --molecule-featurizers do.
        self.extra_features = extra_features
        self.head_transform = nn.Linear(embed_dim + extra_features, embed_dim)
        self.head_layer_norm = nn.LayerNorm(embed_dim)
        self.embed_out = nn.Linear(embed_dim, num_outputs, bias=False)
        self.lm_output_learned_bias = nn.Parameter(torch.zeros(1))
        self.apply(apply_graphormer_init)

    @property
    def hparams(self) -> dict:
        return dict(self._hparams)

    def reset_head(self, num_outputs: int | None = None) -> None:
        """Fresh output layer and scalar bias (fine-tuning), optionally with a new number of outputs."""
        num_outputs = num_outputs or self._hparams["num_outputs"]
        w = self.embed_out.weight
        self.embed_out = nn.Linear(w.shape[1], num_outputs, bias=False, device=w.device, dtype=w.dtype)
        apply_graphormer_init(self.embed_out)
        with torch.no_grad():
            self.lm_output_learned_bias.zero_()
        self._hparams["num_outputs"] = num_outputs

    def backend(self, device_type: str) -> str:
        return resolve_backend(self.attention, device_type, self.training, self.attention_dropout,
                               self.allow_flex_without_dropout)

    def encode(self, x: torch.Tensor, node_mask: torch.Tensor, degree: torch.Tensor, spd: torch.Tensor,
               path: torch.Tensor, perturb: torch.Tensor | None = None,
               layout: TokenLayout | None = None, attn_probs: list | None = None) -> torch.Tensor:
        """Final hidden state of the graph token, `[B, embed_dim]`. `perturb` `[B, N, embed_dim]` is added to
        the node embeddings (not the graph token) before the embedding LayerNorm, as FLAG does (and
        integrated gradients, graphormer.inference.explain). `layout`: the batch's TokenLayout from the
        collater (built here from `node_mask` when not given, which makes the device wait for the host).
        `attn_probs`: a list that receives every layer's attention probabilities `[B, H, N + 1, N + 1]` (graph
        token first); it runs the math backend on unpacked tokens, whatever `attention` says. There,
        `node_mask`, `spd` and `path` may have batch 1 for a batch of one molecule's inputs (x, degree,
        perturb): the attention bias is computed once and broadcast."""
        device = x.device
        backend = self.backend(device.type) if attn_probs is None else "math"
        dtype = compute_dtype(device, self.head_transform.weight.dtype)
        h = self.node_embedding(x, node_mask, degree)
        if perturb is not None:
            h = torch.cat([h[:, :1], h[:, 1:] + perturb.to(h.dtype)], dim=1)
        if not self.pack_tokens or attn_probs is not None or torch.compiler.is_compiling():
            layout = None
        elif layout is None and TokenLayout.is_prefix(node_mask):
            layout = TokenLayout.of(node_mask, max_groups=MAX_GROUPS)
        if layout is not None:
            if (layout.batch, layout.length) != tuple(h.shape[:2]):
                raise ValueError(f"the batch's layout is for {layout.batch} molecules of {layout.length} tokens, "
                                 f"the inputs have {tuple(h.shape[:2])}")
            h = layout.pack(h)
            # one bias per size group, cut to the group's grid; shared by every layer
            bias = [self.attn_bias(*group.select(spd, path, node_mask), dtype) for group in layout.groups]
            if backend == "flex":  # compiled kernels: a few grid lengths, not one per batch (see packing.py)
                bias = [_bucketed(b) for b in bias]
        else:
            bias = self.attn_bias(spd, path, node_mask, dtype)  # shared by every layer
        if self.embed_layer_norm is not None:
            h = self.embed_layer_norm(h)
        h = self.embed_dropout(h)
        if layout is None:
            for layer in self.layers:
                h = layer(h, bias, backend, probs_out=attn_probs)
            return h[:, 0]
        *layers, last = self.layers
        for layer in layers:
            h = layer(h, bias, backend, layout)
        if backend == "flex":  # compiled flex: keep the one query shape per bucket it was compiled for
            return last(h, bias, backend, layout)[layout.first]
        # only the graph tokens are read after the last layer: its queries, out-projection and FFN skip the rest
        return last.graph_tokens(h, bias, backend, layout)

    def head(self, h: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """The output head, in the parameters' precision even under autocast: regression outputs are
        unscaled afterwards (`raw * std + mean`), and a bf16 head would round them first (bf16 keeps 8
        bits: PCQM4Mv2's HOMO-LUMO gaps of ~5 eV by ~0.03 eV, a third of the published 0.0865 eV MAE)."""
        with torch.autocast(h.device.type, enabled=False):
            dtype = self.head_transform.weight.dtype
            h = h.to(dtype)
            if self.extra_features:
                if extra is None or extra.shape[-1] != self.extra_features:
                    raise ValueError(f"this model reads {self.extra_features} extra features per molecule; "
                                     f"got {None if extra is None else extra.shape[-1]}")
                h = torch.cat([h, extra.to(dtype)], dim=-1)
            h = self.head_layer_norm(F.gelu(self.head_transform(h)))
            return self.embed_out(h) + self.lm_output_learned_bias

    def forward(self, x: torch.Tensor, node_mask: torch.Tensor, degree: torch.Tensor, spd: torch.Tensor,
                path: torch.Tensor, perturb: torch.Tensor | None = None,
                extra: torch.Tensor | None = None, layout: TokenLayout | None = None,
                attn_probs: list | None = None) -> torch.Tensor:
        return self.head(self.encode(x, node_mask, degree, spd, path, perturb, layout, attn_probs), extra)


def _bucketed(bias: torch.Tensor) -> torch.Tensor:
    """A group's bias `[B, H, T, T]` padded to `[max(B, 2), H, L, L]`, L = bucket_length(T): padded keys get
    -inf, padded query rows and padding molecules 0 (finite, so no row is fully masked). The layers pad q, k
    and v to the same grid and cut the output back (MultiheadAttention)."""
    B, _, T, _ = bias.shape
    length = bucket_length(T)
    if length != T:
        bias = F.pad(F.pad(bias, (0, length - T), value=float("-inf")), (0, 0, 0, length - T))
    if B < 2:  # a batch dimension of 1 would be specialised by the compiler: pad with one empty molecule
        bias = F.pad(bias, (0, 0, 0, 0, 0, 0, 0, 2 - B))
    return bias
