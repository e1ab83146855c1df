"""Loading and saving self-describing checkpoints (the model object does the work: `MoleculeModel.load` and
`MoleculeModel.save`; these names stay for callers of the earlier API).

Two formats are accepted everywhere a checkpoint is read:
* Lightning training checkpoints (`best.ckpt`, `last.ckpt`): weights, optimiser state, and the module's
  hyper-parameters (model architecture, task, target names and scaling, featurizer and package versions);
* compact inference checkpoints written by `MoleculeModel.save`: the model's hyper-parameters and weights
  only (what `predict` and `export` need; a fraction of the size).
"""

from __future__ import annotations

from pathlib import Path

from graphormer.errors import CheckpointError
from graphormer.model.molecule import INFERENCE_FORMAT, MoleculeModel, read_checkpoint

__all__ = ["INFERENCE_FORMAT", "CheckpointError", "load_model", "load_module", "read_checkpoint",
           "save_inference_checkpoint"]


def load_model(path: str | Path, **overrides) -> MoleculeModel:
    """The MoleculeModel stored in a training or inference checkpoint (eval mode, on CPU)."""
    return MoleculeModel.load(path, **overrides)


load_module = load_model  # the earlier name


def save_inference_checkpoint(model: MoleculeModel, path: str | Path) -> Path:
    """Weights and hyper-parameters only, written atomically (`model.save(path)`)."""
    return model.save(path)
