"""Linear warm-up then linear ("polynomial, power 1") decay to end_lr, as in the reference recipes."""

from __future__ import annotations

import torch


def warmup_linear_decay(optimizer: torch.optim.Optimizer, total_steps: int, warmup: float, peak_lr: float,
                        end_lr: float) -> torch.optim.lr_scheduler.LambdaLR:
    """`warmup` < 1 is a fraction of total_steps, otherwise a number of steps."""
    warmup_steps = int(warmup * total_steps) if warmup < 1 else int(warmup)
    warmup_steps = min(warmup_steps, total_steps)
    floor = end_lr / peak_lr

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / remaining)
        return floor + (1.0 - floor) * (1.0 - progress)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
