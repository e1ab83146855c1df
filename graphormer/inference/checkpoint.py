"""Loading and saving self-describing checkpoints.

Two formats are accepted everywhere a checkpoint is read:
* Lightning training checkpoints (`best.ckpt`, `last.ckpt`): weights, optimiser state, and the module's
  hyper-parameters (model architecture, task, target names and scaling, featurizer and package versions);
* compact inference checkpoints written by `save_inference_checkpoint`: the same hyper-parameters and
  weights only (what `predict` and `export` need; a fraction of the size).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from graphormer import __version__
from graphormer.chem import FEATURIZER_VERSION

INFERENCE_FORMAT = "graphormer-inference-v1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, truncated or from an incompatible version."""


def _major(version: str) -> str:
    return version.split(".")[0]


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, with a clear error for missing, truncated or foreign files."""
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


def load_module(path: str | Path, **overrides):
    """Rebuild the GraphormerModule stored in a checkpoint (eval mode, on CPU)."""
    from graphormer.train.module import GraphormerModule

    ckpt = read_checkpoint(path)
    hparams = dict(ckpt.get("hyper_parameters") or ckpt["hparams"])
    hparams.update(overrides)
    module = GraphormerModule(**hparams)
    state = {k.replace("model._orig_mod.", "model."): v for k, v in ckpt["state_dict"].items()}
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the stored architecture ({err})") from None
    return module.eval()


def save_inference_checkpoint(module, path: str | Path) -> Path:
    """Weights and hyper-parameters only, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": INFERENCE_FORMAT, "hparams": dict(module.hparams), "state_dict": module.state_dict()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
