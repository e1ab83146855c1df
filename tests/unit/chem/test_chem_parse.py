"""parse_smiles / smiles_to_graph: typed errors with useful reasons, and quiet RDKit logging."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from rdkit import Chem, rdBase

from graphormer.chem import MoleculeError, MolGraph, parse_smiles, quiet_rdkit, smiles_to_graph

BAD_INPUTS = [
    ("", "empty"),
    ("   ", "empty"),
    (None, "string"),
    (42, "string"),
    (b"CCO", "string"),
    ("C1CC", "unclosed ring"),
    ("not a smiles", "unparsable"),
    ("CC(", "unparsable"),
    ("C(C)(C)(C)(C)C", "valence"),
    ("CN(C)(C)(C)C", "valence"),
    ("c1cccc1", "kekuliz"),
    # RDKit alone would read a prefix of these (ethane, ethanol) without a word
    ("CC O", "would read only 'CC'"),
    ("CC\tO", "whitespace at position 3"),
    ("CCO ethanol", "would read only 'CCO'"),
    ("CCÖ", "non-ASCII character 'Ö' at position 3"),
    ("C\u00a0CO", "non-ASCII"),  # a no-break space pasted from a web page
]


@pytest.mark.parametrize("smiles,word", BAD_INPUTS)
def test_bad_input_raises_typed_error_with_reason(smiles, word):
    for parse in (parse_smiles, smiles_to_graph):
        with pytest.raises(MoleculeError) as info:
            parse(smiles)
        assert word in info.value.reason
        assert info.value.smiles is smiles
        assert isinstance(info.value, ValueError)


def test_reasons_quote_rdkit():
    with pytest.raises(MoleculeError) as info:
        parse_smiles("C(C)(C)(C)(C)C")
    assert info.value.reason == "valence error: Explicit valence for atom # 0 C, 5, is greater than permitted"
    with pytest.raises(MoleculeError) as info:
        parse_smiles("C1CC")
    assert info.value.reason.startswith("unparsable SMILES: ")


def test_molecule_error_pickles():
    error = MoleculeError("C1CC", "unparsable SMILES: unclosed ring")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.smiles, clone.reason, str(clone)) == (error.smiles, error.reason, str(error))


def test_single_atom():
    graph = smiles_to_graph("C")
    assert graph.num_nodes == 1
    assert graph.x.shape == (1, 9) and graph.x.dtype == np.uint8
    assert graph.edge_index.shape == (2, 0) and graph.edge_index.dtype == np.int64
    assert graph.edge_attr.shape == (0, 3) and graph.edge_attr.dtype == np.uint8
    # carbon, no chirality, degree 4, charge 0, 4 Hs, no radical, SP3, not aromatic, not in ring
    assert graph.x.tolist() == [[5, 0, 4, 5, 4, 0, 2, 0, 0]]


def test_noble_gas_and_disconnected_salt():
    assert smiles_to_graph("[Xe]").num_nodes == 1
    salt = smiles_to_graph("[Na+].[Cl-]")
    assert salt.num_nodes == 2 and salt.edge_index.shape == (2, 0)
    assert salt.x[:, 3].tolist() == [6, 4]  # formal charge +1, -1


def test_isotopes_charges_radicals():
    assert smiles_to_graph("[13CH4]").x[0, 4] == 4  # isotope label does not change the H count
    assert smiles_to_graph("[NH4+]").x[0].tolist()[3:5] == [6, 4]
    assert smiles_to_graph("[O-]C(=O)C").x[0, 3] == 4
    assert smiles_to_graph("[CH3]").x[0, 5] == 1  # one radical electron
    assert smiles_to_graph("[CH]").x[0, 5] == 3


def test_outer_whitespace_is_ignored_and_cxsmiles_extensions_are_read():
    plain = smiles_to_graph("CCO")
    for text in ("  CCO\n", "\tCCO "):
        assert all(np.array_equal(a, b) for a, b in zip(smiles_to_graph(text), plain))
    assert parse_smiles("C[C@H](F)Cl |&1:1|").GetNumAtoms() == 4


def test_molgraph_is_a_named_tuple():
    x, edge_index, edge_attr = smiles_to_graph("CC=O")
    graph = MolGraph(x, edge_index, edge_attr)
    assert graph.num_nodes == 3
    assert edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]


def test_parse_failures_are_silent_and_restore_logging(capfd):
    before = rdBase.LogStatus()
    for smiles, _ in BAD_INPUTS:
        with pytest.raises(MoleculeError):
            parse_smiles(smiles)
    parse_smiles("[H]")  # RDKit warns "not removing hydrogen atom without neighbors"
    assert capfd.readouterr().err == ""
    assert rdBase.LogStatus() == before
    # RDKit logging itself still works afterwards.
    Chem.MolFromSmiles("C1CC")
    assert "unclosed ring" in capfd.readouterr().err


def test_quiet_rdkit_block_nests_and_restores(capfd):
    before = rdBase.LogStatus()
    with quiet_rdkit():
        with quiet_rdkit():
            with pytest.raises(MoleculeError, match="unclosed ring"):
                parse_smiles("C1CC")
        Chem.MolFromSmiles("C1CC")
        assert smiles_to_graph("CCO").num_nodes == 3
    assert capfd.readouterr().err == ""
    assert rdBase.LogStatus() == before
