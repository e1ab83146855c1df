"""Biased multi-head attention behind one function, with interchangeable backends.

    out = softmax(scale * q k^T + bias) v      q, k, v: [B, H, T, dh], bias: [B, H, T, T]

* `math`  explicit matmuls; float64-capable test oracle and the fastest CPU training path.
* `sdpa`  `F.scaled_dot_product_attention` with the float bias as `attn_mask` (fused for CPU
          inference; the export path; keeps attention dropout).
* `flex`  FlexAttention reading the materialised bias in a `score_mod`. No attention dropout,
          and no backward on CPU (see shared/reference/attention-backends.md).

All backends must give the same numbers; `tests/unit/model` checks them against float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from graphormer.model.dropout import dropout

BACKENDS = ("auto", "math", "sdpa", "flex")
FLEX_MIN_HEAD_DIM = 16  # the CUDA flex kernel refuses smaller head dims

_compiled_flex = None


def resolve_backend(requested: str, device_type: str, training: bool, attention_dropout: float,
                    allow_flex_without_dropout: bool = False) -> str:
    """Turn the `attention` option into a concrete backend, refusing combinations that cannot work."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown attention backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    drops = training and attention_dropout > 0
    if requested == "auto":
        if device_type == "cuda":
            return "sdpa" if drops else "flex"
        return "math" if training else "sdpa"
    if requested == "flex" and training:
        if device_type != "cuda":
            raise ValueError(
                f"attention='flex' cannot train on {device_type}: FlexAttention has no backward there; "
                "use attention='math' or 'auto' for training (flex is fine for inference)")
        if drops and not allow_flex_without_dropout:
            raise ValueError(
                f"attention='flex' has no attention dropout but attention_dropout={attention_dropout}; "
                "set attention_dropout=0, use attention='sdpa', or pass allow_flex_without_dropout=True "
                "to train without it")
    return requested


def biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, *,
                     dropout_p: float = 0.0, training: bool = False, backend: str = "math",
                     scale: float | None = None, compile: bool | None = None) -> torch.Tensor:
    """`[B, H, T, dh]` attention output. `scale` defaults to dh^-1/2. `compile` only affects flex
    (None = compiled on CUDA, eager elsewhere)."""
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    dropout_p = dropout_p if training else 0.0
    if backend == "math":
        return _math(q, k, v, bias, dropout_p, scale)
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=dropout_p,
                                              scale=scale)
    if backend == "flex":
        if dropout_p > 0:
            raise ValueError("the flex attention backend has no attention dropout; pass dropout_p=0")
        return _flex(q, k, v, bias, scale, q.is_cuda if compile is None else compile)
    raise ValueError(f"unknown attention backend {backend!r}; choose one of {', '.join(BACKENDS[1:])}")


def _math(q, k, v, bias, dropout_p, scale):
    # Same order as the reference: scale q, add the bias, softmax in (at least) float32.
    scores = torch.matmul(q * scale, k.transpose(-2, -1)) + bias
    probs = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
    probs = dropout(probs.to(v.dtype), dropout_p, training=dropout_p > 0)
    return torch.matmul(probs, v)


def _flex(q, k, v, bias, scale, compiled):
    from torch.nn.attention.flex_attention import flex_attention

    bias = bias.to(q.dtype)

    def score_mod(score, b, h, q_idx, kv_idx):
        return score + bias[b, h, q_idx, kv_idx]

    dh = q.shape[-1]
    if q.is_cuda and dh < FLEX_MIN_HEAD_DIM:
        # Zero-padding q and k leaves q k^T unchanged; the padded value columns are sliced off.
        q, k, v = (F.pad(t, (0, FLEX_MIN_HEAD_DIM - dh)) for t in (q, k, v))
    fn = _compiled_flex_attention() if compiled else flex_attention
    return fn(q, k, v, score_mod=score_mod, scale=scale)[..., :dh]


def _compiled_flex_attention():
    # Compiled once per process. dynamic=False: automatic dynamic shapes break flex codegen on CPU,
    # so every new (B, T) compiles anew; bucket batch shapes to stay under dynamo's recompile limit.
    global _compiled_flex
    if _compiled_flex is None:
        from torch.nn.attention.flex_attention import flex_attention

        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex
