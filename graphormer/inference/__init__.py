"""After training: load checkpoints, predict, embed, export, import reference weights."""

from graphormer.inference.checkpoint import CheckpointError, load_module, save_inference_checkpoint
from graphormer.inference.predictor import Predictions, Predictor, predict_file

__all__ = ["CheckpointError", "Predictions", "Predictor", "load_module", "predict_file", "save_inference_checkpoint"]
