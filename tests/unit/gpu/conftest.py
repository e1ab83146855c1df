"""The GPU path, proven on the CPU: real molecules through the real collater, and a host-sync counter."""

from __future__ import annotations

import contextlib

import pytest
import torch

from graphormer.chem import smiles_to_graph
from graphormer.data.collate import Collater

SMILES = ["CCO", "C", "c1ccccc1O", "CC(=O)[O-].[Na+]", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
          "C1=CCCCC1", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "O=C(O)c1ccccc1-c1ccccc1N"]
TINY = dict(num_layers=2, embed_dim=16, ffn_dim=16, num_heads=2)


def collate(smiles, targets=None, **kwargs):
    graphs = [smiles_to_graph(s) for s in smiles]
    ys = [None] * len(graphs) if targets is None else list(targets)
    return Collater(**kwargs)(list(zip(graphs, ys)))


@pytest.fixture
def batch():
    return collate(SMILES)


# Tensor methods that make the host wait for the device (on a GPU): reading values back to Python.
SYNCING = ("item", "tolist", "__bool__", "__int__", "__float__", "__index__", "nonzero", "numpy")


@contextlib.contextmanager
def count_host_syncs():
    """Counts calls that read device values back to the host, by name: the `SYNCING` tensor methods,
    `torch.nonzero` / `torch.masked_select` / `torch.unique`, and indexing with a boolean tensor (`.any()`
    only syncs when its result becomes a Python bool, which `__bool__` catches)."""
    calls: dict[str, int] = {}
    originals = {name: getattr(torch.Tensor, name) for name in SYNCING}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return fn(*args, **kwargs)
        return wrapper

    getitem = torch.Tensor.__getitem__

    def indexing(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            calls["boolean index"] = calls.get("boolean index", 0) + 1
        return getitem(self, index)

    functions = {name: getattr(torch, name) for name in ("nonzero", "masked_select", "unique")}
    try:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, counting(name, fn))
        torch.Tensor.__getitem__ = indexing
        for name, fn in functions.items():
            setattr(torch, name, counting(f"torch.{name}", fn))
        yield calls
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
        torch.Tensor.__getitem__ = getitem
        for name, fn in functions.items():
            setattr(torch, name, fn)
