"""Linear warm-up then linear ("polynomial, power 1") decay to end_lr, as in the reference recipes."""

from __future__ import annotations

from typing import Callable

import torch


def warmup_linear_decay(optimizer: torch.optim.Optimizer, total_steps: int, warmup: float, peak_lr: float,
                        end_lr: float, time_fraction: Callable[[], float] | None = None
                        ) -> torch.optim.lr_scheduler.LambdaLR:
    """`warmup` < 1 is a fraction of total_steps, otherwise a number of steps.

    `time_fraction()` (the share of a wall-time budget used, `trainer.max_time`): the schedule then follows
    whichever runs out first, steps or time, so a run stopped by the clock has still warmed up and decayed
    (without it a time-capped run would stop at a high learning rate)."""
    warmup_steps = int(warmup * total_steps) if warmup < 1 else int(warmup)
    warmup_steps = min(warmup_steps, total_steps)
    floor = end_lr / peak_lr
    if time_fraction is not None:
        share = warmup_steps / max(1, total_steps)

        def timed(step: int) -> float:
            progress = max(step / max(1, total_steps), min(1.0, time_fraction()))
            if progress < share:
                return max(progress / share, 1.0 / max(1, warmup_steps))
            return floor + (1.0 - floor) * (1.0 - min(1.0, (progress - share) / max(1e-12, 1.0 - share)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, timed)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / remaining)
        return floor + (1.0 - floor) * (1.0 - progress)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
