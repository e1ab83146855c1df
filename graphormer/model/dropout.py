"""Dropout that is cheaper on CPU.

`F.dropout` draws its mask with `bernoulli_`, which on CPU is slow (profiled: dropout was a quarter of a
slim training step). Here one 64-bit random draw gives four 16-bit lanes, each compared with a threshold
(measured ~3x cheaper than `rand_like(x) < p`, ~4x cheaper than `bernoulli_`), and autograd keeps only the
mask. The mask is uint8, not bool: multiplying by a bool tensor converts it to float first (a full-size copy;
those multiplies were 8% of a slim training step), `masked_fill` is slower still, uint8 is read as is. The
drop probability is round(65536 p) / 65536 (0.1 → 0.1000061), with the keep scale matched so the expectation
is unchanged. On other devices `F.dropout` is used as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def keep_mask(shape: torch.Size, p: float, device=None) -> tuple[torch.Tensor, float]:
    """uint8 keep-mask of `shape` (1 with probability ≈ 1 - p, else 0) and the scale of the kept entries."""
    n = 1
    for size in shape:
        n *= size
    cut = round(p * 65536)
    words = torch.empty(-(-n // 4), dtype=torch.int64, device=device).random_(-2 ** 63, None)
    keep = words.view(torch.int16)[:n].view(shape) >= cut - 32768
    return keep.view(torch.uint8), 65536 / (65536 - cut)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training=True)
    keep, scale = keep_mask(x.shape, p)
    return (x * keep).mul_(scale)


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
