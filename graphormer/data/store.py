"""Compact storage of many featurized molecules: concatenated small-integer arrays plus offsets.

One molecule costs 9 bytes per atom and 3 bytes + 2 int16 per directed bond, so millions of molecules
fit in memory, pickle cheaply to data-loader workers and load from disk without any RDKit work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from graphormer.chem import MolGraph
from graphormer.files import atomic_write


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
        """The molecules at `indices`, in that order (vectorised: no per-molecule Python loop)."""
        indices = np.asarray(indices, dtype=np.int64)
        nodes = _gather(self.node_ptr, indices)
        edges = _gather(self.edge_ptr, indices)
        return GraphStore(x=self.x[nodes], edge_index=self.edge_index[:, edges], edge_attr=self.edge_attr[edges],
                          node_ptr=_ptr(np.diff(self.node_ptr)[indices]), edge_ptr=_ptr(np.diff(self.edge_ptr)[indices]))

    @classmethod
    def concat(cls, stores: Iterable["GraphStore"]) -> "GraphStore":
        stores = list(stores)
        if not stores:
            return cls.from_graphs([])
        return cls(x=np.concatenate([s.x for s in stores]),
                   edge_index=np.concatenate([s.edge_index for s in stores], axis=1),
                   edge_attr=np.concatenate([s.edge_attr for s in stores]),
                   node_ptr=_ptr(np.concatenate([np.diff(s.node_ptr) for s in stores])),
                   edge_ptr=_ptr(np.concatenate([np.diff(s.edge_ptr) for s in stores])))

    def validate(self) -> None:
        """Raise ValueError when the arrays are inconsistent (a damaged cache file)."""
        checks = [
            (self.x.ndim == 2 and self.x.shape[1] == 9, "x must be [atoms, 9]"),
            (self.edge_attr.ndim == 2 and self.edge_attr.shape[1] == 3, "edge_attr must be [edges, 3]"),
            (self.edge_index.ndim == 2 and self.edge_index.shape[0] == 2, "edge_index must be [2, edges]"),
            (self.edge_index.shape[1] == self.edge_attr.shape[0], "edge_index and edge_attr disagree"),
            (len(self.node_ptr) == len(self.edge_ptr) and len(self.node_ptr) >= 1, "pointer lengths differ"),
            (self.node_ptr[0] == 0 and self.node_ptr[-1] == len(self.x), "node pointers do not cover x"),
            (self.edge_ptr[0] == 0 and self.edge_ptr[-1] == self.edge_attr.shape[0], "edge pointers do not cover edges"),
            (bool((np.diff(self.node_ptr) > 0).all()) and bool((np.diff(self.edge_ptr) >= 0).all()),
             "pointers must increase"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ValueError(problem)
        if self.edge_index.size:
            local_max = np.maximum.reduceat(self.edge_index.max(axis=0), self.edge_ptr[:-1][np.diff(self.edge_ptr) > 0])
            if (local_max >= self.num_nodes[np.diff(self.edge_ptr) > 0]).any() or self.edge_index.min() < 0:
                raise ValueError("edge_index points outside its molecule")

    def save(self, path: str | Path, **extra: np.ndarray) -> None:
        """Write atomically: a reader never sees a half-written file."""
        with atomic_write(path) as handle:  # 0644: a shared cache must be readable by other users
            np.savez(handle, x=self.x, edge_index=self.edge_index, edge_attr=self.edge_attr,
                     node_ptr=self.node_ptr, edge_ptr=self.edge_ptr, **extra)

    @classmethod
    def load(cls, path: str | Path) -> tuple["GraphStore", dict[str, np.ndarray]]:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        store = cls(**{k: arrays.pop(k) for k in ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr")})
        return store, arrays


def _ptr(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _gather(ptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Flat positions of the slices ptr[i]:ptr[i+1] for every i in indices, concatenated."""
    starts, counts = ptr[indices], ptr[indices + 1] - ptr[indices]
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return offsets + np.arange(int(counts.sum()), dtype=np.int64)
