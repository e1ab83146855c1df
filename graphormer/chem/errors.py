"""Typed error for molecules that cannot be turned into a graph (defined in `graphormer.errors`)."""

from graphormer.errors import MoleculeError

__all__ = ["MoleculeError"]
