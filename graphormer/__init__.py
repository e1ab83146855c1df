"""Graphormer graph transformers for molecular property prediction."""

__version__ = "0.1.0"
