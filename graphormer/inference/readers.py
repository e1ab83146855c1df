"""Streaming readers for prediction inputs: CSV, SMILES files and SDF, one record at a time.

Each reader yields `Record(row, cells, smiles, mol)`: `row` is the 1-based index among the file's data
records, `cells` the values written back to the output (in `columns` order), and either a SMILES string or an
RDKit molecule (SDF) to featurize. Nothing is held in memory beyond the current record.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from graphormer.data.table import DataError


@dataclass
class Record:
    row: int
    cells: list[str]
    smiles: str | None
    mol: object | None = None
    error: str | None = None


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in (".sdf", ".mol", ".sd"):
        return "sdf"
    if last in (".smi", ".smiles", ".txt"):
        return "smi"
    return "csv"


class InputReader:
    """Reads `path` (kind from its extension) and exposes `columns` and an iterator of records."""

    def __init__(self, path: str | Path, smiles_column: str | int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: file not found")
        self.kind = _kind(self.path)
        self.smiles_column = smiles_column
        self.columns: list[str] = []
        self._records = {"csv": self._csv, "smi": self._smi, "sdf": self._sdf}[self.kind]()
        first = next(self._records, None)  # reads the header (sets columns) and the first record
        self._first = first

    def __iter__(self) -> Iterator[Record]:
        if self._first is not None:
            yield self._first
        yield from self._records

    def _csv(self) -> Iterator[Record]:
        try:
            handle = _open_text(self.path)
            reader = csv.reader(line for line in handle if not line.startswith("#"))
            header = next(reader, None)
        except (OSError, UnicodeDecodeError) as err:
            raise DataError(f"{self.path}: cannot read file ({err})") from None
        if not header:
            raise DataError(f"{self.path}: file is empty")
        self.columns = [h.strip() for h in header]
        column = 0 if self.smiles_column is None else self.smiles_column
        if isinstance(column, str):
            if column not in self.columns:
                raise DataError(f"{self.path}: no column named {column!r} (columns: {', '.join(self.columns)})")
            column = self.columns.index(column)
        with handle:
            for row, cells in enumerate((c for c in reader if c), start=1):
                cells = cells + [""] * (len(self.columns) - len(cells))
                yield Record(row, cells[:len(self.columns)], cells[column].strip())

    def _smi(self) -> Iterator[Record]:
        self.columns = ["smiles", "name"]
        with _open_text(self.path) as handle:
            row = 0
            for line in handle:
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                row += 1
                parts = line.split(maxsplit=1)
                name = parts[1].strip() if len(parts) > 1 else ""
                if row == 1 and parts[0].lower() in ("smiles", "smi"):  # a header line is not a record
                    row = 0
                    continue
                yield Record(row, [parts[0], name], parts[0])

    def _sdf(self) -> Iterator[Record]:
        from rdkit import Chem, RDLogger

        RDLogger.DisableLog("rdApp.*")
        handle = gzip.open(self.path, "rb") if self.path.suffix == ".gz" else open(self.path, "rb")
        props: list[str] | None = None
        with handle:
            for row, mol in enumerate(Chem.ForwardSDMolSupplier(handle), start=1):
                if props is None:
                    props = sorted(mol.GetPropNames()) if mol is not None else []
                    self.columns = ["name", "smiles", *props]
                if mol is None:
                    yield Record(row, [""] * len(self.columns), None, error="unreadable SDF record")
                    continue
                smiles = Chem.MolToSmiles(mol)
                values = [mol.GetProp(p) if mol.HasProp(p) else "" for p in props]
                name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
                yield Record(row, [name, smiles, *values], smiles, mol)
        if props is None:
            self.columns = ["name", "smiles"]
