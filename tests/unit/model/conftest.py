"""Model-test inputs: real molecules (ogb.utils.smiles2graph) padded into the Batch layout of
docs/architecture.md, with a tiny self-contained Floyd–Warshall for spd and path bond codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

UNREACHABLE = 510

# Mixed sizes: a single atom, a salt (unreachable pairs), rings, a fused bicycle, a 20+ atom drug.
SMILES = [
    "CCO",
    "C",
    "c1ccccc1O",
    "CC(=O)[O-].[Na+]",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "C1=CCCCC1",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "O=C(O)c1ccccc1-c1ccccc1N",
]


def bond_code(edge_attr: np.ndarray) -> np.ndarray:
    t = edge_attr.astype(np.int64)
    return 1 + t[:, 0] * 12 + t[:, 1] * 2 + t[:, 2]


def graph_spd_path(graph: dict, max_hops: int) -> tuple[np.ndarray, np.ndarray]:
    """spd [n, n] (510 unreachable) and path codes [n, n, max_hops] along *a* shortest path."""
    n = graph["num_nodes"]
    code = np.zeros((n, n), dtype=np.int64)
    src, dst = graph["edge_index"]
    code[src, dst] = bond_code(graph["edge_feat"])
    dist = np.full((n, n), UNREACHABLE, dtype=np.int64)
    nxt = np.full((n, n), -1, dtype=np.int64)
    dist[src, dst] = 1
    nxt[src, dst] = dst
    np.fill_diagonal(dist, 0)
    for k in range(n):
        for i in range(n):
            for j in range(n):
                if dist[i, k] + dist[k, j] < dist[i, j]:
                    dist[i, j] = dist[i, k] + dist[k, j]
                    nxt[i, j] = nxt[i, k]
    path = np.zeros((n, n, max_hops), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if i == j or dist[i, j] >= UNREACHABLE:
                continue
            a = i
            for h in range(min(dist[i, j], max_hops)):
                b = nxt[a, j]
                path[i, j, h] = code[a, b]
                a = b
    return dist, path


def featurize(smiles: str, max_hops: int) -> dict:
    from ogb.utils import smiles2graph

    g = smiles2graph(smiles)
    spd, path = graph_spd_path(g, max_hops)
    n = g["num_nodes"]
    adj = np.zeros((n, n), dtype=bool)
    adj[g["edge_index"][0], g["edge_index"][1]] = True
    return dict(x=g["node_feat"].astype(np.int64), degree=adj.sum(1), spd=spd, path=path)


def collate(items: list[dict], max_hops: int, generator: torch.Generator | None = None) -> dict:
    """Pad to the batch max; padding rows of x hold garbage on purpose (the model must ignore them)."""
    B, N = len(items), max(len(it["x"]) for it in items)
    g = generator or torch.Generator().manual_seed(0)
    x = torch.randint(0, 100, (B, N, 9), generator=g)
    node_mask = torch.zeros(B, N, dtype=torch.bool)
    degree = torch.zeros(B, N, dtype=torch.long)
    spd = torch.full((B, N, N), -1, dtype=torch.long)
    path = torch.zeros(B, N, N, max_hops, dtype=torch.long)
    for b, it in enumerate(items):
        n = len(it["x"])
        x[b, :n] = torch.as_tensor(it["x"])
        node_mask[b, :n] = True
        degree[b, :n] = torch.as_tensor(it["degree"])
        spd[b, :n, :n] = torch.as_tensor(it["spd"])
        path[b, :n, :n] = torch.as_tensor(it["path"])
    return dict(x=x, node_mask=node_mask, degree=degree, spd=spd, path=path)


@pytest.fixture(scope="session")
def molecules():
    """Featurized SMILES (5 hops), computed once per session."""
    return [featurize(s, 5) for s in SMILES]


@pytest.fixture(scope="session")
def make_batch(molecules):
    def make(indices=None, max_hops=5):
        items = molecules if indices is None else [molecules[i] for i in indices]
        items = [dict(it, path=it["path"][..., :max_hops]) for it in items]
        return collate(items, max_hops)
    return make


@pytest.fixture(autouse=True)
def one_thread():
    """Model tests use tiny tensors: a second OpenMP thread only adds contention on a shared box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
