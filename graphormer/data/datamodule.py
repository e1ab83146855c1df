"""LightningDataModule: source → table → featurized graphs (cached) → split → size-bucketed padded batches."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from graphormer.data.cache import file_lock, resolve_cache_dir
from graphormer.data.collate import Collater, GraphDataset
from graphormer.data.descriptors import descriptor_matrix
from graphormer.data.featurize import build_store
from graphormer.data.sampler import SizeBucketBatchSampler
from graphormer.data.sources import BENCHMARK_SOURCES, load_table
from graphormer.data.splits import cached_resolve_split
from graphormer.data.table import TASKS, DataError, MoleculeTable, SkippedRow

log = logging.getLogger(__name__)


def write_skipped_rows(skipped: Sequence[SkippedRow], total: int, path: Path | None) -> str:
    """Write skipped_rows.csv (row, smiles, reason) and return the one-line summary shown to the user.

    With separate val/test files the reason starts with the file's name, as row numbers restart per file.
    Without a run directory (library use) nothing is written; the rows stay in the tables' `skipped`.
    """
    if path is None:
        return f"skipped {len(skipped)} of {total} rows"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "smiles", "reason"])
        for s in skipped:
            writer.writerow([s.row, s.smiles, s.report_reason])
    return f"skipped {len(skipped)} of {total} rows (see {path})"


def resolve_pos_weight(spec, targets: np.ndarray) -> list[float] | None:
    """BCE positive-class weights: None, "auto" (negatives/positives per task, on the training labels),
    one number for every task, or one number per task."""
    if spec is None or (isinstance(spec, str) and spec.lower() in ("null", "none", "")):
        return None
    n_tasks = targets.shape[1]
    if isinstance(spec, str):
        if spec.lower() != "auto":
            raise DataError(f"data.pos_weight must be auto, null, a number or a list; got {spec!r}")
        positives = np.nansum(targets == 1, axis=0).astype(np.float64)
        negatives = np.nansum(targets == 0, axis=0).astype(np.float64)
        return [float(n / p) if p > 0 else 1.0 for n, p in zip(negatives, positives)]
    values = [float(v) for v in spec] if isinstance(spec, (list, tuple)) else [float(spec)]
    if len(values) == 1:
        values = values * n_tasks
    if len(values) != n_tasks:
        raise DataError(f"data.pos_weight has {len(values)} values for {n_tasks} tasks")
    return values


class MoleculeDataModule(L.LightningDataModule):
    """Every data config key is a constructor argument (configs/data/*.yaml); see docs in those files."""

    def __init__(
        self,
        source: str = "rdkit_nci_tpsa",
        name: str | None = None,
        path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        smiles_column: str | int | None = None,
        target_columns: Sequence[str | int] | None = None,
        split_column: str | None = None,
        weight_column: str | None = None,
        task: str | None = "regression",
        pos_weight: str | float | Sequence[float] | None = None,
        split: str = "auto",
        split_sizes: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        split_file: str | None = None,
        subset: bool = True,
        batch_size: int | None = 64,
        max_tokens: int | None = None,
        max_atoms: int | None = None,
        allow_valence_errors: bool | None = None,
        num_workers: int = 0,
        featurize_workers: int | None = None,
        root: str = "data",
        cache_dir: str | None = None,
        download: bool = True,
        max_hops: int = 5,
        legacy_drop_node0: bool = False,
        pad_nodes_to: int = 1,
        seed: int = 0,
        run_dir: str | None = None,
        progress: bool = True,
        corpus_size: int | None = None,
        exclude: Sequence[str] = (),
        descriptor_scaler=None,
        expect_targets: Sequence[str] | None = None,
        **unused,
    ):
        super().__init__()
        if task is not None and task not in TASKS:
            raise DataError(f"data.task must be one of {', '.join(TASKS)}; got {task!r}")
        if unused:
            log.warning("ignoring unknown data keys: %s", ", ".join(sorted(unused)))
        self.name = name or source
        self.source_args = dict(source=source, name=name, path=path, val_path=val_path, test_path=test_path,
                                smiles_column=smiles_column, target_columns=target_columns,
                                split_column=split_column, weight_column=weight_column, subset=subset,
                                download=download, root=root)
        if source == "pretrain_corpus":
            self.source_args.update(corpus_size=corpus_size, exclude=list(exclude or ()), seed=split_seed,
                                    workers=featurize_workers, progress=progress)
        self.cfg = self.source_args  # kept for callers of the earlier attribute name
        self.task = task
        self.pos_weight_spec = pos_weight
        self.split = split
        self.split_sizes = tuple(split_sizes)
        self.split_seed = split_seed
        self.split_file = split_file
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.max_atoms = max_atoms
        self.allow_valence_errors = source in BENCHMARK_SOURCES if allow_valence_errors is None \
            else allow_valence_errors
        self.num_workers = num_workers
        self.featurize_workers = featurize_workers
        self.root = Path(root)
        self.cache_dir = cache_dir
        self.collater = Collater(max_hops, legacy_drop_node0, pad_nodes_to)
        self.seed = seed
        self.run_dir = Path(run_dir) if run_dir else None
        self.progress = progress
        # model.extra_features=rdkit2d: every molecule also carries its scaled RDKit descriptors (cached)
        self.descriptor_scaler = descriptor_scaler
        # evaluate: the checkpoint's target names, checked before any featurization
        self.expect_targets = list(expect_targets) if expect_targets is not None else None
        self.datasets: dict[str, GraphDataset] = {}
        self.tables: dict[str, MoleculeTable] = {}
        self.summary: str | None = None
        self.class_names: list[str] | None = None

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        cache = resolve_cache_dir(self.cache_dir, self.root)
        source = self.source_args["source"]
        # One process at a time reads (and, if needed, downloads) a source; other DDP ranks wait here.
        with file_lock(cache / f"source-{source}-{self.name}".replace("/", "_")):
            table = load_table(**self.source_args, task=self.task, cache_dir=cache)
        if self.expect_targets is not None and list(table.target_names) != self.expect_targets:
            raise DataError(f"the checkpoint predicts {self.expect_targets} but the data has targets "
                            f"{list(table.target_names)} (choose them with data.target_columns)")
        self.task = self.task or table.meta.get("task", "regression")
        self.class_names = table.class_names
        store, usable = build_store(table, allow_valence_errors=self.allow_valence_errors, max_atoms=self.max_atoms,
                                    cache_dir=cache, workers=self.featurize_workers, progress=self.progress)
        report = self.run_dir / "skipped_rows.csv" if self.run_dir is not None else None
        self.summary = write_skipped_rows(usable.skipped, table.total_records, report)
        log.info(self.summary)
        if len(usable) == 0:
            raise DataError(f"{table.source}: no usable rows ({self.summary})")
        parts = cached_resolve_split(usable, self.split, self.split_sizes, self.split_seed, self.split_file,
                                     cache)
        extra = None
        if self.descriptor_scaler is not None:
            scaler = self.descriptor_scaler
            extra = scaler.features(descriptor_matrix(usable.smiles, scaler.names, cache, self.featurize_workers,
                                                      self.progress))
        for name, idx in parts.items():
            if len(idx) == 0:
                raise DataError(f"{table.source}: the {name} split is empty")
            self.tables[name] = usable.subset(idx)
            weights = None if usable.weights is None else usable.weights[idx]
            self.datasets[name] = GraphDataset(store.select(idx), usable.targets[idx], weights,
                                               None if extra is None else extra[idx])
        if self.run_dir is not None:
            self._save_split(parts, usable)

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

    @property
    def num_classes(self) -> int:
        """Classes of a multiclass task (2 otherwise, the module's default)."""
        return len(self.class_names) if self.task == "multiclass" and self.class_names else 2

    @property
    def pos_weight(self) -> list[float] | None:
        """Positive-class weights for BCE (classification only), from data.pos_weight; None = unweighted."""
        if self.task != "classification":
            return None
        return resolve_pos_weight(self.pos_weight_spec, self.tables["train"].targets)

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
        # Evaluation is sharded too, without repeats, so metrics gathered across ranks are exact.
        sampler = SizeBucketBatchSampler(dataset.sizes, batch_size=self.batch_size, max_tokens=self.max_tokens,
                                         shuffle=shuffle, seed=self.seed, num_replicas=world, rank=rank,
                                         pad_shards=shuffle)
        if shuffle and self.trainer is not None:
            sampler.set_epoch(self.trainer.current_epoch)
        # Loader processes stay alive between epochs (a GPU otherwise waits for them to start every epoch).
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=self.collater, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
