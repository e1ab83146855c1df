"""Graph preprocessing: shortest-path distances and reference-faithful path bond codes (vectorised)."""

from graphormer.graph.spatial import (
    BOND_STRIDES,
    MAX_ATOMS,
    NO_HOP,
    NON_BOND,
    NUM_BOND_CODES,
    NUM_PATH_CODES,
    UNREACHABLE,
    bond_code,
    dense_bond_codes,
    shortest_path_inputs,
)

__all__ = [
    "BOND_STRIDES",
    "MAX_ATOMS",
    "NO_HOP",
    "NON_BOND",
    "NUM_BOND_CODES",
    "NUM_PATH_CODES",
    "UNREACHABLE",
    "bond_code",
    "dense_bond_codes",
    "shortest_path_inputs",
]
