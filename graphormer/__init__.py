"""Graphormer graph transformers for molecular property prediction."""

__version__ = "0.1.0"
# What a model predicts: independent regression targets, independent binary targets, or one target of
# `num_classes` classes. Shared by the data tables, the model object and the converters.
TASKS = ("regression", "classification", "multiclass")
