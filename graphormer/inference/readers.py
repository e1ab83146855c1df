"""Prediction inputs as a stream of `Record`s, read by the same reader family as training tables.

`graphormer.data.formats.file_records` does the reading (CSV/TSV, SMILES files, SDF; its docstring holds the
rules); this adapter picks the SMILES column and turns each data record into a `Record(row, cells, smiles,
error)`: `row` is the 1-based index among the file's data records, `cells` the values written back to the
output (in `columns` order), `error` why a record has no usable molecule before featurization (an unreadable SDF
record). Nothing is held in memory beyond the current record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from graphormer.data.formats import file_records
from graphormer.data.table import DataError, resolve_column


@dataclass
class Record:
    row: int
    cells: list[str]
    smiles: str | None
    error: str | None = None


class InputReader:
    """Reads `path` (format from its extension) and exposes `columns` and an iterator of records."""

    def __init__(self, path: str | Path, smiles_column: str | int | None = None):
        self.path = Path(path)
        self.records = file_records(self.path, smiles_column=smiles_column)
        self.columns = self.records.columns
        column = smiles_column if smiles_column is not None else self.records.smiles_column
        self.smiles_index = resolve_column(column, self.columns, str(self.path))
        self._stream = self.records.read()
        self._first = next(self._stream, None)
        if self._first is None:
            raise DataError(f"{self.path}: no molecules in the file")

    def __iter__(self) -> Iterator[Record]:
        item = self._first
        while item is not None:
            row, cells, problem = item
            cells = cells if cells is not None else [""] * len(self.columns)
            yield Record(row, cells, cells[self.smiles_index].strip(), problem)
            item = next(self._stream, None)
