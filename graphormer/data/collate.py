"""Padded, model-ready batches from featurized molecules (the Batch contract in docs/architecture.md)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from graphormer.chem import MolGraph
from graphormer.data.store import GraphStore
from graphormer.graph import dense_bond_codes, shortest_path_inputs
from graphormer.graph.packing import TokenLayout


class GraphDataset(Dataset):
    """Graphs of a GraphStore with their targets (float32 [M, C], NaN = missing), optional per-molecule
    loss weights (data.weight_column) and optional per-molecule model inputs (`extra` [M, E], e.g. scaled
    RDKit descriptors for model.extra_features)."""

    def __init__(self, store: GraphStore, targets: np.ndarray | None = None, weights: np.ndarray | None = None,
                 extra: np.ndarray | None = None):
        self.store = store
        self.targets = None if targets is None else np.asarray(targets, dtype=np.float32)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float32)
        self.extra = None if extra is None else np.asarray(extra, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.store)

    @property
    def sizes(self) -> np.ndarray:
        return self.store.num_nodes

    def __getitem__(self, i: int) -> tuple:
        y = None if self.targets is None else self.targets[i]
        weight = None if self.weights is None else self.weights[i]
        if self.extra is not None:
            return self.store.graph(i), y, weight, self.extra[i]
        if weight is None:
            return self.store.graph(i), y
        return self.store.graph(i), y, weight


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


class Collater:
    """Pads a list of (MolGraph, y) into the batch tensors the model consumes.

    `pad_nodes_to` rounds the padded atom count up (e.g. to 16) so compiled models see few shapes.
    `layout`: also ship the batch's TokenLayout (`batch["layout"]`), built here on the CPU so the model's
    forward on a GPU never waits for the host. `spd` is int16 and `path` uint8 (their ranges: -1..510 and
    0..61), a quarter and an eighth of the int64 bytes copied to the device; the model widens them itself.
    """

    def __init__(self, max_hops: int = 5, legacy_drop_node0: bool = False, pad_nodes_to: int = 1,
                 layout: bool = True):
        self.max_hops = max_hops
        self.legacy_drop_node0 = legacy_drop_node0
        self.pad_nodes_to = pad_nodes_to
        self.layout = layout

    def __call__(self, items: Sequence[tuple]) -> dict[str, torch.Tensor]:
        """items: (graph, targets or None[, weight or None[, extra inputs]])."""
        graphs = [item[0] for item in items]
        sizes = np.array([g.x.shape[0] for g in graphs], dtype=np.int64)
        batch, width = len(graphs), _round_up(max(int(sizes.max()), 1), self.pad_nodes_to)

        # Position of every atom in the padded [B, N] grid.
        graph_of_node = np.repeat(np.arange(batch), sizes)
        slot_of_node = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        x = np.zeros((batch, width, 9), dtype=np.int64)
        x[graph_of_node, slot_of_node] = np.concatenate([g.x for g in graphs])

        # Dense bond-code matrix: 0 = no bond, 1..60 = combined OGB bond type.
        node_offset = np.repeat(np.cumsum(sizes) - sizes, [g.edge_attr.shape[0] for g in graphs])
        edge_index = np.concatenate([g.edge_index for g in graphs], axis=1) + node_offset
        edge_attr = np.concatenate([g.edge_attr for g in graphs])
        ptr = np.concatenate([[0], np.cumsum(sizes)])
        codes_t = dense_bond_codes(edge_index, edge_attr, ptr, max_nodes=width)
        num_nodes = torch.from_numpy(sizes)
        spd, path = shortest_path_inputs(codes_t, num_nodes, self.max_hops, legacy_drop_node0=self.legacy_drop_node0)
        node_mask = torch.arange(width)[None, :] < num_nodes[:, None]
        out = {
            "x": torch.from_numpy(x),
            "node_mask": node_mask,
            "degree": (codes_t > 0).sum(-1),
            "spd": spd.to(torch.int16),
            "path": path.to(torch.uint8),
        }
        if self.layout:
            out["layout"] = TokenLayout.from_sizes(sizes, width)
        if items[0][1] is not None:
            out["y"] = torch.from_numpy(np.stack([item[1] for item in items]).astype(np.float32))
        if len(items[0]) > 2 and items[0][2] is not None:
            out["weight"] = torch.tensor([float(item[2]) for item in items], dtype=torch.float32)
        if len(items[0]) > 3:
            out["extra"] = torch.from_numpy(np.stack([item[3] for item in items]).astype(np.float32))
        return out
