"""Molecule tables (SMILES + targets) built from the records of one or more files, with row-level bookkeeping.

A row is identified by its 1-based index among the file's data records (CSV lines after the header,
SDF records, SMILES-file lines; comment lines not counted), so that every skipped row can be reported
to the user exactly. Readers of each file format produce `Records`; `build_table` turns the records of
one or several files into one `MoleculeTable`, deciding per row whether its labels are usable.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import re
import zlib
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from graphormer import TASKS
from graphormer.errors import DataError  # noqa: F401  (re-exported: raised here, imported from here)

# Cell values that mean "no label" (compared case-insensitively after stripping).
MISSING_MARKERS = frozenset({"", "nan", "na", "n/a", "null", "none", "missing", "?", "-"})
FLOAT32_MAX = float(np.finfo(np.float32).max)
# A number written with a decimal comma, as spreadsheets in comma-decimal locales save ';'-separated files.
_DECIMAL_COMMA = re.compile(r"^(\s*[-+]?\d*),(\d+(?:[eE][-+]?\d+)?\s*)$")
log = logging.getLogger(__name__)
# What a damaged, truncated or mis-encoded file raises while being read (gzip.BadGzipFile is an OSError).
READ_ERRORS = (OSError, UnicodeDecodeError, EOFError, csv.Error, zlib.error)


@dataclass(frozen=True)
class SkippedRow:
    row: int  # 1-based index of the record among the file's data records
    smiles: str
    reason: str
    file: str = ""  # the file's name, set only when the data come from several files

    @property
    def report_reason(self) -> str:
        """The reason as written to skipped_rows.csv: prefixed with the file name for multi-file data."""
        return f"{self.file}: {self.reason}" if self.file else self.reason


@dataclass
class MoleculeTable:
    """SMILES with their targets; one entry per usable record of the source."""

    smiles: list[str]
    targets: np.ndarray  # float64 [M, C], NaN = missing label
    target_names: list[str]
    rows: np.ndarray  # int64 [M], 1-based record index in the source file it came from
    source: str
    total_records: int
    split: list[str] | None = None  # predefined split label per row ("train" / "val" / "test"), if any
    weights: np.ndarray | None = None
    skipped: list[SkippedRow] = field(default_factory=list)
    part: list[str] | None = None  # with separate val/test files: the file each row came from
    files: list[str] = field(default_factory=list)  # files whose content determines the SMILES (cache key)
    class_names: list[str] | None = None  # multiclass: class id -> label as written in the file
    meta: dict = field(default_factory=dict)  # source facts (default task, test split reuses val, ...)

    def __len__(self) -> int:
        return len(self.smiles)

    def subset(self, keep: Sequence[int]) -> "MoleculeTable":
        keep = np.asarray(keep, dtype=np.int64)
        pick = lambda values: None if values is None else [values[i] for i in keep]  # noqa: E731
        return MoleculeTable(
            smiles=pick(self.smiles), targets=self.targets[keep], target_names=self.target_names,
            rows=self.rows[keep], source=self.source, total_records=self.total_records, split=pick(self.split),
            weights=None if self.weights is None else self.weights[keep], skipped=list(self.skipped),
            part=pick(self.part), files=list(self.files), class_names=self.class_names, meta=dict(self.meta))


# ----------------------------------------------------------------------------------------------- cells
def parse_target(cell: str) -> float:
    """A target cell as float; NaN for a missing marker; ValueError for other text or infinity."""
    text = cell.strip()
    if text.lower() in MISSING_MARKERS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"non-numeric target {text!r}") from None
    if math.isinf(value):
        raise ValueError(f"infinite target {text!r}")
    if abs(value) > FLOAT32_MAX:  # finite here, but inf in the float32 batches and the loss
        raise ValueError(f"target {text!r} is outside the float32 range (magnitude above {FLOAT32_MAX:.3g})")
    return value


def parse_weight(cell: str) -> float:
    """A sample-weight cell as a finite, non-negative float; ValueError with the reason otherwise."""
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"non-numeric weight {text!r}") from None
    if not math.isfinite(value) or value < 0 or value > FLOAT32_MAX:
        raise ValueError(f"weight {text!r} must be a finite number >= 0")
    return value


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING_MARKERS


def is_number_or_missing(cell: str) -> bool:
    try:
        parse_target(cell)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------- records
@dataclass
class Records:
    """The data records of one file: column names and a re-iterable stream of records.

    `read()` yields `(row, cells, problem)`: the 1-based record number, the cells aligned with `columns`
    (None when the record itself is unreadable) and, for unreadable records, the reason.
    """

    source: str
    columns: list[str]
    read: Callable[[], Iterator[tuple[int, list[str] | None, str | None]]]
    smiles_column: int = 0  # default SMILES column when the user names none
    default_targets: list[int] | None = None  # default target columns (None = every other column)
    files: list[str] = field(default_factory=list)
    decimal_comma: bool = False  # number cells may use ',' as the decimal mark (';'-separated files)


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a text file, transparently decompressing `.gz`; BOM-tolerant."""
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, newline="", encoding="utf-8-sig")


def check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


def read_guarded(path: Path, iterate: Callable[[], Iterator]) -> Iterator:
    """Turn I/O and decoding failures mid-file into one-line DataErrors naming the file."""
    try:
        yield from iterate()
    except READ_ERRORS as err:
        raise DataError(f"{path}: cannot read file ({type(err).__name__}: {err})") from None


_CXSMILES_EXTENSION = re.compile(r"\s\|[^|]*\|")
SNIFF_LINES = 20


def detect_delimiter(sample: Sequence[str], path: str | Path) -> str:
    """The separator of a delimited text file from its first lines (comments and blank lines left out).

    `.tsv` files: tab. Otherwise tab, then ';', when every sampled line holds the same number of them (SMILES
    never contain either; CXSMILES extensions are ignored), else ','. A comma alone is ambiguous: in a
    ';'-separated file it is the decimal mark ("CCO;1,5"), so ';' is tried first.
    """
    if any(s.lower() == ".tsv" for s in Path(path).suffixes):
        return "\t"
    lines = [_CXSMILES_EXTENSION.sub(" ", line) for line in sample if line.strip()]
    for candidate in ("\t", ";"):
        counts = {line.count(candidate) for line in lines}
        if lines and len(counts) == 1 and counts.pop() > 0:
            return candidate
    return ","


def _is_molecule(cell: str) -> bool:
    from graphormer.chem import MoleculeError, parse_smiles  # RDKit only when a header is in doubt

    try:
        parse_smiles(cell)
    except MoleculeError:
        return False
    return True


def first_line_is_data(cells: Sequence[str], smiles_index: int | None = None, decimal_comma: bool = False) -> bool:
    """Whether a CSV's first line is a record rather than a header (users often save SMILES lists bare).

    With the SMILES column's position known: that cell is a molecule. Otherwise: every cell is a molecule or
    a number (or empty; "1,5" too with `decimal_comma`) and at least one is a molecule. A header such as
    "smiles,tpsa" never is.
    """
    if smiles_index is not None:
        return -len(cells) <= smiles_index < len(cells) and _is_molecule(cells[smiles_index].strip())
    molecules = [_is_molecule(c.strip()) if c.strip() else False for c in cells]
    numbers = [is_number_or_missing(_DECIMAL_COMMA.sub(r"\1.\2", c) if decimal_comma else c) for c in cells]
    return any(molecules) and all(m or n for m, n in zip(molecules, numbers))


def _position(smiles_column: str | int | None, head: Sequence[str]) -> int | None:
    """The SMILES column's position in a first line that may be data: None when not given as a position or
    when it names a column of the line (then the line is a header)."""
    if isinstance(smiles_column, str) and smiles_column.lstrip("-").isdigit() and smiles_column not in head:
        smiles_column = int(smiles_column)
    if isinstance(smiles_column, int) and -len(head) <= smiles_column < len(head):
        return smiles_column
    return None


def headerless_columns(path: str | Path, width: int, smiles_index: int) -> list[str]:
    """Column names for a file whose first line is data (and says so in the log): smiles, column_<i>."""
    names = [f"column_{i}" if i != smiles_index else "smiles" for i in range(width)]
    log.warning("%s: the first line is a molecule, not a header: reading the file as headerless (columns %s)",
                path, ", ".join(names))
    return names


def csv_records(path: str | Path, has_header: bool | str = True, column_names: Sequence[str] | None = None,
                delimiter: str | None = None, smiles_column: str | int | None = None) -> Records:
    """Records of a CSV file (optionally gzipped). Lines starting with '#' are comments; blank lines are ignored.

    `delimiter=None` detects it from the first lines (`detect_delimiter`); ';'-separated files may write
    decimal commas in their number cells, as spreadsheets in comma-decimal locales do.
    `has_header="auto"`: a first line made of molecules and numbers is data (`first_line_is_data`), and the
    columns are then named by `headerless_columns`. With `smiles_column` known, only that cell decides: the first
    line is data when it is a molecule (a named column that the first line holds makes it a header).
    """
    path = check_file(path)

    def lines() -> Iterator[str]:
        with open_text(path) as handle:
            yield from (line for line in handle if not line.startswith("#"))

    sample = list(islice((line for line in read_guarded(path, lines) if line.strip()), SNIFF_LINES))
    if not sample:
        raise DataError(f"{path}: file is empty")
    sep = delimiter or detect_delimiter(sample, path)

    def rows() -> Iterator[list[str]]:
        for record in csv.reader(lines(), delimiter=sep):
            if record and any(cell.strip() for cell in record):
                yield record

    head = next(read_guarded(path, rows), None)
    if head is None:
        raise DataError(f"{path}: file is empty")
    default_smiles = 0
    if has_header == "auto":
        position = _position(smiles_column, head)
        has_header = not first_line_is_data(head, position, decimal_comma=sep == ";")
        if not has_header:
            default_smiles = position if position is not None else next(
                i for i, cell in enumerate(head) if cell.strip() and _is_molecule(cell.strip()))
            default_smiles %= len(head)
            column_names = column_names or headerless_columns(path, len(head), default_smiles)
    if has_header:
        columns = [h.strip() for h in head]
    else:
        columns = list(column_names) if column_names else [str(i) for i in range(len(head))]

    def read() -> Iterator[tuple[int, list[str], None]]:
        stream = read_guarded(path, rows)
        if has_header:
            next(stream, None)
        width = len(columns)
        for number, record in enumerate(stream, start=1):
            yield number, (record + [""] * (width - len(record)))[:width], None

    return Records(str(path), columns, read, smiles_column=default_smiles, files=[str(path)],
                   decimal_comma=sep == ";")


# ------------------------------------------------------------------------------------------ the table
def resolve_column(name: str | int, columns: list[str], source: str) -> int:
    """A column given by name or 0-based position (also as a digit string, e.g. from the command line)."""
    if isinstance(name, str) and name in columns:
        return columns.index(name)
    if isinstance(name, int) or (isinstance(name, str) and name.lstrip("-").isdigit()):
        index = int(name)
        if not -len(columns) <= index < len(columns):
            raise DataError(f"{source}: column index {index} out of range (file has {len(columns)} columns)")
        return index % len(columns)
    raise DataError(f"{source}: no column named {name!r} (columns: {', '.join(columns)})")


@dataclass
class _Layout:
    smiles: int
    targets: list[int]
    split: int | None
    weight: int | None


def _layout(records: Records, smiles_column, target_columns, split_column, weight_column,
            target_names: Sequence[str] | None) -> _Layout:
    cols, src = records.columns, records.source
    smiles_idx = resolve_column(smiles_column if smiles_column is not None else records.smiles_column, cols, src)
    split_idx = resolve_column(split_column, cols, src) if split_column else None
    weight_idx = resolve_column(weight_column, cols, src) if weight_column else None
    if target_columns is not None:
        target_idx = [resolve_column(c, cols, src) for c in target_columns]
    elif target_names is not None:  # a val/test file follows the main file's targets, by name
        target_idx = [resolve_column(c, cols, src) for c in target_names]
    elif records.default_targets is not None:
        target_idx = list(records.default_targets)
    else:
        used = {smiles_idx, split_idx, weight_idx}
        target_idx = [i for i in range(len(cols)) if i not in used]
    if not target_idx:
        raise DataError(f"{src}: no target columns")
    return _Layout(smiles_idx, target_idx, split_idx, weight_idx)


def collect_classes(files: Sequence[Records], layouts: Sequence[_Layout]) -> list[str]:
    """Class labels of a multiclass column across all files: integer ids stay ids, text labels are sorted."""
    labels: set[str] = set()
    for records, layout in zip(files, layouts):
        col = layout.targets[0]
        for _, cells, problem in records.read():
            if problem is None and not is_missing(cells[col]):
                labels.add(cells[col].strip())
    numeric = [_as_class_id(v) for v in labels]
    if labels and all(v is not None for v in numeric):
        return [str(i) for i in range(max(numeric) + 1)]
    return sorted(labels)


def _as_class_id(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() and value >= 0 else None


def _decimal_points(cells: list[str], columns: Sequence[int]) -> list[str]:
    """Cells of `columns` written with a decimal comma ('20,2') rewritten with a point."""
    out = list(cells)
    for col in columns:
        out[col] = _DECIMAL_COMMA.sub(r"\1.\2", out[col])
    return out


def _decimal_comma_columns(records: Records, layout: _Layout) -> list[int]:
    """Number columns of a ';' file that use the decimal comma: no cell of theirs holds a decimal point (a
    column that does, e.g. "2.5" beside "1,234", keeps "1,234" unread rather than guess thousands)."""
    columns = [*layout.targets, *([layout.weight] if layout.weight is not None else [])]
    pointed = set()
    for _, cells, problem in records.read():
        if problem is None:
            pointed.update(c for c in columns if "." in cells[c])
    chosen = [c for c in columns if c not in pointed]
    if chosen:
        log.warning("%s: ';'-separated, reading decimal commas in column(s) %s", records.source,
                    ", ".join(records.columns[c] for c in chosen))
    return chosen


def _labels(cells: list[str], layout: _Layout, task: str, classes: dict[str, int] | None) -> list[float]:
    """Target values of one record; raises ValueError with a user-facing reason."""
    if task == "multiclass":
        cell = cells[layout.targets[0]].strip()
        if is_missing(cell):
            return [math.nan]
        key = str(_as_class_id(cell)) if _as_class_id(cell) is not None and cell not in classes else cell
        if key not in classes:
            raise ValueError(f"unknown class {cell!r}")
        return [float(classes[key])]
    values = []
    for i in layout.targets:
        value = parse_target(cells[i])  # ValueError names the problem
        if task == "classification" and not math.isnan(value) and value not in (0.0, 1.0):
            raise ValueError(f"classification label must be 0 or 1, got {cells[i].strip()!r}")
        values.append(value)
    return values


def build_table(
    files: Sequence[tuple[Records, str | None]],
    *,
    smiles_column: str | int | None = None,
    target_columns: Sequence[str | int] | None = None,
    split_column: str | None = None,
    weight_column: str | None = None,
    task: str = "regression",
    target_names: Sequence[str] | None = None,
) -> MoleculeTable:
    """One table from the records of one or more files.

    `files` pairs each file's records with the split part it supplies (None for the main file, or
    "train" / "val" / "test" for separate files). Rows whose targets hold non-numeric text, or that have
    no label at all, are recorded in `skipped` (never dropped silently). With several files, each skip
    reason starts with the file name, since row numbers restart in every file.
    """
    if task not in TASKS:
        raise DataError(f"data.task must be one of {', '.join(TASKS)}; got {task!r}")
    main = files[0][0]
    layouts = [_layout(main, smiles_column, target_columns, split_column, weight_column, None)]
    names = list(target_names) if target_names is not None else [main.columns[i] for i in layouts[0].targets]
    for records, _ in files[1:]:  # later files use the main file's column names
        by_name = [main.columns[i] for i in layouts[0].targets]
        layouts.append(_layout(records, smiles_column, None, None, weight_column, by_name))
    if task == "multiclass" and len(layouts[0].targets) != 1:
        raise DataError(f"{main.source}: data.task=multiclass takes exactly one target column "
                        f"(class ids or labels); got {len(layouts[0].targets)}")
    class_names = collect_classes([r for r, _ in files], layouts) if task == "multiclass" else None
    classes = {name: i for i, name in enumerate(class_names)} if class_names is not None else None

    smiles, targets, rows, splits, weights, parts, skipped = [], [], [], [], [], [], []
    total = 0
    several = len(files) > 1
    part_files = {}
    for (records, part), layout in zip(files, layouts):
        name = Path(records.source).name if several else ""
        part_files[str(part)] = name
        comma_columns = _decimal_comma_columns(records, layout) if records.decimal_comma else []
        for row, cells, problem in records.read():
            total += 1
            if problem is not None:
                skipped.append(SkippedRow(row, "", problem, name))
                continue
            smi = cells[layout.smiles].strip()
            if comma_columns:
                cells = _decimal_points(cells, comma_columns)
            try:
                values = _labels(cells, layout, task, classes)
            except ValueError as err:
                skipped.append(SkippedRow(row, smi, str(err), name))
                continue
            weight = None
            if layout.weight is not None:
                try:
                    weight = parse_weight(cells[layout.weight])
                except ValueError as err:
                    skipped.append(SkippedRow(row, smi, str(err), name))
                    continue
            if all(math.isnan(v) for v in values):
                skipped.append(SkippedRow(row, smi, "no label (all targets missing)", name))
                continue
            smiles.append(smi)
            targets.append(values)
            rows.append(row)
            parts.append(part)
            if layout.split is not None:
                splits.append(cells[layout.split].strip().lower())
            if weight is not None:
                weights.append(weight)

    width = len(layouts[0].targets)
    has_split = layouts[0].split is not None and not several
    return MoleculeTable(
        smiles=smiles,
        targets=np.asarray(targets, dtype=np.float64).reshape(len(smiles), width),
        target_names=names,
        rows=np.asarray(rows, dtype=np.int64),
        source=main.source,
        total_records=total,
        split=splits if has_split else None,
        weights=np.asarray(weights, dtype=np.float64) if layouts[0].weight is not None else None,
        skipped=skipped,
        part=parts if several else None,
        files=[f for records, _ in files for f in records.files],
        class_names=class_names,
        meta={"part_files": part_files} if several else {},
    )


def read_csv_table(
    path: str | Path,
    smiles_column: str | int | None = None,
    target_columns: Sequence[str | int] | None = None,
    split_column: str | None = None,
    weight_column: str | None = None,
    has_header: bool = True,
    target_names: Sequence[str] | None = None,
    task: str = "regression",
) -> MoleculeTable:
    """Read a CSV of SMILES and targets with chemprop-like defaults.

    Defaults: SMILES in the first column, every other column (except split/weight) a target.
    """
    records = csv_records(path, has_header=has_header)
    return build_table([(records, None)], smiles_column=smiles_column, target_columns=target_columns,
                       split_column=split_column, weight_column=weight_column, task=task,
                       target_names=target_names)
