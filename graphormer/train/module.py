"""LightningModule: loss with missing-label masks, target scaling, metrics, optimiser and schedule."""

from __future__ import annotations

from typing import Sequence

import lightning as L
import torch
import torch.nn.functional as F

from graphormer import __version__
from graphormer.chem import FEATURIZER_VERSION
from graphormer.model import Graphormer
from graphormer.train.metrics import TaskMetrics
from graphormer.train.schedule import warmup_linear_decay

MODEL_INPUTS = ("x", "node_mask", "degree", "spd", "path")
LOSSES = {"regression": ("l1", "mse"), "classification": ("bce",), "multiclass": ("ce",)}


class GraphormerModule(L.LightningModule):
    """Everything in the constructor is saved in the checkpoint, so `load_from_checkpoint` rebuilds it.

    `legacy_drop_node0` is not used here: it records that the model expects the reference's pre-fix path
    features (spec §4.1), so every data pipeline that feeds this checkpoint builds them the same way.
    """

    def __init__(
        self,
        model: dict,
        task: str = "regression",
        target_names: Sequence[str] = ("target_0",),
        target_mean: Sequence[float] | None = None,
        target_std: Sequence[float] | None = None,
        loss: str | None = None,
        num_classes: int = 2,
        pos_weight: Sequence[float] | None = None,
        lr: float = 2e-4,
        end_lr: float = 1e-9,
        weight_decay: float = 0.0,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-8,
        warmup: float = 0.06,
        flag_steps: int = 0,
        flag_step_size: float = 1e-3,
        flag_mag: float = 0.0,
        legacy_drop_node0: bool = False,
        package_version: str = __version__,
        featurizer_version: str = FEATURIZER_VERSION,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.task = task
        self.loss_name = loss or LOSSES[task][0]
        if self.loss_name not in LOSSES[task]:
            raise ValueError(f"loss {self.loss_name!r} does not fit task {task!r} (choices: {LOSSES[task]})")
        num_outputs = num_classes if task == "multiclass" else len(target_names)
        self.model = Graphormer(**{**model, "num_outputs": num_outputs})
        scaled = task == "regression" and target_mean is not None
        n = len(target_names)
        self.register_buffer("target_mean", torch.tensor(target_mean if scaled else [0.0] * n, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(target_std if scaled else [1.0] * n, dtype=torch.float32))
        self.register_buffer("pos_weight", torch.tensor(pos_weight) if pos_weight is not None else None)
        self.metrics = torch.nn.ModuleDict(
            {stage: TaskMetrics(task, n, num_classes) for stage in ("val", "test")})

    # ----------------------------------------------------------------- model
    def forward(self, batch: dict) -> torch.Tensor:
        """Predictions in original units (regression) or logits (classification)."""
        out = self.model(*(batch[k] for k in MODEL_INPUTS))
        if self.task == "regression":
            out = out * self.target_std + self.target_mean
        return out

    def _loss(self, raw: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss over the labelled entries; `weight` [B] (data.weight_column) weighs molecules."""
        raw = raw.float()
        if self.task == "multiclass":
            keep = ~torch.isnan(y[:, 0])
            per = F.cross_entropy(raw[keep], y[keep, 0].long(), reduction="none")
            w = None if weight is None else weight[keep]
        else:
            keep = ~torch.isnan(y)
            if self.task == "regression":
                diff = raw[keep] - ((y - self.target_mean) / self.target_std)[keep]
                per = diff.abs() if self.loss_name == "l1" else diff.pow(2)
            else:
                pos = None if self.pos_weight is None else self.pos_weight.expand_as(y)[keep]
                per = F.binary_cross_entropy_with_logits(raw[keep], y[keep], pos_weight=pos, reduction="none")
            w = None if weight is None else weight[:, None].expand_as(y)[keep]
        if w is None:
            return per.mean()
        return (per * w).sum() / w.sum().clamp_min(1e-12)

    # -------------------------------------------------------------- the loop
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.hparams.flag_steps > 0:
            loss = self._flag_loss(batch)
        else:
            raw = self.model(*(batch[k] for k in MODEL_INPUTS))
            loss = self._loss(raw, batch["y"], batch.get("weight"))
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["y"].shape[0])
        return loss

    def _flag_loss(self, batch: dict) -> torch.Tensor:
        """FLAG (spec §7): m sign-gradient ascent steps on a node-embedding perturbation; the returned loss
        is the mean of the m losses, so its backward accumulates the same parameter gradients as FLAG's
        m backward passes. The perturbation's own gradient comes from torch.autograd.grad, which keeps
        Lightning's automatic optimisation (clipping, accumulation, DDP) unchanged."""
        hp = self.hparams
        inputs = [batch[k] for k in MODEL_INPUTS]
        mask = batch["node_mask"].unsqueeze(-1).float()
        shape = (*batch["node_mask"].shape, self.model.hparams["embed_dim"])
        if hp.flag_mag > 0:
            delta = (torch.rand(shape, device=mask.device) * 2 - 1) * hp.flag_mag / shape[-1] ** 0.5
        else:
            delta = (torch.rand(shape, device=mask.device) * 2 - 1) * hp.flag_step_size
        total = 0.0
        for step in range(hp.flag_steps):
            delta = (delta * mask).detach().requires_grad_(True)
            loss = self._loss(self.model(*inputs, perturb=delta), batch["y"], batch.get("weight"))
            total = total + loss / hp.flag_steps
            if step + 1 < hp.flag_steps:
                (grad,) = torch.autograd.grad(loss, delta, retain_graph=True)
                delta = delta.detach() + hp.flag_step_size * grad.sign()
                if hp.flag_mag > 0:  # project each node's perturbation back into the mag-ball
                    norm = delta.norm(dim=-1, keepdim=True)
                    delta = torch.where(norm > hp.flag_mag, delta * hp.flag_mag / norm, delta)
        return total

    def _eval_step(self, batch: dict, stage: str) -> None:
        raw = self.model(*(batch[k] for k in MODEL_INPUTS))
        self.log(f"{stage}/loss", self._loss(raw, batch["y"], batch.get("weight")), batch_size=batch["y"].shape[0], sync_dist=True)
        pred = raw * self.target_std + self.target_mean if self.task == "regression" else raw
        self.metrics[stage].update(pred.float(), batch["y"])

    def _eval_end(self, stage: str) -> None:
        for name, value in self.metrics[stage].compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=stage == "val")
        self.metrics[stage].reset()

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        # Several test loaders (evaluate split=all) feed one set of metrics.
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self(batch)

    # ----------------------------------------------------------- optimisation
    def configure_optimizers(self):
        hp = self.hparams
        # Not fused: Lightning refuses gradient clipping with a fused optimiser under mixed precision, and
        # fused AdamW measured only 0-3% faster here (scripts/bench.py --ablation).
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=hp.lr, betas=tuple(hp.betas), eps=hp.eps,
                                      weight_decay=hp.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = warmup_linear_decay(optimizer, total_steps=total, warmup=hp.warmup, peak_lr=hp.lr, end_lr=hp.end_lr)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
