"""Published model sizes (spec §9) and a parameter counter."""

from __future__ import annotations

from torch import nn

SLIM = dict(num_layers=12, embed_dim=80, ffn_dim=80, num_heads=8)
BASE = dict(num_layers=12, embed_dim=768, ffn_dim=768, num_heads=32)
LARGE = dict(num_layers=24, embed_dim=1024, ffn_dim=1024, num_heads=32)
PRESETS = {"slim": SLIM, "base": BASE, "large": LARGE}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
