"""Features identical to ogb.utils.smiles2graph on thousands of real molecules."""
from __future__ import annotations

import numpy as np
import pytest
from ogb.utils import smiles2graph
from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims
from rdkit import Chem, rdBase

from graphormer.chem import (
    ATOM_FEATURE_DIMS,
    BOND_FEATURE_DIMS,
    MoleculeError,
    MolGraph,
    mol_to_graph,
    parse_smiles,
    smiles_to_graph,
)
from graphormer.chem.parse import _sanitize_without_valence


def _same(graph: MolGraph, reference: dict) -> bool:
    return (
        graph.x.dtype == np.uint8
        and graph.edge_index.dtype == np.int64
        and graph.edge_attr.dtype == np.uint8
        and graph.x.shape == reference["node_feat"].shape
        and graph.edge_index.shape == reference["edge_index"].shape
        and graph.edge_attr.shape == reference["edge_feat"].shape
        and np.array_equal(graph.x, reference["node_feat"])
        and np.array_equal(graph.edge_index, reference["edge_index"])
        and np.array_equal(graph.edge_attr, reference["edge_feat"])
        and graph.num_nodes == reference["num_nodes"]
    )


def compare_with_ogb(smiles_list: list[str]) -> tuple[int, int, list[str]]:
    """(compared, skipped, mismatching SMILES). Both our paths are checked: SMILES and Mol input.

    Molecules that strict RDKit parsing rejects are skipped: smiles2graph cannot featurise them.
    """
    compared, skipped, mismatches = 0, 0, []
    for smiles in smiles_list:
        with rdBase.BlockLogs():  # also keeps smiles2graph's RDKit warnings out of the output
            mol = Chem.MolFromSmiles(smiles)
            reference = smiles2graph(smiles) if mol is not None else None
        if mol is None:
            skipped += 1
            continue
        compared += 1
        if not (_same(smiles_to_graph(smiles), reference) and _same(mol_to_graph(mol), reference)):
            mismatches.append(smiles)
    return compared, skipped, mismatches


def _assert_parity(name: str, smiles_list: list[str], minimum: int) -> None:
    compared, skipped, mismatches = compare_with_ogb(smiles_list)
    summary = f"{name}: {compared} molecules compared, {compared - len(mismatches)} identical, {skipped} skipped"
    print(summary)
    assert not mismatches, f"{summary}; first mismatches: {mismatches[:5]}"
    assert compared >= minimum, summary


def test_feature_dims_match_ogb():
    assert ATOM_FEATURE_DIMS == get_atom_feature_dims()
    assert BOND_FEATURE_DIMS == get_bond_feature_dims()


def test_parity_rdkit_nci_set(nci_smiles):
    smiles = nci_smiles
    assert len(smiles) == 4999
    _assert_parity("NCI first_5k", smiles, minimum=4990)


# (dataset file, SMILES column, rows used, minimum compared). All rows where it is cheap;
# a prefix of the big sets keeps the default run fast.
SHARED_SETS = [
    ("ogbg_molesol/mapping/mol.csv.gz", "smiles", None, 1128),
    ("ogbg_molfreesolv/mapping/mol.csv.gz", "smiles", None, 642),
    ("ogbg_molbbbp/mapping/mol.csv.gz", "smiles", None, 2039),
    ("ogbg_molhiv/mapping/mol.csv.gz", "smiles", 2500, 2490),
    ("ogbg_moltox21/mapping/mol.csv.gz", "smiles", 1000, 990),
    ("zinc12k/smiles_score.csv.gz", "SMILES", 1500, 1500),
    # CXSMILES with explicit hydrogens and 3D coordinates: exercises the '|' path.
    ("pcqm4mv2/pcqm4mv2-2k.csv.gz", "smiles", 300, 300),
    ("qm9/qm9.csv.gz", "smiles", 500, 500),
]


@pytest.mark.shared_data
@pytest.mark.parametrize("relpath,column,limit,minimum", SHARED_SETS, ids=[s[0].split("/")[0] for s in SHARED_SETS])
def test_parity_shared_datasets(shared_data, read_csv_column, relpath, column, limit, minimum):
    smiles = read_csv_column(shared_data / relpath, column, limit)
    _assert_parity(relpath, smiles, minimum)


@pytest.mark.slow
@pytest.mark.shared_data
def test_parity_all_of_molhiv_and_zinc(shared_data, read_csv_column):
    for relpath, column in [("ogbg_molhiv/mapping/mol.csv.gz", "smiles"), ("zinc12k/smiles_score.csv.gz", "SMILES")]:
        _assert_parity(relpath, read_csv_column(shared_data / relpath, column), minimum=12000)


EXOTIC = [
    "C",  # one atom, no bonds
    "[Xe]",
    "*C",  # dummy atom: atomic number 0 -> 'misc'
    "[Og]",  # atomic number 118, the last in-vocabulary value
    "[Fe+6]",  # charge outside -5..5 -> 'misc'
    "[CH3]",  # radical
    "[CH2]",  # two radical electrons
    "[13CH4]",
    "[2H]C([2H])([2H])[2H]",  # explicit isotopic H atoms stay in the graph
    "[NH4+].[Cl-]",
    "[Na+].[Cl-]",
    "C[N+](C)(C)C",
    "CC(=O)[O-]",
    "[O-][n+]1ccccc1",
    "C=[N+]=[N-]",
    "F[Si-2](F)(F)(F)(F)F",  # degree 6, SP3D2
    "F[P-](F)(F)(F)(F)F",
    "FS(F)(F)(F)(F)F",
    "C[C@@H](O)F",
    "C[C@H](O)F",
    "F/C=C/F",
    "F/C=C\\F",
    "C1CC[C@H]2CCCC[C@@H]2C1",
    "c1ccccc1",
    "C1=CC=CC=C1",  # kekulé input, aromatised by RDKit
    "N#N",
    "O=C=O",
    "[NH3]->[Cu+2]",  # dative bond: bond type 'misc'
    "C[C@H](F)Cl |&1:1|",  # CXSMILES enhanced stereo
    "  CCO  ",
    "C[Si@](F)(Cl)Br",
    "[H][H]",
    "[H+]",
    "C1CC2CCC1CC2",
]


@pytest.mark.parametrize("smiles", EXOTIC)
def test_parity_exotic_molecules(smiles):
    compared, skipped, mismatches = compare_with_ogb([smiles])
    assert (compared, skipped, mismatches) == (1, 0, [])


def test_features_stay_inside_vocabularies():
    graphs = [smiles_to_graph(s) for s in EXOTIC]
    assert all((g.x < np.array(ATOM_FEATURE_DIMS)).all() for g in graphs)
    assert all((g.edge_attr < np.array(BOND_FEATURE_DIMS)).all() for g in graphs)


def test_atropisomer_stereo_maps_to_stereoany():
    # ogb's stereo list has no 'misc' slot and raises here; we use STEREOANY (5).
    mol = parse_smiles("Cc1cccc(C)c1-c1c(C)cccc1C")
    biaryl = next(b for b in mol.GetBonds() if not b.GetIsAromatic() and b.IsInRing() is False
                  and b.GetBeginAtom().GetIsAromatic() and b.GetEndAtom().GetIsAromatic())
    biaryl.SetStereo(Chem.BondStereo.STEREOATROPCW)
    graph = mol_to_graph(mol)
    k = biaryl.GetIdx()
    assert graph.edge_attr[2 * k, 1] == graph.edge_attr[2 * k + 1, 1] == 5


def test_chirality_beyond_tetrahedral_is_misc():
    mol = parse_smiles("C[Pt](Cl)(Cl)C")
    mol.GetAtomWithIdx(1).SetChiralTag(Chem.ChiralType.CHI_SQUAREPLANAR)
    assert mol_to_graph(mol).x[1, 1] == 4


def test_lenient_pipeline_matches_strict_parsing(nci_smiles):
    # allow_valence_errors re-runs strict parsing's steps minus the valence check; on molecules
    # that parse strictly this must give the very same graph, or rescued molecules would be
    # featurised differently from their neighbours.
    smiles_list = nci_smiles[:1500] + [s for s in EXOTIC if "Cu" not in s]
    mismatches = []
    for smiles in smiles_list:
        with rdBase.BlockLogs():
            strict = Chem.MolFromSmiles(smiles)
            raw = Chem.MolFromSmiles(smiles.strip(), sanitize=False)
        if strict is None:
            continue
        lenient = _sanitize_without_valence(smiles, raw)
        if not all(np.array_equal(a, b) for a, b in zip(mol_to_graph(strict), mol_to_graph(lenient))):
            mismatches.append(smiles)
    assert not mismatches, mismatches[:5]


def test_mol_to_graph_rejects_unsanitized_and_empty_molecules():
    with pytest.raises(MoleculeError, match="not sanitized"):
        mol_to_graph(Chem.MolFromSmiles("CCO", sanitize=False))
    with pytest.raises(MoleculeError, match="no atoms"):
        mol_to_graph(Chem.Mol())
    with pytest.raises(MoleculeError, match="no atoms"):
        mol_to_graph(None)
