"""The pretraining source: unlabelled molecules whose targets are their own scaled RDKit 2D descriptors.

`data=pretrain_corpus`: a seeded random subset of a SMILES file (MOSES train by default, see
`scripts/fetch_corpus.py`), minus every molecule of the test splits named in `exclude` (compared as RDKit
canonical SMILES), with targets = `DescriptorScaler.fit(...)` of the subset's descriptors (NaN = missing,
masked in the loss).
"""

from __future__ import annotations

import csv
import gzip
import logging
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from graphormer.chem.descriptors import DescriptorScaler, default_descriptor_names
from graphormer.data.descriptors import descriptor_matrix
from graphormer.data.table import DataError, MoleculeTable, SkippedRow, open_text

log = logging.getLogger(__name__)

DEFAULT_CORPUS = "moses/train.csv.gz"


def read_smiles_column(path: Path, column: str | None = None) -> list[str]:
    """The SMILES column (by name, else the first column) of a CSV with a header."""
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader)
        lower = [h.strip().lower() for h in header]
        index = lower.index(column.lower()) if column else (lower.index("smiles") if "smiles" in lower else 0)
        return [row[index] for row in reader if row]


def test_split_smiles(root: Path, name: str) -> list[str]:
    """Test-split SMILES of a dataset folder under root: `ogbg_*` (OGB layout) or `moleculeace` (every set)."""
    folder = root / name
    if name.startswith("ogbg_"):
        smiles = read_smiles_column(folder / "mapping" / "mol.csv.gz", "smiles")
        with gzip.open(folder / "split" / "scaffold" / "test.csv.gz", "rt") as handle:
            return [smiles[int(line)] for line in handle if line.strip()]
    if name == "moleculeace":
        out = []
        for path in sorted(folder.glob("*.csv*")):
            with open_text(path) as handle:
                out += [row["smiles"] for row in csv.DictReader(handle) if row.get("split") == "test"]
        return out
    raise DataError(f"data.exclude: unknown dataset {name!r} (ogbg_<name> folders or moleculeace)")


def load_corpus(path: str | Path | None, root: str | Path, *, size: int | None, seed: int = 0,
                exclude: Sequence[str] = (), cache_dir: Path | None = None, workers: int | None = None,
                progress: bool = True) -> MoleculeTable:
    root = Path(root)
    corpus = Path(path) if path else root / DEFAULT_CORPUS
    if not corpus.is_file():
        raise DataError(f"pretraining corpus {corpus} not found (fetch it with scripts/fetch_corpus.py, "
                        f"or set data.path)")
    smiles = read_smiles_column(corpus)
    total = len(smiles)
    log.info("pretraining corpus %s: %d molecules", corpus, total)
    rows = np.arange(1, total + 1, dtype=np.int64)
    if size is not None and size < total:
        # A prefix of one seeded permutation: a larger corpus_size keeps the smaller one's molecules (and their
        # cached descriptor chunks).
        rows = np.random.default_rng(seed).permutation(total)[:size].astype(np.int64) + 1
        smiles = [smiles[r - 1] for r in rows]
    sampled = len(smiles)
    skipped: list[SkippedRow] = []
    held_out = set()
    for name in exclude:
        folder = root / name
        if not folder.exists():
            log.warning("data.exclude: %s not found; its test molecules are not removed", folder)
            continue
        held_out |= set(canonical(test_split_smiles(root, name)))
    if held_out:
        keep = [s not in held_out for s in canonical(smiles)]
        skipped = [SkippedRow(int(r), s, "in a held-out test split") for r, s, k in zip(rows, smiles, keep) if not k]
        rows = rows[np.asarray(keep, dtype=bool)]
        smiles = [s for s, k in zip(smiles, keep) if k]
        log.info("removed %d corpus molecules found in the test splits of %s", len(skipped), ", ".join(exclude))
    names = default_descriptor_names()
    raw = descriptor_matrix(smiles, names, cache_dir=cache_dir, workers=workers, progress=progress)
    scaler = DescriptorScaler.fit(raw, names, fitted_on=f"{corpus.name}: {len(smiles)} molecules, seed {seed}")
    if cache_dir is not None:
        scaler.save(Path(cache_dir) / "descriptors" / f"scaling-{corpus.name}-{size}-{seed}.json")
    table = MoleculeTable(smiles=smiles, targets=scaler.transform(raw).astype(np.float64), target_names=names,
                          rows=rows, source=str(corpus), total_records=sampled, skipped=skipped,
                          files=[str(corpus)])
    table.meta["task"] = "regression"
    table.meta["descriptor_scaler"] = scaler
    return table


def canonical(smiles: Iterable[str]) -> list[str]:
    """RDKit canonical SMILES, in order (an unparsable one is kept as written)."""
    from rdkit import Chem

    from graphormer.chem.parse import quiet_rdkit

    out = []
    with quiet_rdkit():
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            out.append(Chem.MolToSmiles(mol) if mol is not None else s)
    return out
