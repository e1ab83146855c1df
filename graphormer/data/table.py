"""Reading molecule tables (SMILES + targets) from CSV files, with row-level bookkeeping.

A row is identified by its 1-based index among the file's data records (lines after the header,
comment lines not counted), so that every skipped row can be reported to the user exactly.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

# Cell values that mean "no label" (compared case-insensitively after stripping).
MISSING_MARKERS = frozenset({"", "nan", "na", "n/a", "null", "none", "missing", "?", "-"})


class DataError(ValueError):
    """An input file that cannot be used at all (missing file or column, no usable rows)."""


@dataclass(frozen=True)
class SkippedRow:
    row: int  # 1-based index of the record among the file's data records
    smiles: str
    reason: str


@dataclass
class MoleculeTable:
    """SMILES with their targets; one entry per usable record of the source."""

    smiles: list[str]
    targets: np.ndarray  # float64 [M, C], NaN = missing label
    target_names: list[str]
    rows: np.ndarray  # int64 [M], 1-based record index in the source
    source: str
    total_records: int
    split: list[str] | None = None
    weights: np.ndarray | None = None
    skipped: list[SkippedRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.smiles)

    def subset(self, keep: Sequence[int]) -> "MoleculeTable":
        keep = np.asarray(keep, dtype=np.int64)
        return MoleculeTable(
            smiles=[self.smiles[i] for i in keep],
            targets=self.targets[keep],
            target_names=self.target_names,
            rows=self.rows[keep],
            source=self.source,
            total_records=self.total_records,
            split=None if self.split is None else [self.split[i] for i in keep],
            weights=None if self.weights is None else self.weights[keep],
            skipped=list(self.skipped),
        )


def parse_target(cell: str) -> float:
    """A target cell as float; NaN for a missing marker; ValueError for other text or infinity."""
    text = cell.strip()
    if text.lower() in MISSING_MARKERS:
        return math.nan
    value = float(text)  # raises ValueError on text
    if math.isinf(value):
        raise ValueError(f"infinite target {text!r}")
    return value


def _resolve_column(name: str | int, header: list[str], path: Path) -> int:
    if isinstance(name, int):
        if not 0 <= name < len(header):
            raise DataError(f"{path}: column index {name} out of range (file has {len(header)} columns)")
        return name
    if name in header:
        return header.index(name)
    raise DataError(f"{path}: no column named {name!r} (columns: {', '.join(header)})")


def read_csv_table(
    path: str | Path,
    smiles_column: str | int | None = None,
    target_columns: Sequence[str | int] | None = None,
    split_column: str | None = None,
    weight_column: str | None = None,
    has_header: bool = True,
    target_names: Sequence[str] | None = None,
) -> MoleculeTable:
    """Read a CSV of SMILES and targets with chemprop-like defaults.

    Defaults: SMILES in the first column, every other column (except split/weight) a target.
    Lines starting with '#' are comments. Rows whose targets hold non-numeric text, or that have no
    label at all, are recorded in `skipped` (never dropped silently).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = [line for line in handle if not line.startswith("#")]
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read file ({err})") from None
    records = [r for r in csv.reader(lines) if r]
    if has_header:
        if not records:
            raise DataError(f"{path}: file is empty")
        header, records = [h.strip() for h in records[0]], records[1:]
    else:
        width = max((len(r) for r in records), default=0)
        header = [str(i) for i in range(width)]

    smiles_idx = _resolve_column(smiles_column if smiles_column is not None else 0, header, path)
    split_idx = _resolve_column(split_column, header, path) if split_column else None
    weight_idx = _resolve_column(weight_column, header, path) if weight_column else None
    if target_columns is None:
        used = {smiles_idx, split_idx, weight_idx}
        target_idx = [i for i in range(len(header)) if i not in used]
    else:
        target_idx = [_resolve_column(c, header, path) for c in target_columns]
    if not target_idx:
        raise DataError(f"{path}: no target columns")
    names = list(target_names) if target_names is not None else [header[i] for i in target_idx]

    smiles, targets, rows, splits, weights, skipped = [], [], [], [], [], []
    for row_number, record in enumerate(records, start=1):
        cells = record + [""] * (len(header) - len(record))
        smi = cells[smiles_idx].strip()
        try:
            values = [parse_target(cells[i]) for i in target_idx]
        except ValueError:
            bad = next(cells[i] for i in target_idx if not _is_number_or_missing(cells[i]))
            skipped.append(SkippedRow(row_number, smi, f"non-numeric target {bad.strip()!r}"))
            continue
        if all(math.isnan(v) for v in values):
            skipped.append(SkippedRow(row_number, smi, "no label (all targets missing)"))
            continue
        if weight_idx is not None:
            try:
                weights.append(float(cells[weight_idx]))
            except ValueError:
                skipped.append(SkippedRow(row_number, smi, f"non-numeric weight {cells[weight_idx]!r}"))
                continue
        smiles.append(smi)
        targets.append(values)
        rows.append(row_number)
        if split_idx is not None:
            splits.append(cells[split_idx].strip().lower())

    return MoleculeTable(
        smiles=smiles,
        targets=np.asarray(targets, dtype=np.float64).reshape(len(smiles), len(target_idx)),
        target_names=names,
        rows=np.asarray(rows, dtype=np.int64),
        source=str(path),
        total_records=len(records),
        split=splits if split_idx is not None else None,
        weights=np.asarray(weights, dtype=np.float64) if weight_idx is not None else None,
        skipped=skipped,
    )


def _is_number_or_missing(cell: str) -> bool:
    try:
        parse_target(cell)
        return True
    except ValueError:
        return False
