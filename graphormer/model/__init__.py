"""Graphormer model: embeddings, attention bias, biased attention backends, layers, the model."""

from graphormer.model.attention import BACKENDS, biased_attention, resolve_backend
from graphormer.model.bias import AttentionBias
from graphormer.model.embedding import NodeEmbedding
from graphormer.model.graphormer import Graphormer, apply_graphormer_init
from graphormer.model.layers import EncoderLayer, MultiheadAttention
from graphormer.model.molecule import MODEL_INPUTS, MoleculeModel, model_inputs
from graphormer.model.presets import BASE, LARGE, PRESETS, SLIM, count_parameters

__all__ = [
    "BACKENDS", "BASE", "LARGE", "MODEL_INPUTS", "PRESETS", "SLIM", "AttentionBias", "EncoderLayer", "Graphormer",
    "MoleculeModel", "MultiheadAttention", "NodeEmbedding", "apply_graphormer_init", "biased_attention",
    "count_parameters", "model_inputs", "resolve_backend",
]
