"""PyG interop: OGB-featurized PyG graphs give exactly the native collater's batch and predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ogb.utils import smiles2graph
from torch_geometric.data import Batch, Data

from graphormer.chem import smiles_to_graph
from graphormer.data.collate import Collater
from graphormer.data.pyg import pyg_batch, pyg_to_graphs
from graphormer.errors import DataError
from graphormer.inference import Predictor
from graphormer.model.molecule import MoleculeModel

SMILES = ["CCO", "c1ccccc1O", "C[C@H](N)C(=O)O", "[Na+].[Cl-]", "O=[N+]([O-])c1ccc(Br)cc1C#N", "C"]


def _ogb_data(smiles: str) -> Data:
    """What a PyG user has: OGB's smiles2graph wrapped in a Data."""
    g = smiles2graph(smiles)
    return Data(x=torch.from_numpy(g["node_feat"]), edge_index=torch.from_numpy(g["edge_index"]),
                edge_attr=torch.from_numpy(g["edge_feat"]), num_nodes=g["num_nodes"])


@pytest.fixture(scope="module")
def model() -> MoleculeModel:
    torch.manual_seed(0)
    model = MoleculeModel(dict(num_layers=2, embed_dim=16, ffn_dim=16, num_heads=2, max_hops=5),
                          target_names=["a", "b"], target_mean=[1.0, -2.0], target_std=[3.0, 0.5])
    return model.eval()


def test_batch_equals_native_collater():
    native = Collater(max_hops=5)([(smiles_to_graph(s), None) for s in SMILES])
    converted = pyg_batch(Batch.from_data_list([_ogb_data(s) for s in SMILES]), max_hops=5)
    assert converted.keys() == native.keys()
    for key in native:
        if torch.is_tensor(native[key]):
            assert converted[key].dtype == native[key].dtype, key
            assert torch.equal(converted[key], native[key]), key
        else:  # the packed-token layout: NamedTuples of tensors and ints
            assert _flat(converted[key]) == _flat(native[key]), key


def _flat(value) -> list:
    if torch.is_tensor(value):
        return [value.tolist()]
    if isinstance(value, (tuple, list)):
        return [x for item in value for x in _flat(item)]
    return [value]


def test_data_list_and_single_data():
    data = [_ogb_data(s) for s in SMILES]
    assert len(pyg_to_graphs(data)) == len(SMILES)
    (graph,) = pyg_to_graphs(data[1])
    native = smiles_to_graph(SMILES[1])
    assert np.array_equal(graph.x, native.x) and np.array_equal(graph.edge_attr, native.edge_attr)


def test_predictions_match_the_native_path(model):
    native = Predictor([model]).predict_smiles(SMILES).mean
    pyg = Predictor([model]).predict_pyg(Batch.from_data_list([_ogb_data(s) for s in SMILES]))[0]
    np.testing.assert_allclose(pyg, native, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        direct = model.predict(pyg_batch([_ogb_data(s) for s in SMILES], model.max_hops)).numpy()
    np.testing.assert_allclose(direct, native, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("x, reason", [
    (torch.rand(3, 11), "not OGB's integer"),                       # QM9-style float features
    (torch.tensor([[6], [6], [8]]), "not OGB's integer"),           # ZINC: one atom-type column
    (torch.tensor([[200, 0, 0, 0, 0, 0, 0, 0, 0]] * 3), "column 0 holds values outside"),
])
def test_other_vocabularies_are_refused(x, reason):
    data = Data(x=x, edge_index=torch.tensor([[0, 1], [1, 0]]), edge_attr=torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(DataError, match=reason):
        pyg_batch(data)


def test_datasets_and_slices_are_lists_of_graphs(model):
    from torch_geometric.data import InMemoryDataset

    class Molecules(InMemoryDataset):
        def __init__(self, items):
            super().__init__()
            self.data, self.slices = self.collate(items)

    dataset = Molecules([_ogb_data(s) for s in SMILES])
    assert [g.num_nodes for g in pyg_to_graphs(dataset)] == [smiles_to_graph(s).num_nodes for s in SMILES]
    assert len(pyg_to_graphs(dataset[:2])) == 2
    native = Predictor([model]).predict_smiles(SMILES).mean
    np.testing.assert_allclose(Predictor([model]).predict_pyg(dataset)[0], native, rtol=1e-5, atol=1e-6)


def test_empty_graph_is_refused():
    empty = Data(x=torch.zeros(0, 9, dtype=torch.long), edge_index=torch.zeros(2, 0, dtype=torch.long),
                 edge_attr=torch.zeros(0, 3, dtype=torch.long))
    with pytest.raises(DataError, match="graph 1 has 0 atoms"):
        pyg_to_graphs([_ogb_data("CCO"), empty])
