"""Streaming readers for prediction inputs: CSV, SMILES files and SDF, one record at a time.

Each reader yields `Record(row, cells, smiles, mol)`: `row` is the 1-based index among the file's data
records, `cells` the values written back to the output (in `columns` order), and either a SMILES string or an
RDKit molecule (SDF) to featurize. Nothing is held in memory beyond the current record.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Iterator

from graphormer.data.table import (READ_ERRORS, SNIFF_LINES, DataError, detect_delimiter, first_line_is_data,
                                   headerless_columns, open_text)


@dataclass
class Record:
    row: int
    cells: list[str]
    smiles: str | None
    mol: object | None = None
    error: str | None = None


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
        self._first = self._next()  # reads the header (sets columns) and the first record
        if self._first is None:
            raise DataError(f"{self.path}: no molecules in the file")

    def _next(self) -> Record | None:
        """The next record; a file that turns out damaged or mis-encoded: one line naming it, no traceback."""
        try:
            return next(self._records, None)
        except READ_ERRORS as err:
            raise DataError(f"{self.path}: cannot read file ({type(err).__name__}: {err})") from None

    def __iter__(self) -> Iterator[Record]:
        record = self._first
        while record is not None:
            yield record
            record = self._next()

    def _column(self) -> int:
        """The SMILES column's position: by name or 0-based index (default the first column)."""
        column = 0 if self.smiles_column is None else self.smiles_column
        if isinstance(column, str) and column not in self.columns and column.lstrip("-").isdigit():
            column = int(column)
        if isinstance(column, str):
            if column not in self.columns:
                raise DataError(f"{self.path}: no column named {column!r} (columns: {', '.join(self.columns)})")
            return self.columns.index(column)
        if not -len(self.columns) <= column < len(self.columns):
            raise DataError(f"{self.path}: smiles_column={column} is out of range (the file has "
                            f"{len(self.columns)} columns: {', '.join(self.columns)})")
        return column % len(self.columns)

    def _csv(self) -> Iterator[Record]:
        with open_text(self.path) as handle:
            lines = (line for line in handle if not line.startswith("#") and line.strip())
            sample = list(islice(lines, SNIFF_LINES))
            if not sample:
                raise DataError(f"{self.path}: file is empty")
            sep = detect_delimiter(sample, self.path)
            reader = csv.reader(chain(sample, lines), delimiter=sep)
            first = next(reader)
            self.columns = [h.strip() for h in first]
            column = self._column()
            named = isinstance(self.smiles_column, str) and self.smiles_column in self.columns
            if not named and first_line_is_data(first, column):  # no header: the first line is a molecule
                self.columns = headerless_columns(self.path, len(first), column)
                reader = chain([first], reader)
            for row, cells in enumerate((c for c in reader if c), start=1):
                cells = cells + [""] * (len(self.columns) - len(cells))
                yield Record(row, cells[:len(self.columns)], cells[column].strip())

    def _smi(self) -> Iterator[Record]:
        self.columns = ["smiles", "name"]
        with open_text(self.path) as handle:
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

    def _open_binary(self):
        return gzip.open(self.path, "rb") if self.path.suffix == ".gz" else open(self.path, "rb")

    def _sdf(self) -> Iterator[Record]:
        from rdkit import Chem, RDLogger

        RDLogger.DisableLog("rdApp.*")
        props: list[str] | None = None
        # A second, unsanitized pass in lockstep says why a record failed (valence, kekulization...).
        with self._open_binary() as handle, self._open_binary() as raw_handle:
            raw = Chem.ForwardSDMolSupplier(raw_handle, sanitize=False, removeHs=False)
            for row, (mol, unsanitized) in enumerate(zip(Chem.ForwardSDMolSupplier(handle), raw), start=1):
                if props is None:
                    first = mol if mol is not None else unsanitized
                    props = sorted(first.GetPropNames()) if first is not None else []
                    self.columns = ["name", "smiles", *props]
                if mol is None:  # keep the record's name and fields, say why it has no prediction
                    yield Record(row, _sdf_cells(unsanitized, props, ""), None, error=_sdf_problem(unsanitized))
                    continue
                smiles = Chem.MolToSmiles(mol)
                yield Record(row, _sdf_cells(mol, props, smiles), smiles, mol)
        if props is None:
            self.columns = ["name", "smiles"]


def _sdf_cells(mol, props: list[str], smiles: str) -> list[str]:
    if mol is None:
        return ["", smiles, *[""] * len(props)]
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    return [name, smiles, *[mol.GetProp(p) if mol.HasProp(p) else "" for p in props]]


def _sdf_problem(mol) -> str:
    """Why RDKit rejected an SDF record, from its unsanitized parse."""
    if mol is None:
        return "unreadable SDF record"
    from rdkit import Chem

    problems = list(Chem.DetectChemistryProblems(mol))
    if not problems:
        return "unreadable SDF record (sanitization failed)"
    kind = {"AtomValenceException": "valence error"}.get(problems[0].GetType(), "sanitization error")
    return f"{kind}: {problems[0].Message()}"
