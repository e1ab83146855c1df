"""OGB graph-property datasets (ogbg-mol*) from OGB's own folder layout, plus OGB-loader compatibility.

`<root>/ogbg_molhiv/` (or OGB's `ogbg_molhiv_pyg/`) needs only `mapping/mol.csv.gz` (task columns, then
`smiles`) and `split/scaffold/{train,valid,test}.csv.gz`; row i of the mapping is graph i. The SMILES are
featurized with our featurizer (identical to OGB's, see tests). When the folder is absent, OGB's own
downloader (`PygGraphPropPredDataset`) fetches it, guarded so that it can never wait on a prompt.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import sys
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from graphormer.data.table import DataError, MoleculeTable, Records, build_table, csv_records, open_text

log = logging.getLogger(__name__)

OGB_TASKS = {"binary classification": "classification", "regression": "regression",
             "multiclass classification": "multiclass"}
SPLIT_FILES = {"train": "train", "valid": "val", "test": "test"}


def canonical_name(name: str) -> str:
    """'ogbg-molhiv' from 'ogbg-molhiv', 'ogbg_molhiv' or 'molhiv'."""
    name = name.strip().lower().replace("_", "-")
    return name if name.startswith("ogbg-") else f"ogbg-{name}"


@lru_cache(maxsize=None)
def _master():
    import ogb.graphproppred
    import pandas as pd

    path = Path(ogb.graphproppred.__file__).parent / "master.csv"
    return pd.read_csv(path, index_col=0, keep_default_na=False)


def ogb_meta(name: str) -> dict:
    """OGB's metadata for a dataset (task type, number of tasks, split name), from ogb's master.csv."""
    master = _master()
    if name not in master:
        mol = sorted(k for k in master.columns if k.startswith("ogbg-mol"))
        raise DataError(f"unknown OGB dataset {name!r} (molecule sets: {', '.join(mol)})")
    return master[name].to_dict()


# ---------------------------------------------------------------------------------- OGB loader safety
def register_pyg_safe_globals() -> None:
    """Let torch >= 2.6 (weights_only loads) read the processed files that OGB/PyG write."""
    import torch
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    if hasattr(torch.serialization, "add_safe_globals"):
        torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])


@contextlib.contextmanager
def no_interactive_prompts() -> Iterator[None]:
    """OGB asks with input() before big downloads and before replacing an outdated folder.

    When stdin is not a terminal, answer "n" to "update the dataset now?" (never delete the user's
    folder) and raise a DataError for any other question (e.g. download consent), instead of blocking
    or dying on EOFError. Interactive sessions keep the real prompt.
    """
    original = builtins.input

    def answer(prompt: str = "") -> str:
        if sys.stdin is not None and sys.stdin.isatty():
            return original(prompt)
        text = " ".join(str(prompt).split())
        if "update the dataset" in text.lower():
            log.warning("OGB asked %r; answering 'n' (non-interactive run)", text)
            return "n"
        raise DataError(f"OGB asked {text!r} but this run is not interactive; "
                        "download the dataset by hand or run once in a terminal")

    builtins.input = answer
    try:
        yield
    finally:
        builtins.input = original


def load_ogb_dataset(name: str, root: str | Path):
    """OGB's own `PygGraphPropPredDataset` (downloads when absent; writes `processed/`), prompt-safe."""
    from ogb.graphproppred import PygGraphPropPredDataset

    register_pyg_safe_globals()
    with no_interactive_prompts():
        return PygGraphPropPredDataset(name=canonical_name(name), root=str(root))


# ------------------------------------------------------------------------------------------- our loader
def ogb_folder(root: str | Path, name: str) -> Path | None:
    """The dataset folder under root, as OGB names it (`ogbg_molhiv`, or `ogbg_molhiv_pyg`)."""
    base = canonical_name(name).replace("-", "_")
    for folder in (Path(root) / base, Path(root) / f"{base}_pyg"):
        if (folder / "mapping" / "mol.csv.gz").is_file():
            return folder
    return None


def read_split_indices(folder: Path, split: str) -> dict[str, np.ndarray]:
    """OGB index files `split/<split>/{train,valid,test}.csv.gz` → {"train"/"val"/"test": graph indices}."""
    out = {}
    for file_part, part in SPLIT_FILES.items():
        path = folder / "split" / split / f"{file_part}.csv.gz"
        if not path.is_file():
            raise DataError(f"{path}: split file not found (OGB layout: split/{split}/{{train,valid,test}}.csv.gz)")
        try:
            with open_text(path) as handle:
                out[part] = np.array([int(line) for line in handle if line.strip()], dtype=np.int64)
        except (OSError, ValueError, EOFError) as err:
            raise DataError(f"{path}: cannot read split indices ({err})") from None
    return out


def assign_split(table: MoleculeTable, indices: dict[str, np.ndarray], source: str) -> None:
    """Label each table row with its part, where graph index = record number − 1."""
    label = np.full(table.total_records, "", dtype=object)
    for part, idx in indices.items():
        if len(idx) and (idx.min() < 0 or idx.max() >= table.total_records):
            raise DataError(f"{source}: split indices outside 0..{table.total_records - 1}")
        label[idx] = part
    table.split = [label[r - 1] for r in table.rows]


def mapping_records(folder: Path) -> Records:
    records = csv_records(folder / "mapping" / "mol.csv.gz")
    if "smiles" not in records.columns:
        raise DataError(f"{folder / 'mapping' / 'mol.csv.gz'}: no 'smiles' column")
    smiles_at = records.columns.index("smiles")
    records.smiles_column = smiles_at
    records.default_targets = list(range(smiles_at))  # OGB: task columns come first
    return records


def load_ogbg(name: str, root: str | Path, *, target_columns=None, task: str | None = None,
              download: bool = True) -> MoleculeTable:
    name = canonical_name(name)
    meta = ogb_meta(name)
    folder = ogb_folder(root, name)
    if folder is None:
        expected = Path(root) / name.replace("-", "_")
        if not download:
            raise DataError(f"{expected}: OGB dataset folder not found (needs mapping/mol.csv.gz and "
                            f"split/{meta['split']}/; data.download=false)")
        log.info("downloading %s into %s with OGB's downloader", name, root)
        Path(root).mkdir(parents=True, exist_ok=True)
        load_ogb_dataset(name, root)
        folder = ogb_folder(root, name)
        if folder is None:
            raise DataError(f"{expected}: OGB download finished but mapping/mol.csv.gz is missing")
    task = task or OGB_TASKS.get(meta["task type"], "regression")
    table = build_table([(mapping_records(folder), None)], target_columns=target_columns, task=task)
    assign_split(table, read_split_indices(folder, meta["split"]), table.source)
    table.meta["task"] = task
    return table
