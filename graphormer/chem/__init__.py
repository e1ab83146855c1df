"""RDKit parsing with typed errors, OGB-compatible featurisation and Murcko scaffolds."""
from graphormer.chem.errors import MoleculeError
from graphormer.chem.featurize import (
    ATOM_FEATURE_DIMS,
    BOND_FEATURE_DIMS,
    FEATURIZER_VERSION,
    MolGraph,
    mol_to_graph,
    smiles_to_graph,
)
from graphormer.chem.parse import PARSER_VERSION, parse_smiles, quiet_rdkit
from graphormer.chem.scaffold import murcko_scaffold, scaffold_split

__all__ = [
    "ATOM_FEATURE_DIMS",
    "BOND_FEATURE_DIMS",
    "FEATURIZER_VERSION",
    "MoleculeError",
    "MolGraph",
    "PARSER_VERSION",
    "mol_to_graph",
    "murcko_scaffold",
    "parse_smiles",
    "quiet_rdkit",
    "scaffold_split",
    "smiles_to_graph",
]
