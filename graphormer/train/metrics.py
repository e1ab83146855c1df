"""Metrics with missing-label masks, gathered across DDP ranks by torchmetrics.

Made for a GPU under DDP:
* `update` never waits for the device: missing labels are masked arithmetically (no boolean indexing, no
  `.item()`), and the states are sums or concatenated rows.
* `compute` makes the same collective calls on every rank, whatever labels each rank's shard holds: one
  metric object per task (not one per target, skipped where a rank saw no labels), so a rank without labels
  for a target cannot call fewer all-gathers than the others and hang the run.
* `TaskMetrics(..., sync=False)` computes on this process's states only, with no collective at all (the
  training-mean baseline, computed after the process group is gone or on one rank).
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_auroc, binary_average_precision
from torchmetrics.utilities import dim_zero_cat


class MaskedRegression(Metric):
    """Per-target sums of |error|, error² and label counts; mae / rmse per target (NaN where none)."""

    full_state_update = False

    def __init__(self, num_targets: int, **kwargs):
        super().__init__(**kwargs)
        self.add_state("abs_sum", torch.zeros(num_targets), dist_reduce_fx="sum")
        self.add_state("sq_sum", torch.zeros(num_targets), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(num_targets, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        keep = ~torch.isnan(target)
        diff = torch.where(keep, pred.float() - target, 0.0)
        self.abs_sum += diff.abs().sum(0)
        self.sq_sum += (diff * diff).sum(0)
        self.count += keep.sum(0)

    def compute(self) -> dict[str, torch.Tensor]:
        return {"mae": self.abs_sum / self.count, "rmse": torch.sqrt(self.sq_sum / self.count)}


class MaskedBinary(Metric):
    """Scores and labels (NaN = missing) kept as flat rows; ROC-AUC and AP per target."""

    full_state_update = False

    def __init__(self, num_targets: int, **kwargs):
        super().__init__(**kwargs)
        self.num_targets = num_targets
        # flat 1-D rows: a rank that saw no batch contributes an empty 1-D tensor of the same rank
        self.add_state("scores", [], dist_reduce_fx="cat")
        self.add_state("labels", [], dist_reduce_fx="cat")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.scores.append(pred.float().reshape(-1))
        self.labels.append(target.float().reshape(-1))

    def compute(self) -> dict[str, torch.Tensor]:
        scores = dim_zero_cat(self.scores).view(-1, self.num_targets)
        labels = dim_zero_cat(self.labels).view(-1, self.num_targets)
        out = {"rocauc": [], "ap": []}
        for t in range(self.num_targets):
            keep = ~torch.isnan(labels[:, t])
            if not bool(keep.any()):
                out["rocauc"].append(scores.new_tensor(float("nan")))
                out["ap"].append(scores.new_tensor(float("nan")))
                continue
            p, y = scores[keep, t], labels[keep, t].long()
            out["rocauc"].append(binary_auroc(p, y).float())
            out["ap"].append(binary_average_precision(p, y).float())
        return {name: torch.stack(values) for name, values in out.items()}


class MaskedMulticlass(Metric):
    """Micro accuracy over the labelled molecules (argmax of the logits)."""

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("correct", torch.zeros(1, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(1, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        y = target[:, 0]
        keep = ~torch.isnan(y)
        hit = (pred.argmax(-1) == torch.nan_to_num(y).long()) & keep
        self.correct += hit.sum()
        self.total += keep.sum()

    def compute(self) -> dict[str, torch.Tensor]:
        return {"accuracy": self.correct.float() / self.total}


class TaskMetrics(nn.Module):
    """One metric object for all targets of a task; `compute` averages over the targets with labels.

    Regression: mae, rmse (original units). Classification: rocauc, ap (mean over tasks, as OGB).
    Multiclass: accuracy. A metric is left out when no target has any label (on any rank).
    """

    def __init__(self, task: str, num_targets: int, num_classes: int = 2, sync: bool = True):
        super().__init__()
        self.task = task
        kwargs = {"sync_on_compute": sync}
        if task == "regression":
            self.names = ("mae", "rmse")
            self.metric = MaskedRegression(num_targets, **kwargs)
        elif task == "classification":
            self.names = ("rocauc", "ap")
            self.metric = MaskedBinary(num_targets, **kwargs)
        else:
            self.names = ("accuracy",)
            self.metric = MaskedMulticlass(**kwargs)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred: [B, C] in original units (regression) or logits; target: [B, C] with NaN = missing."""
        self.metric.update(pred, target)

    def compute(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, per_target in self.metric.compute().items():
            per_target = per_target.float()
            if bool(torch.isnan(per_target).all()):  # no labels at all (the same answer on every rank)
                continue
            out[name] = per_target.nanmean()
        return out

    def reset(self) -> None:
        self.metric.reset()
