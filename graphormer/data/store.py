"""Compact storage of many featurized molecules: concatenated small-integer arrays plus offsets.

One molecule costs 9 bytes per atom and 3 bytes + 2 int16 per directed bond, so millions of molecules
fit in memory, pickle cheaply to data-loader workers and load from disk without any RDKit work.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from graphormer.chem import MolGraph


@dataclass
class GraphStore:
    x: np.ndarray  # uint8 [total_atoms, 9]
    edge_index: np.ndarray  # int16 [2, total_edges], indices local to each molecule
    edge_attr: np.ndarray  # uint8 [total_edges, 3]
    node_ptr: np.ndarray  # int64 [M + 1]
    edge_ptr: np.ndarray  # int64 [M + 1]

    def __len__(self) -> int:
        return len(self.node_ptr) - 1

    @property
    def num_nodes(self) -> np.ndarray:
        return np.diff(self.node_ptr)

    def graph(self, i: int) -> MolGraph:
        n0, n1 = self.node_ptr[i], self.node_ptr[i + 1]
        e0, e1 = self.edge_ptr[i], self.edge_ptr[i + 1]
        return MolGraph(self.x[n0:n1], self.edge_index[:, e0:e1].astype(np.int64), self.edge_attr[e0:e1])

    @classmethod
    def from_graphs(cls, graphs: Iterable[MolGraph]) -> "GraphStore":
        graphs = list(graphs)
        nodes = np.fromiter((g.x.shape[0] for g in graphs), dtype=np.int64, count=len(graphs))
        edges = np.fromiter((g.edge_attr.shape[0] for g in graphs), dtype=np.int64, count=len(graphs))
        if nodes.size and nodes.max() > np.iinfo(np.int16).max:
            raise ValueError("molecules with more than 32767 atoms are not supported")
        cat = lambda arrays, shape: np.concatenate(arrays) if arrays else np.zeros(shape, np.uint8)  # noqa: E731
        return cls(
            x=cat([g.x for g in graphs], (0, 9)).astype(np.uint8),
            edge_index=(np.concatenate([g.edge_index for g in graphs], axis=1) if graphs else np.zeros((2, 0))).astype(np.int16),
            edge_attr=cat([g.edge_attr for g in graphs], (0, 3)).astype(np.uint8),
            node_ptr=np.concatenate([[0], np.cumsum(nodes)]).astype(np.int64),
            edge_ptr=np.concatenate([[0], np.cumsum(edges)]).astype(np.int64),
        )

    def select(self, indices: np.ndarray) -> "GraphStore":
        return GraphStore.from_graphs(self.graph(int(i)) for i in indices)

    def save(self, path: str | Path, **extra: np.ndarray) -> None:
        """Write atomically: a reader never sees a half-written file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, x=self.x, edge_index=self.edge_index, edge_attr=self.edge_attr,
                         node_ptr=self.node_ptr, edge_ptr=self.edge_ptr, **extra)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> tuple["GraphStore", dict[str, np.ndarray]]:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        store = cls(**{k: arrays.pop(k) for k in ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr")})
        return store, arrays
