"""PyG interop: OGB-featurized `torch_geometric` graphs in, the model's padded batch out.

    from graphormer.data.pyg import pyg_batch
    batch = pyg_batch(pyg_data_or_batch, max_hops=model.max_hops)   # Data, Batch or a list of Data
    predictions = model.predict(batch)                              # a MoleculeModel, original units

What `ogb.utils.smiles2graph` + `Data(...)` or `PygGraphPropPredDataset` give is accepted: integer `x` [n, 9]
and `edge_attr` [e, 3] in OGB's vocabularies, `edge_index` [2, e] with both directions of every bond. PyG's own
molecular datasets (`ZINC`, `QM9`, `from_smiles`) use other features: re-featurize their SMILES with
`graphormer.chem.smiles_to_graph`. Float features, other widths and codes outside OGB's vocabularies are refused
with the reason; `from_smiles` codes of many molecules fall inside OGB's ranges and cannot be detected.
A graph with no atoms, or more than the model encodes (MAX_ATOMS), is refused too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from graphormer.chem import MolGraph
from graphormer.chem.featurize import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS
from graphormer.data.collate import Collater
from graphormer.errors import DataError
from graphormer.graph import MAX_ATOMS

_REFEATURIZE = ("graphormer reads OGB-featurized graphs (ogb.utils.smiles2graph, PygGraphPropPredDataset); "
                "re-featurize the SMILES with graphormer.chem.smiles_to_graph")


def _codes(tensor: torch.Tensor | None, dims: Sequence[int], what: str, rows: int | None = None) -> np.ndarray:
    """An OGB feature matrix as uint8, checked against the vocabulary sizes."""
    if tensor is None:
        if rows == 0:
            return np.zeros((0, len(dims)), dtype=np.uint8)
        raise DataError(f"the graph has no {what}: {_REFEATURIZE}")
    if tensor.is_floating_point() or tensor.dim() != 2 or tensor.shape[1] != len(dims):
        raise DataError(f"{what} is {tuple(tensor.shape)} {tensor.dtype}, not OGB's integer [*, {len(dims)}] "
                        f"features: {_REFEATURIZE}")
    values = tensor.detach().cpu().numpy()
    limits = np.asarray(dims)
    if values.size and ((values < 0).any() or (values >= limits).any()):
        column = int(np.flatnonzero(((values < 0) | (values >= limits)).any(axis=0))[0])
        raise DataError(f"{what} column {column} holds values outside OGB's vocabulary "
                        f"(0..{dims[column] - 1}): {_REFEATURIZE}")
    return values.astype(np.uint8)


def pyg_to_graph(data) -> MolGraph:
    """One PyG `Data` with OGB features as the package's `MolGraph`."""
    x = _codes(getattr(data, "x", None), ATOM_FEATURE_DIMS, "x (atom features)")
    edge_index = data.edge_index.detach().cpu().numpy().astype(np.int64) if data.edge_index is not None \
        else np.zeros((2, 0), dtype=np.int64)
    edge_attr = _codes(getattr(data, "edge_attr", None), BOND_FEATURE_DIMS, "edge_attr (bond features)",
                       rows=edge_index.shape[1])
    if edge_attr.shape[0] != edge_index.shape[1]:
        raise DataError(f"edge_attr has {edge_attr.shape[0]} rows for {edge_index.shape[1]} edges")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= x.shape[0]):
        raise DataError(f"edge_index refers to atoms outside 0..{x.shape[0] - 1}")
    return MolGraph(x, edge_index, edge_attr)


def pyg_to_graphs(data) -> list[MolGraph]:
    """A `Batch`, a single `Data`, or a dataset / list of `Data` (e.g. `PygGraphPropPredDataset` or a slice of
    it) as a list of `MolGraph`s, in order."""
    from torch_geometric.data import Batch, Data

    if isinstance(data, Batch):
        items = data.to_data_list()
    elif isinstance(data, Data):
        items = [data]
    else:
        items = [data[i] for i in range(len(data))]
    graphs = []
    for i, item in enumerate(items):
        graph = pyg_to_graph(item)
        if not 0 < graph.num_nodes <= MAX_ATOMS:
            raise DataError(f"graph {i} has {graph.num_nodes} atoms: the model encodes 1 to {MAX_ATOMS}")
        graphs.append(graph)
    return graphs


def pyg_batch(data, max_hops: int = 5) -> dict[str, torch.Tensor]:
    """The padded batch (`Collater`'s tensors, no targets) for PyG graphs with OGB features."""
    graphs = pyg_to_graphs(data)
    if not graphs:
        raise DataError("no graphs to batch")
    return Collater(max_hops=max_hops)([(g, None) for g in graphs])
