"""allow_valence_errors: the benchmark policy for hypervalent complexes current RDKit rejects."""
from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem, rdBase

from graphormer.chem import ATOM_FEATURE_DIMS, MoleculeError, parse_smiles, smiles_to_graph

# Rows of the shared mapping files that RDKit 2026.09 rejects strictly (hypervalent Al, B, Ge).
HIV_VALENCE_ROWS = [137, 987, 12882, 18293, 30784, 30785, 35728]
TOX21_VALENCE_ROWS = [1322, 2290, 2297, 3558, 4565, 4649, 5538, 6723]


def _assert_rescued(smiles: str) -> None:
    with pytest.raises(MoleculeError) as info:
        smiles_to_graph(smiles)
    assert "valence" in info.value.reason
    graph = smiles_to_graph(smiles, allow_valence_errors=True)
    assert graph.num_nodes == parse_smiles(smiles, allow_valence_errors=True).GetNumAtoms() > 0
    assert graph.edge_index.shape[1] == graph.edge_attr.shape[0] > 0
    assert (graph.x < np.array(ATOM_FEATURE_DIMS)).all()


@pytest.mark.parametrize("smiles", ["F[B-](F)(F)(F)F", "C(C)(C)(C)(C)C", "CN(C)(C)(C)C", "O=C1O[Al]23(OC1=O)(OC(=O)C(=O)O2)OC(=O)C(=O)O3"])
def test_valence_only_failures_are_rescued(smiles):
    _assert_rescued(smiles)


def test_other_sanitization_failures_still_raise():
    with pytest.raises(MoleculeError, match="kekuliz"):
        smiles_to_graph("c1cccc1", allow_valence_errors=True)
    with pytest.raises(MoleculeError, match="unparsable"):
        smiles_to_graph("C1CC", allow_valence_errors=True)


def test_valid_molecules_unaffected_by_the_flag():
    for smiles in ("CCO", "c1ccccc1O", "C[C@@H](N)C(=O)O", "F/C=C/F"):
        strict, lenient = smiles_to_graph(smiles), smiles_to_graph(smiles, allow_valence_errors=True)
        assert all(np.array_equal(a, b) for a, b in zip(strict, lenient))


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "folder,rows", [("ogbg_molhiv", HIV_VALENCE_ROWS), ("ogbg_moltox21", TOX21_VALENCE_ROWS)]
)
def test_benchmark_molecules_failing_strict_parse(shared_data, read_csv_column, folder, rows):
    smiles = read_csv_column(shared_data / folder / "mapping" / "mol.csv.gz", "smiles", max(rows) + 1)
    for row in rows:
        _assert_rescued(smiles[row])


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize(
    "folder,rows", [("ogbg_molhiv", HIV_VALENCE_ROWS), ("ogbg_moltox21", TOX21_VALENCE_ROWS)]
)
def test_only_those_rows_fail_strict_parse(shared_data, read_csv_column, folder, rows):
    smiles = read_csv_column(shared_data / folder / "mapping" / "mol.csv.gz", "smiles")
    with rdBase.BlockLogs():
        failing = [i for i, s in enumerate(smiles) if Chem.MolFromSmiles(s) is None]
    assert failing == rows
