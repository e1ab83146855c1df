"""Train/val/test splits: predefined (source, column, split file, separate files), seeded random, or scaffold.

`resolve_split` is the one entry point. Methods:
* `auto`: `predefined` when the data define a split (a split column or file, val and test files, an
  official benchmark split), else `random`.
* `predefined` (alias `column`): the split that comes with the data — OGB index files, ZINC/PCQM4Mv2
  official splits, a split column, separate val/test files, or `split_file` (a CSV with columns
  `row,split`, e.g. the `split.csv` of an earlier run).
* `random` (seeded) and `scaffold` (OGB's rule, via graphormer.chem.scaffold_split): rows of separate
  val/test files keep their part; the main file's rows are divided among train and the missing parts.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from graphormer.data.table import DataError, MoleculeTable

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
PARTS = ("train", "val", "test")
METHODS = ("auto", "predefined", "column", "random", "scaffold")


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


def column_split(values: Sequence[str], source: str) -> dict[str, np.ndarray]:
    labels = np.array([SPLIT_NAMES.get(str(v).strip().lower(), "?") for v in values])
    if (labels == "?").any():
        bad = sorted({str(v) for v, lab in zip(values, labels) if lab == "?"})[:5]
        raise DataError(f"{source}: split values must be train, val/valid or test; found {bad}")
    return {name: np.flatnonzero(labels == name) for name in PARTS}


def read_split_file(path: str | Path, table: MoleculeTable) -> list[str]:
    """Split labels for the table's rows from a `row,split` CSV (the format of a run's split.csv)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: split file not found")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"row", "split"} <= set(reader.fieldnames):
            raise DataError(f"{path}: split file needs columns row,split")
        by_row = {int(r["row"]): r["split"] for r in reader}
    missing = [int(r) for r in table.rows if int(r) not in by_row]
    if missing:
        raise DataError(f"{path}: {len(missing)} usable rows have no split (first: row {missing[0]})")
    return [by_row[int(r)] for r in table.rows]


def _divide(table: MoleculeTable, free: np.ndarray, wanted: list[str], method: str,
            sizes: Sequence[float], seed: int) -> dict[str, np.ndarray]:
    """Split the rows `free` among the parts `wanted`, in proportion to their `sizes`."""
    share = [float(sizes[PARTS.index(p)]) if p in wanted else 0.0 for p in PARTS]
    if method == "random":
        local = random_split(len(free), share, seed)
    else:
        local = scaffold_split_indices([table.smiles[i] for i in free], share)
    return {p: free[local[p]] for p in PARTS}


def resolve_split(table: MoleculeTable, method: str, sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                  split_file: str | Path | None = None) -> dict[str, np.ndarray]:
    """Indices into `table` for train / val / test."""
    if method not in METHODS:
        raise DataError(f"unknown data.split {method!r} (choices: {', '.join(METHODS)})")
    if method == "auto":
        defined = table.split is not None or (table.part is not None and {"val", "test"} <= set(table.part))
        method = "predefined" if defined or split_file is not None else "random"
    if split_file is not None:
        parts = column_split(read_split_file(split_file, table), str(split_file))
    elif method in ("predefined", "column"):
        if table.split is not None:
            parts = column_split(table.split, table.source)
        elif table.part is not None and {"val", "test"} <= set(table.part):
            parts = {p: np.flatnonzero(np.array([q or "train" for q in table.part]) == p) for p in PARTS}
        else:
            hint = "data.split_column" if method == "column" else "a split column, split file or val/test files"
            raise DataError(f"{table.source}: data.split={method} but the data define no split (give {hint}, "
                            f"or use data.split=random|scaffold)")
    else:
        origin = np.array([q or "train" for q in table.part]) if table.part is not None else \
            np.full(len(table), "train")
        fixed = {p: np.flatnonzero(origin == p) for p in ("val", "test")}
        wanted = ["train"] + [p for p in ("val", "test") if len(fixed[p]) == 0]
        parts = _divide(table, np.flatnonzero(origin == "train"), wanted, method, sizes, seed)
        for p in ("val", "test"):
            if len(fixed[p]):
                parts[p] = np.sort(np.concatenate([parts[p], fixed[p]]))
    if table.meta.get("test_is_val") and len(parts["test"]) == 0:
        parts["test"] = parts["val"]
    return parts


def cached_resolve_split(table: MoleculeTable, method: str, sizes: Sequence[float], seed: int,
                         split_file: str | Path | None, cache_dir: str | Path | None) -> dict[str, np.ndarray]:
    """`resolve_split`, with scaffold splits (RDKit work) kept in the cache keyed by the SMILES and options."""
    if method != "scaffold" or split_file is not None or cache_dir is None:
        return resolve_split(table, method, sizes, seed, split_file)
    import hashlib
    import json

    import rdkit

    from graphormer.data.cache import file_lock

    digest = hashlib.sha256(json.dumps([rdkit.__version__, [float(x) for x in sizes], table.part]).encode())
    digest.update("\n".join(table.smiles).encode())
    path = Path(cache_dir) / f"scaffold-split-{digest.hexdigest()[:24]}.npz"
    with file_lock(path):
        if path.is_file():
            try:
                with np.load(path) as stored:
                    parts = {p: stored[p] for p in PARTS}
                if sum(len(v) for v in parts.values()) == len(table):
                    return parts
            except Exception:  # damaged: recompute below
                pass
        parts = resolve_split(table, method, sizes, seed)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **parts)
        tmp.replace(path)
    return parts
