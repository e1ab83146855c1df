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

from graphormer.model.dropout import dropout, keep_mask

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
                     scale: float | None = None, compile: bool | None = None,
                     probs_out: list | None = None) -> torch.Tensor:
    """`[B, H, T, dh]` attention output. `scale` defaults to dh^-1/2. `compile` only affects flex
    (None = compiled on CUDA, eager elsewhere). `probs_out`: a list that receives the attention
    probabilities `[B, H, Tq, T]` (before dropout); only the math backend computes them."""
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    dropout_p = dropout_p if training else 0.0
    if probs_out is not None:
        if backend != "math":
            raise ValueError(f"attention probabilities come from the math backend only, not {backend!r}")
        return _math(q, k, v, bias, dropout_p, scale, probs_out)
    if backend == "math":
        return _math(q, k, v, bias, dropout_p, scale)
    if backend == "sdpa":
        return _sdpa(q, k, v, bias.to(q.dtype), dropout_p, scale)
    if backend == "flex":
        if dropout_p > 0:
            raise ValueError("the flex attention backend has no attention dropout; pass dropout_p=0")
        return _flex(q, k, v, bias, scale, q.is_cuda if compile is None else compile)
    raise ValueError(f"unknown attention backend {backend!r}; choose one of {', '.join(BACKENDS[1:])}")


def _math(q, k, v, bias, dropout_p, scale, probs_out: list | None = None):
    if probs_out is None and _use_recomputing_core(q, bias):
        # contiguous once here: the core reshapes to [B*H, T, dh] in forward and again in backward
        return RecomputingAttention.apply((q * scale).contiguous(), k.contiguous(), v.contiguous(),
                                          bias.to(q.dtype), dropout_p)
    # Same order as the reference: scale q, add the bias, softmax in (at least) float32.
    scores = torch.matmul(q * scale, k.transpose(-2, -1)) + bias
    probs = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
    if probs_out is not None:
        probs_out.append(probs)
    probs = dropout(probs.to(v.dtype), dropout_p, training=dropout_p > 0)
    return torch.matmul(probs, v)


def sdpa_plan(device_type: str, dtype: torch.dtype, head_dim: int, bias_needs_grad: bool):
    """(SDPA kernels to allow, head dim to zero-pad q/k/v to) for a biased attention call; (None, head_dim)
    leaves the choice to torch. On CUDA, when the bias needs a gradient, only the memory-efficient kernel
    (and math, its fallback) may run: the cuDNN kernel, which torch may pick for some dropout values, returns
    no bias gradient. The memory-efficient kernel needs head_dim to be a multiple of 16 bytes (8 in half
    precision, 4 in float32); slim's 10 is padded (zero columns leave q k^T unchanged)."""
    if device_type != "cuda" or not bias_needs_grad:
        return None, head_dim
    from torch.nn.attention import SDPBackend

    align = max(1, 16 // torch.empty((), dtype=dtype).element_size())
    return [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH], -(-head_dim // align) * align


def _sdpa(q, k, v, bias, dropout_p, scale, plan=None):
    backends, width = plan or sdpa_plan(q.device.type, q.dtype, q.shape[-1], bias.requires_grad)
    if backends is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    from torch.nn.attention import sdpa_kernel

    dh = q.shape[-1]
    if width != dh:
        q, k, v = (F.pad(t, (0, width - dh)) for t in (q, k, v))
    with sdpa_kernel(backends):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    return out[..., :dh]


def _flex(q, k, v, bias, scale, compiled):
    from torch.nn.attention.flex_attention import flex_attention

    bias = bias.to(q.dtype)

    def score_mod(score, b, h, q_idx, kv_idx):
        return score + bias[b, h, q_idx, kv_idx]

    dh = q.shape[-1]
    if q.is_cuda and dh < FLEX_MIN_HEAD_DIM:
        # Zero-padding q and k leaves q k^T unchanged; the padded value columns are sliced off.
        q, k, v = (F.pad(t, (0, FLEX_MIN_HEAD_DIM - dh)) for t in (q, k, v))
    if compiled and q.shape[0] > 1 and not torch.compiler.is_compiling():  # compile=true traces this call
        # the molecule count varies from batch to batch: one kernel for all of them (lengths are bucketed)
        for t in (q, k, v, bias):
            torch._dynamo.mark_dynamic(t, 0)
    fn = _compiled_flex_attention() if compiled else flex_attention
    return fn(q, k, v, score_mod=score_mod, scale=scale)[..., :dh]


def _compiled_flex_attention():
    # Compiled once per process. dynamic=False: automatic dynamic shapes break flex codegen on CPU, so
    # every new length T compiles anew; the batch dimension is marked dynamic (works on CPU too) and the
    # model pads T to a few buckets (packing.bucket_length), which keeps it under dynamo's recompile limit.
    global _compiled_flex
    if _compiled_flex is None:
        from torch.nn.attention.flex_attention import flex_attention

        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def _use_recomputing_core(q: torch.Tensor, bias: torch.Tensor) -> bool:
    """CPU training in float32/64 without autocast: the memory-lean core below (same numbers)."""
    return (torch.is_grad_enabled() and q.device.type == "cpu" and q.dtype in (torch.float32, torch.float64)
            and not torch.is_autocast_enabled("cpu") and (q.requires_grad or bias.requires_grad)
            and bias.shape == (*q.shape[:3], q.shape[2]))


# Grids up to this many tokens keep their probabilities for backward instead of recomputing them: at that
# size the extra softmax and matmul cost more than the memory is worth.
KEEP_PROBS_MAX_TOKENS = 32


def _probs(q, k, bias):
    """softmax(q k^T + bias) on [B*H, T, *] views; baddbmm adds the bias inside the matmul."""
    return torch.softmax(torch.baddbmm(bias, q, k.transpose(1, 2)), dim=-1)


class RecomputingAttention(torch.autograd.Function):
    """dropout(softmax(q k^T + bias)) v with q already scaled; q, k, v [B, H, T, dh], bias [B, H, T, T].

    Plain autograd keeps the probabilities, the dropout mask and the dropped probabilities for backward
    (9 bytes per attention entry and layer). This keeps q, k, v, the shared bias and the uint8 mask only
    (1 byte per entry) and recomputes the softmax in backward, flash-attention style: measured in
    scripts/bench.py, the slim training step's memory falls ~40% at ~4% of its speed. Grids of at most
    KEEP_PROBS_MAX_TOKENS tokens keep the probabilities instead (4 more bytes per entry, tiny there): a slim
    step on 64 QM9 molecules 90.4 → 84.5 ms, on 16 chains of 11 / 21 / 31 atoms 1–2 % faster.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, p: float):
        B, H, T, dh = q.shape
        qf, kf, vf, bf = (t.reshape(B * H, T, -1) for t in (q, k, v, bias))
        probs = _probs(qf, kf, bf)
        keep, scale = keep_mask(probs.shape, p, probs.device) if p > 0 else (None, 1.0)
        saved = probs if T <= KEEP_PROBS_MAX_TOKENS else None  # small grids: keep, do not recompute
        dropped = (probs * keep if saved is not None else probs.mul_(keep)) if p > 0 else probs
        out = torch.bmm(dropped, vf)
        if p > 0:
            out = out.mul_(scale)  # the dropout scale, applied to the small output
        ctx.p, ctx.scale = p, scale
        ctx.save_for_backward(q, k, v, bias, keep, saved)
        return out.view(B, H, T, dh)

    @staticmethod
    def backward(ctx, grad):
        q, k, v, bias, keep, probs = ctx.saved_tensors
        B, H, T, dh = q.shape
        qf, kf, vf, bf = (t.reshape(B * H, T, -1) for t in (q, k, v, bias))
        if probs is None:
            probs = _probs(qf, kf, bf)
        grad = grad.reshape(B * H, T, dh) * ctx.scale
        grad_v = torch.bmm((probs * keep if ctx.p > 0 else probs).transpose(1, 2), grad)
        grad_p = torch.bmm(grad, vf.transpose(1, 2))
        if ctx.p > 0:
            grad_p.mul_(keep)
        # softmax backward: probs * (grad_p - sum(grad_p * probs))
        grad_s = grad_p.sub_((grad_p * probs).sum(-1, keepdim=True)).mul_(probs)
        grad_q = torch.bmm(grad_s, kf).view(B, H, T, dh)
        grad_k = torch.bmm(grad_s.transpose(1, 2), qf).view(B, H, T, dh)
        grad_bias = grad_s.view(B, H, T, T) if ctx.needs_input_grad[3] else None
        return grad_q, grad_k, grad_v.view(B, H, T, dh), grad_bias, None
