"""Metrics with missing-label masks, gathered across DDP ranks by torchmetrics."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision, MulticlassAccuracy


class TaskMetrics(nn.Module):
    """One metric object per target so masks stay per target; `compute` averages over targets.

    Regression: mae, rmse (original units). Classification: rocauc, ap (mean over tasks, as OGB).
    Multiclass: accuracy.
    """

    def __init__(self, task: str, num_targets: int, num_classes: int = 2):
        super().__init__()
        self.task = task
        if task == "regression":
            self.names = ("mae", "rmse")
            self.per_target = nn.ModuleList(
                nn.ModuleDict({"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False)})
                for _ in range(num_targets))
        elif task == "classification":
            self.names = ("rocauc", "ap")
            self.per_target = nn.ModuleList(
                nn.ModuleDict({"rocauc": BinaryAUROC(), "ap": BinaryAveragePrecision()})
                for _ in range(num_targets))
        else:
            self.names = ("accuracy",)
            self.per_target = nn.ModuleList(
                nn.ModuleDict({"accuracy": MulticlassAccuracy(num_classes, average="micro")})
                for _ in range(num_targets))

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred: [B, C] in original units (regression) or logits; target: [B, C] with NaN = missing."""
        for t, metrics in enumerate(self.per_target):
            if self.task == "multiclass":
                p, y = pred[:, t], target[:, 0]
                keep = ~torch.isnan(y)
                p, y = pred[keep], y[keep].long()
            else:
                p, y = pred[:, t], target[:, t]
                keep = ~torch.isnan(y)
                p, y = p[keep], y[keep]
                if self.task == "classification":
                    y = y.long()
            if y.numel() == 0:
                continue
            for metric in metrics.values():
                metric.update(p.float(), y)

    def compute(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.names:
            values = [m[name].compute() for m in self.per_target if m[name].update_count > 0]
            if values:
                out[name] = torch.stack([v.float() for v in values]).nanmean()
        return out

    def reset(self) -> None:
        for metrics in self.per_target:
            for metric in metrics.values():
                metric.reset()
