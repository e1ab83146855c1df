"""`MoleculeModel`: the one model object from training to inference.

It holds the Graphormer, the target scaling, the output activation and the task metadata, and reads and
writes the self-describing checkpoint. Training wraps it (`graphormer.train.module.GraphormerModule`: loss,
metrics, optimiser, schedule); predict, embed, export and convert use it directly, without Lightning.

    model = MoleculeModel.load("run/checkpoints/best.ckpt")   # or an inference checkpoint
    out = model(*model_inputs(batch))                          # original units / probabilities
    model.save("model.ckpt")                                   # compact inference checkpoint

Outputs, in one place (`activate`): regression predictions are unscaled to the targets' units
(`raw * std + mean`), binary classification gets a sigmoid per target, multiclass a softmax over classes.

Checkpoints. `load` reads both formats:
* Lightning training checkpoints (`best.ckpt`, `last.ckpt`): the Lightning module's hyper-parameters under
  `hyper_parameters` and its state dict, whose keys are this model's keys (`model.*`, `target_mean`,
  `target_std`) plus the training module's own (`pos_weight`), which are ignored here;
* compact inference checkpoints (`format: graphormer-inference-v1`, written by `save`): `hparams` and
  `state_dict` only.

Extension point: optional per-molecule input features (descriptors) would enter `raw` — concatenated to the
graph-token state between the encoder and the head (the head's input width growing with them), and listed in
`hparams` so a checkpoint rebuilds the wider head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from graphormer import TASKS, __version__
from graphormer.chem.descriptors import DescriptorScaler, calc_descriptors
from graphormer.chem.featurize import FEATURIZER_VERSION
from graphormer.errors import CheckpointError
from graphormer.files import atomic_write
from graphormer.model.graphormer import Graphormer

INFERENCE_FORMAT = "graphormer-inference-v1"
# The padded batch tensors the model reads, in `forward`'s order (docs/architecture.md).
MODEL_INPUTS = ("x", "node_mask", "degree", "spd", "path")
# What torch.compile adds to the Graphormer's parameter names (a compiled run's checkpoints carry it).
_COMPILED = "model._orig_mod."


def model_inputs(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """The model's positional inputs from a collated batch (plus its `extra` inputs when it has them)."""
    inputs = tuple(batch[k] for k in MODEL_INPUTS)
    return inputs + (batch["extra"],) if batch.get("extra") is not None else inputs


class MoleculeModel(nn.Module):
    """Graphormer + target scaling + output activation + task metadata.

    `forward(x, node_mask, degree, spd, path)` returns predictions in the targets' units (regression) or
    probabilities (classification: per target; multiclass: per class): what predict writes and export
    bakes in. `raw(...)` returns the head's outputs before `activate` (scaled units / logits), what the
    training loss reads.
    """

    def __init__(self, model: Mapping, task: str = "regression", target_names: Sequence[str] = ("target_0",),
                 num_classes: int = 2, target_mean: Sequence[float] | None = None,
                 target_std: Sequence[float] | None = None, legacy_drop_node0: bool = False,
                 featurizer_version: str = FEATURIZER_VERSION, package_version: str = __version__,
                 descriptors: Mapping | None = None):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task {task!r}: choose one of {', '.join(TASKS)}")
        self.task = task
        self.target_names = [str(n) for n in target_names]
        self.num_classes = int(num_classes)
        # Records that the model expects the reference's pre-fix path features (spec §4.1), so every data
        # pipeline that feeds it builds them the same way.
        self.legacy_drop_node0 = bool(legacy_drop_node0)
        self.featurizer_version = featurizer_version
        self.package_version = package_version
        num_outputs = self.num_classes if task == "multiclass" else len(self.target_names)
        # model.extra_features=rdkit2d: the head also reads these scaled RDKit descriptors (stored here, so
        # prediction computes exactly what training saw).
        self.descriptors = DescriptorScaler.from_dict(descriptors) if descriptors else None
        arch = dict(model)
        arch["extra_features"] = len(self.descriptors.names) if self.descriptors else 0
        self.model = Graphormer(**{**arch, "num_outputs": num_outputs})
        n = len(self.target_names)
        scaled = task == "regression" and target_mean is not None
        self.register_buffer("target_mean", torch.tensor(list(target_mean) if scaled else [0.0] * n,
                                                         dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(list(target_std) if scaled else [1.0] * n,
                                                        dtype=torch.float32))

    # ------------------------------------------------------------------ metadata
    @property
    def arch(self) -> dict:
        """The Graphormer's constructor arguments (without `num_outputs`, which the task decides)."""
        hp = self.model.hparams
        hp.pop("num_outputs")
        return hp

    @property
    def hparams(self) -> dict:
        """Plain constructor arguments: `MoleculeModel(**model.hparams)` rebuilds this model."""
        scaled = self.task == "regression"
        return {"model": self.arch, "task": self.task, "target_names": list(self.target_names),
                "num_classes": self.num_classes,
                "target_mean": self.target_mean.tolist() if scaled else None,
                "target_std": self.target_std.tolist() if scaled else None,
                "legacy_drop_node0": self.legacy_drop_node0, "featurizer_version": self.featurizer_version,
                "package_version": self.package_version,
                "descriptors": self.descriptors.to_dict() if self.descriptors else None}

    @property
    def max_hops(self) -> int:
        return int(self.model.hparams["max_hops"])

    @property
    def embed_dim(self) -> int:
        return int(self.model.hparams["embed_dim"])

    @property
    def output_names(self) -> list[str]:
        """One name per output column: the targets, or `<target>_class_<k>` for multiclass."""
        if self.task == "multiclass":
            return [f"{self.target_names[0]}_class_{k}" for k in range(self.num_classes)]
        return list(self.target_names)

    # ------------------------------------------------------------------- compute
    def encode(self, x, node_mask, degree, spd, path, *, layout=None) -> torch.Tensor:
        """Final graph-token state, `[B, embed_dim]` (what `graphormer embed` writes). `layout`: the batch's
        TokenLayout from the collater, if it has one (`batch.get("layout")`)."""
        return self.model.encode(x, node_mask, degree, spd, path, layout=layout)

    def descriptor_features(self, smiles: Sequence[str]) -> np.ndarray | None:
        """The scaled descriptors this model's head reads, [n, features] (None for a model without them)."""
        if self.descriptors is None:
            return None
        rows = [calc_descriptors(s, self.descriptors.names) for s in smiles]
        return self.descriptors.features(np.stack(rows) if rows else np.zeros((0, len(self.descriptors.names))))

    def raw(self, x, node_mask, degree, spd, path, extra: torch.Tensor | None = None,
            perturb: torch.Tensor | None = None, layout=None, attn_probs: list | None = None) -> torch.Tensor:
        """Head outputs before `activate`: scaled regression values or logits, `[B, outputs]`. `perturb`
        is an additive node-embedding perturbation (FLAG's in training, the integrated-gradients path in
        explain); `layout` the collater's TokenLayout; `attn_probs` a list that receives each layer's attention
        probabilities (math backend). Calls the Graphormer's forward so that a `torch.compile`d Graphormer runs
        compiled; `layout` and `attn_probs` are passed only when given, so a compiled one sees the same call."""
        given = {k: v for k, v in (("layout", layout), ("attn_probs", attn_probs)) if v is not None}
        return self.model(x, node_mask, degree, spd, path, perturb=perturb, extra=extra, **given)

    def scale(self, y: torch.Tensor) -> torch.Tensor:
        """Targets in the units `raw` regresses (identity unless regression with scaling)."""
        return (y - self.target_mean) / self.target_std if self.task == "regression" else y

    def unscale(self, raw: torch.Tensor) -> torch.Tensor:
        """Regression outputs in the targets' units; logits unchanged (what the training metrics read)."""
        return raw * self.target_std + self.target_mean if self.task == "regression" else raw

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """The output post-processing, in one place: unscaling, sigmoid or softmax."""
        if self.task == "classification":
            return torch.sigmoid(raw)
        if self.task == "multiclass":
            return torch.softmax(raw, dim=-1)
        return self.unscale(raw)

    def forward(self, x, node_mask, degree, spd, path, extra: torch.Tensor | None = None,
                layout=None) -> torch.Tensor:
        return self.activate(self.raw(x, node_mask, degree, spd, path, extra, layout=layout))

    def predict(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """`forward` on a collated batch dict (with its layout when it has one)."""
        return self(*model_inputs(batch), layout=batch.get("layout"))

    # --------------------------------------------------------------- checkpoints
    def save(self, path: str | Path) -> Path:
        """A compact inference checkpoint (hyper-parameters and weights), written atomically."""
        path = Path(path)
        state = {k.replace(_COMPILED, "model."): v for k, v in self.state_dict().items()}
        with atomic_write(path) as handle:
            torch.save({"format": INFERENCE_FORMAT, "hparams": self.hparams, "state_dict": state}, handle)
        return path

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping, where: str = "checkpoint", **overrides) -> "MoleculeModel":
        """The model stored in a checkpoint dict that `read_checkpoint` accepted (eval mode, on CPU)."""
        stored = dict(ckpt.get("hyper_parameters") or ckpt["hparams"])
        stored.update(overrides)
        names = cls.__init__.__code__.co_varnames[1:cls.__init__.__code__.co_argcount]
        model = cls(**{k: v for k, v in stored.items() if k in names})
        state = model_state(ckpt["state_dict"])
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"{where}: weights do not fit the stored architecture ({err})") from None
        return model.eval()

    @classmethod
    def load(cls, path: str | Path, **overrides) -> "MoleculeModel":
        """The model of a training (`.ckpt`) or inference checkpoint, in eval mode on CPU. `overrides`
        replace stored hyper-parameters (e.g. `model={...}` is not allowed to change shapes)."""
        return cls.from_checkpoint(read_checkpoint(path), str(path), **overrides)


def model_state(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A checkpoint's state dict restricted to MoleculeModel's keys: the Graphormer's weights (without
    torch.compile's `_orig_mod.`) and the target scaling; the training module's own buffers
    (`pos_weight`) and anything else are dropped."""
    out = {}
    for key, value in state_dict.items():
        key = key.replace(_COMPILED, "model.")
        if key.startswith("model.") or key in ("target_mean", "target_std"):
            out[key] = value
    return out


def _major(version: str) -> str:
    return version.split(".")[0]


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, with a clear error for missing, truncated, foreign or incompatible files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated zip, random bytes, pickle errors...
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a graphormer checkpoint (no state_dict)")
    hparams = ckpt.get("hyper_parameters") or ckpt.get("hparams")
    if not isinstance(hparams, dict) or "model" not in hparams:
        raise CheckpointError(f"{path}: not a graphormer checkpoint (no model hyper-parameters)")
    featurizer = hparams.get("featurizer_version")
    if featurizer != FEATURIZER_VERSION:
        raise CheckpointError(f"{path}: made with featurizer {featurizer!r}, this graphormer {__version__} uses "
                              f"{FEATURIZER_VERSION!r}; predictions would be wrong")
    made_with = str(hparams.get("package_version", "0"))
    if _major(made_with) != _major(__version__):
        raise CheckpointError(f"{path}: made with graphormer {made_with}, incompatible with {__version__}")
    return ckpt
