"""LightningModule: loss with missing-label masks, metrics, optimiser and schedule around a MoleculeModel."""

from __future__ import annotations

from typing import Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Timer

from graphormer import __version__
from graphormer.chem import FEATURIZER_VERSION
from graphormer.model.molecule import MODEL_INPUTS, MoleculeModel, model_inputs
from graphormer.train.metrics import TaskMetrics
from graphormer.train.schedule import warmup_linear_decay

__all__ = ["LOSSES", "MODEL_INPUTS", "GraphormerModule"]

LOSSES = {"regression": ("l1", "mse"), "classification": ("bce",), "multiclass": ("ce",)}
_NET = "net."  # where the MoleculeModel sits in this module; hidden from state dicts (see _flatten_state)


class GraphormerModule(L.LightningModule):
    """Training around `self.net`, a MoleculeModel (the Graphormer, target scaling, output activation).

    Everything in the constructor is saved in the checkpoint, so `load_from_checkpoint` rebuilds it, and
    `MoleculeModel.load` reads the model part of the same file. The state dict keeps the layout checkpoints
    have always had: the MoleculeModel's keys (`model.*` for the Graphormer, `target_mean`, `target_std`)
    at the top level beside this module's own `pos_weight`, so older `.ckpt` files load and resume.
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
        descriptors: dict | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.loss_name = loss or LOSSES[task][0]
        if self.loss_name not in LOSSES[task]:
            raise ValueError(f"loss {self.loss_name!r} does not fit task {task!r} (choices: {LOSSES[task]})")
        self.net = MoleculeModel(model, task=task, target_names=target_names, num_classes=num_classes,
                                 target_mean=target_mean, target_std=target_std,
                                 legacy_drop_node0=legacy_drop_node0, featurizer_version=featurizer_version,
                                 package_version=package_version, descriptors=descriptors)
        self.register_buffer("pos_weight", torch.tensor(pos_weight) if pos_weight is not None else None)
        self.metrics = torch.nn.ModuleDict(
            {stage: TaskMetrics(task, len(target_names), num_classes) for stage in ("val", "test")})
        self.register_state_dict_post_hook(_flatten_state)
        self.register_load_state_dict_pre_hook(_nest_state)

    @classmethod
    def wrapping(cls, net: MoleculeModel, **training) -> "GraphormerModule":
        """A training module around (a copy of) `net`'s weights; `training`: loss, lr, ... arguments."""
        module = cls(**net.hparams, **training)
        module.net.load_state_dict(net.state_dict())
        return module

    # ----------------------------------------------------------------- model
    @property
    def task(self) -> str:
        return self.net.task

    @property
    def model(self):
        """The Graphormer (`self.net.model`)."""
        return self.net.model

    def __setattr__(self, name, value):
        if name == "model":  # e.g. `module.model = torch.compile(module.model)` replaces the Graphormer
            self.net.model = value
            return
        super().__setattr__(name, value)

    @property
    def target_mean(self) -> torch.Tensor:
        return self.net.target_mean

    @property
    def target_std(self) -> torch.Tensor:
        return self.net.target_std

    def forward(self, batch: dict) -> torch.Tensor:
        """Predictions in original units (regression) or logits (classification)."""
        return self.net.unscale(self.net.raw(*model_inputs(batch), layout=batch.get("layout")))

    def _loss(self, raw: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss over the labelled entries; `weight` [B] (data.weight_column) weighs molecules. Missing
        labels are masked arithmetically (no boolean indexing): the device never waits for the host."""
        raw = raw.float()
        if self.task == "multiclass":
            keep = ~torch.isnan(y[:, 0])
            per = F.cross_entropy(raw, torch.nan_to_num(y[:, 0]).long(), reduction="none")
            w = keep.float() if weight is None else weight * keep
        else:
            keep = ~torch.isnan(y)
            target = torch.nan_to_num(y)
            if self.task == "regression":
                diff = raw - self.net.scale(target)
                per = diff.abs() if self.loss_name == "l1" else diff.pow(2)
            else:
                pos = None if self.pos_weight is None else self.pos_weight.expand_as(y)
                per = F.binary_cross_entropy_with_logits(raw, target, pos_weight=pos, reduction="none")
            w = keep.float() if weight is None else weight[:, None] * keep
        per = torch.where(keep, per, 0.0)  # a missing label's term is 0, not NaN * 0
        if weight is None:
            return per.sum() / w.sum()
        return (per * w).sum() / w.sum().clamp_min(1e-12)

    # -------------------------------------------------------------- the loop
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        if self.hparams.flag_steps > 0:
            loss = self._flag_loss(batch)
        else:
            raw = self.net.raw(*model_inputs(batch), layout=batch.get("layout"))
            loss = self._loss(raw, batch["y"], batch.get("weight"))
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["y"].shape[0])
        return loss

    def _flag_loss(self, batch: dict) -> torch.Tensor:
        """FLAG (spec §7): m sign-gradient ascent steps on a node-embedding perturbation; the returned loss
        is the mean of the m losses, so its backward accumulates the same parameter gradients as FLAG's
        m backward passes. The perturbation's own gradient comes from torch.autograd.grad, which keeps
        Lightning's automatic optimisation (clipping, accumulation, DDP) unchanged."""
        hp = self.hparams
        inputs = model_inputs(batch)
        mask = batch["node_mask"].unsqueeze(-1).float()
        shape = (*batch["node_mask"].shape, self.net.embed_dim)
        if hp.flag_mag > 0:
            delta = (torch.rand(shape, device=mask.device) * 2 - 1) * hp.flag_mag / shape[-1] ** 0.5
        else:
            delta = (torch.rand(shape, device=mask.device) * 2 - 1) * hp.flag_step_size
        total = 0.0
        for step in range(hp.flag_steps):
            delta = (delta * mask).detach().requires_grad_(True)
            loss = self._loss(self.net.raw(*inputs, perturb=delta, layout=batch.get("layout")), batch["y"],
                              batch.get("weight"))
            total = total + loss / hp.flag_steps
            if step + 1 < hp.flag_steps:
                (grad,) = torch.autograd.grad(self._scaled(loss), delta, retain_graph=True)
                grad = torch.nan_to_num(grad)  # an overflowing loss scale: no step for those entries
                delta = delta.detach() + hp.flag_step_size * grad.sign()
                if hp.flag_mag > 0:  # project each node's perturbation back into the mag-ball
                    norm = delta.norm(dim=-1, keepdim=True)
                    delta = torch.where(norm > hp.flag_mag, delta * hp.flag_mag / norm, delta)
        return total

    def _scaled(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss as the precision plugin scales it for backward (`16-mixed`: GradScaler), so that FLAG's
        own gradient does not underflow in float16 where the parameters' does not. Only its sign is used,
        so it needs no unscaling."""
        plugin = getattr(getattr(self, "_trainer", None), "precision_plugin", None)
        scaler = getattr(plugin, "scaler", None)
        return loss if scaler is None else scaler.scale(loss)

    def _eval_step(self, batch: dict, stage: str) -> None:
        raw = self.net.raw(*model_inputs(batch), layout=batch.get("layout"))
        self.log(f"{stage}/loss", self._loss(raw, batch["y"], batch.get("weight")), batch_size=batch["y"].shape[0], sync_dist=True)
        self.metrics[stage].update(self.net.unscale(raw).float(), batch["y"])

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
    def _time_fraction(self) -> Callable[[], float] | None:
        """With trainer.max_time, the share of it used so far (the schedule follows it; see schedule.py)."""
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        if timer is None or timer.time_remaining("train") is None:
            return None
        return _timer_fraction(timer)

    def configure_optimizers(self):
        hp = self.hparams
        # Not fused: Lightning refuses gradient clipping with a fused optimiser under mixed precision, and
        # fused AdamW measured only 0-3% faster here (scripts/bench.py --ablation).
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=hp.lr, betas=tuple(hp.betas), eps=hp.eps,
                                      weight_decay=hp.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = warmup_linear_decay(optimizer, total_steps=total, warmup=hp.warmup, peak_lr=hp.lr, end_lr=hp.end_lr,
                                       time_fraction=self._time_fraction())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def _timer_fraction(timer: Timer) -> Callable[[], float]:
    def fraction() -> float:
        elapsed, remaining = timer.time_elapsed("train"), timer.time_remaining("train")
        return elapsed / max(1e-9, elapsed + (remaining or 0.0))
    return fraction


def _flatten_state(module, state_dict, prefix, local_metadata) -> None:
    """state_dict post-hook: `net.<key>` → `<key>` (the checkpoint layout from before the MoleculeModel)."""
    inner = prefix + _NET
    for key in list(state_dict):  # rebuilt in order, keys renamed in place
        value = state_dict.pop(key)
        state_dict[prefix + key[len(inner):] if key.startswith(inner) else key] = value


def _nest_state(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                error_msgs) -> None:
    """load_state_dict pre-hook, the inverse of `_flatten_state`: the MoleculeModel's keys go under `net.`."""
    for key in list(state_dict):
        if not key.startswith(prefix) or key.startswith(prefix + _NET):
            continue
        rest = key[len(prefix):]
        if rest.startswith("model.") or rest in ("target_mean", "target_std"):
            state_dict[prefix + _NET + rest] = state_dict.pop(key)
