"""After training: load checkpoints, predict, embed, export, import reference weights.

Depends on model/data/chem only: never on `graphormer.train` or Lightning.
"""

from graphormer.errors import CheckpointError
from graphormer.inference.checkpoint import load_model, load_module, save_inference_checkpoint
from graphormer.inference.predictor import Predictions, Predictor, predict_file
from graphormer.model.molecule import MoleculeModel

__all__ = ["CheckpointError", "MoleculeModel", "Predictions", "Predictor", "load_model", "load_module",
           "predict_file", "save_inference_checkpoint"]
