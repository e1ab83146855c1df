"""LightningDataModule: table → featurized graphs (cached) → split → size-bucketed padded batches."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from graphormer.data.collate import Collater, GraphDataset
from graphormer.data.featurize import build_store
from graphormer.data.sampler import SizeBucketBatchSampler
from graphormer.data.sources import load_table
from graphormer.data.splits import column_split, random_split, scaffold_split_indices
from graphormer.data.table import DataError, MoleculeTable, SkippedRow

log = logging.getLogger(__name__)

TASKS = ("regression", "classification", "multiclass")


def write_skipped_rows(skipped: Sequence[SkippedRow], total: int, path: Path) -> str:
    """Write skipped_rows.csv and return the one-line summary shown to the user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "smiles", "reason"])
        for s in skipped:
            writer.writerow([s.row, s.smiles, s.reason])
    return f"skipped {len(skipped)} of {total} rows (see {path})"


class MoleculeDataModule(L.LightningDataModule):
    def __init__(
        self,
        source: str = "rdkit_nci_tpsa",
        path: str | None = None,
        smiles_column: str | int | None = None,
        target_columns: Sequence[str | int] | None = None,
        split_column: str | None = None,
        weight_column: str | None = None,
        task: str = "regression",
        split: str = "random",
        split_sizes: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        batch_size: int | None = 64,
        max_tokens: int | None = None,
        max_atoms: int | None = None,
        allow_valence_errors: bool = False,
        num_workers: int = 0,
        featurize_workers: int = 0,
        root: str = "data",
        max_hops: int = 5,
        legacy_drop_node0: bool = False,
        pad_nodes_to: int = 1,
        seed: int = 0,
        run_dir: str | None = None,
        progress: bool = True,
        **unused,
    ):
        super().__init__()
        if task not in TASKS:
            raise DataError(f"data.task must be one of {', '.join(TASKS)}; got {task!r}")
        self.cfg = dict(source=source, path=path, smiles_column=smiles_column, target_columns=target_columns,
                        split_column=split_column, weight_column=weight_column)
        self.task = task
        self.split = split
        self.split_sizes = tuple(split_sizes)
        self.split_seed = split_seed
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.max_atoms = max_atoms
        self.allow_valence_errors = allow_valence_errors
        self.num_workers = num_workers
        self.featurize_workers = featurize_workers
        self.root = Path(root)
        self.collater = Collater(max_hops, legacy_drop_node0, pad_nodes_to)
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else None
        self.progress = progress
        self.datasets: dict[str, GraphDataset] = {}
        self.tables: dict[str, MoleculeTable] = {}
        self.summary: str | None = None

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        table = load_table(**self.cfg)
        store, usable = build_store(table, allow_valence_errors=self.allow_valence_errors, max_atoms=self.max_atoms,
                                    cache_dir=self.root / "cache", workers=self.featurize_workers,
                                    progress=self.progress)
        report = (self.run_dir or Path(".")) / "skipped_rows.csv"
        self.summary = write_skipped_rows(usable.skipped, table.total_records, report)
        log.info(self.summary)
        if len(usable) == 0:
            raise DataError(f"{table.source}: no usable rows ({self.summary})")
        parts = self._split(usable)
        for name, idx in parts.items():
            if len(idx) == 0:
                raise DataError(f"{table.source}: the {name} split is empty")
            self.tables[name] = usable.subset(idx)
            self.datasets[name] = GraphDataset(store.select(idx), usable.targets[idx])
        if self.run_dir is not None:
            self._save_split(parts, usable)

    def _split(self, table: MoleculeTable) -> dict[str, np.ndarray]:
        if self.split == "random":
            return random_split(len(table), self.split_sizes, self.split_seed)
        if self.split == "scaffold":
            return scaffold_split_indices(table.smiles, self.split_sizes)
        if self.split == "column":
            if table.split is None:
                raise DataError(f"{table.source}: data.split=column needs data.split_column")
            return column_split(table.split, table.source)
        raise DataError(f"unknown data.split {self.split!r} (choices: random, scaffold, column)")

    def _save_split(self, parts: dict[str, np.ndarray], table: MoleculeTable) -> None:
        path = self.run_dir / "split.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "split"])
            rows = sorted((int(table.rows[i]), name) for name, idx in parts.items() for i in idx)
            writer.writerows(rows)

    # ------------------------------------------------------------- properties
    @property
    def target_names(self) -> list[str]:
        return self.tables["train"].target_names

    @property
    def num_targets(self) -> int:
        return len(self.target_names)

    def target_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-target mean and std of the training labels (ignoring missing ones)."""
        y = self.tables["train"].targets
        mean = np.nanmean(y, axis=0)
        std = np.nanstd(y, axis=0)
        return mean, np.where(std > 0, std, 1.0)

    # ------------------------------------------------------------ dataloaders
    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[name]
        rank, world = 0, 1
        if self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = SizeBucketBatchSampler(dataset.sizes, batch_size=self.batch_size, max_tokens=self.max_tokens,
                                         shuffle=shuffle, seed=self.seed, num_replicas=world if shuffle else 1,
                                         rank=rank if shuffle else 0)
        if shuffle and self.trainer is not None:
            sampler.set_epoch(self.trainer.current_epoch)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=self.collater, num_workers=self.num_workers,
                          persistent_workers=False, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
