"""PCQM4Mv2 (OGB-LSC) in OGB's layout: `<root>/pcqm4m-v2/raw/data.csv.gz` (idx, smiles, homolumogap)
and `<root>/pcqm4m-v2/split_dict.pt` (train / valid / test-dev / test-challenge indices).

The test-dev and test-challenge labels are hidden (NaN), so those molecules are left out rather than
reported as bad rows, and — as in the Graphormer paper and the OGB-LSC leaderboard — the `valid` part
serves as both validation and test split. Without split_dict.pt (e.g. a slice of the CSV given as
`data.path`), the datamodule's own split method (random by default) is used.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from graphormer.data.table import DataError, MoleculeTable, Records, build_table, csv_records

log = logging.getLogger(__name__)

FOLDER = "pcqm4m-v2"
LABELLED = {"train": "train", "valid": "val"}


def load_split_dict(path: Path) -> dict[str, np.ndarray]:
    import torch

    try:
        raw = torch.load(path, weights_only=True)
    except Exception:  # the official file may hold numpy arrays, which weights_only refuses
        log.info("%s: loading with weights_only=False (numpy arrays inside)", path)
        raw = torch.load(path, weights_only=False)
    return {k: np.asarray(v, dtype=np.int64).ravel() for k, v in raw.items()}


def _download(root: Path) -> None:
    from ogb.lsc import PCQM4Mv2Dataset

    from graphormer.data.ogb import no_interactive_prompts

    log.info("downloading PCQM4Mv2 into %s with OGB's downloader", root)
    root.mkdir(parents=True, exist_ok=True)
    with no_interactive_prompts():
        PCQM4Mv2Dataset(root=str(root), only_smiles=True)


def _only(records: Records, keep: np.ndarray) -> Records:
    """The same file, yielding only records whose 0-based index is marked in `keep` (row numbers kept)."""
    inner = records.read

    def read():
        for row, cells, problem in inner():
            if row - 1 < len(keep) and keep[row - 1]:
                yield row, cells, problem

    return Records(records.source, records.columns, read, records.smiles_column, records.default_targets,
                   records.files)


def load_pcqm4mv2(root: str | Path, *, path: str | None = None, target_columns=None, task: str | None = None,
                  download: bool = True) -> MoleculeTable:
    root = Path(root)
    folder = root / FOLDER
    csv_path = Path(path) if path else folder / "raw" / "data.csv.gz"
    if not csv_path.is_file():
        if path or not download:
            raise DataError(f"{csv_path}: PCQM4Mv2 CSV not found (OGB-LSC layout {FOLDER}/raw/data.csv.gz)")
        _download(root)
    records = csv_records(csv_path)
    if "smiles" not in records.columns:
        raise DataError(f"{csv_path}: no 'smiles' column")
    records.smiles_column = records.columns.index("smiles")
    records.default_targets = [records.columns.index(c) for c in ("homolumogap",) if c in records.columns] or None

    split_file = csv_path.parent.parent / "split_dict.pt"
    split = load_split_dict(split_file) if split_file.is_file() else None
    if split is not None:
        missing = [k for k in LABELLED if k not in split]
        if missing:
            raise DataError(f"{split_file}: no {', '.join(missing)} indices")
        keep = np.zeros(max(int(split[k].max(initial=-1)) for k in split) + 1, dtype=bool)
        for k in LABELLED:
            keep[split[k]] = True
        hidden = sum(len(v) for k, v in split.items() if k not in LABELLED)
        log.info("PCQM4Mv2: using the train and valid parts; %d test-dev/test-challenge molecules have hidden "
                 "labels and are left out", hidden)
        records = _only(records, keep)

    task = task or "regression"
    table = build_table([(records, None)], target_columns=target_columns, task=task)
    table.meta["task"] = task
    if split is not None:
        label = np.full(len(keep), "", dtype=object)
        for k, part in LABELLED.items():
            label[split[k]] = part
        table.split = label[table.rows - 1].tolist()
        table.meta["test_is_val"] = True
    return table
