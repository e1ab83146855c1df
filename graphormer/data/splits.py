"""Train/val/test splits: predefined (column or index files), seeded random, or OGB-rule scaffold."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from graphormer.data.table import DataError

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def random_split(n: int, sizes: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    fractions = np.asarray(sizes, dtype=np.float64) / np.sum(sizes)
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}


def scaffold_split_indices(smiles: list[str], sizes: Sequence[float]) -> dict[str, np.ndarray]:
    from graphormer.chem import scaffold_split

    fractions = np.asarray(sizes, dtype=np.float64) / np.sum(sizes)
    train, val, test = scaffold_split(smiles, *fractions)
    return {"train": np.sort(np.asarray(train, dtype=np.int64)), "val": np.sort(np.asarray(val, dtype=np.int64)),
            "test": np.sort(np.asarray(test, dtype=np.int64))}


def column_split(values: list[str], source: str) -> dict[str, np.ndarray]:
    labels = np.array([SPLIT_NAMES.get(v.strip().lower(), "?") for v in values])
    if (labels == "?").any():
        bad = sorted({v for v, lab in zip(values, labels) if lab == "?"})[:5]
        raise DataError(f"{source}: split column values must be train, val/valid or test; found {bad}")
    return {name: np.flatnonzero(labels == name) for name in ("train", "val", "test")}
