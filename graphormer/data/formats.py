"""The one reader family for molecule files: CSV/TSV, SMILES files and SDF, each turned into `Records`.

Training tables (`build_table`) and prediction inputs (`inference.readers.InputReader`) both read files through
`file_records`, so a file means the same thing to `train` and to `predict`. The rules (also in the README):

* The format comes from the extension (`.gz` ignored): `.sdf/.sd/.mol` SDF, `.smi/.smiles/.ism/.txt`
  SMILES file, anything else delimited text (`.tsv` tab, otherwise detected: tab, ';' or ',').
* Delimited text: '#' lines are comments, blank lines are ignored; a first line whose SMILES cell (the named or
  numbered `smiles_column`, or any cell when none is given) is a molecule is data, not a header.
* SMILES files: whitespace-separated, the SMILES first (always split off); a first word `smiles` or `smi` makes
  the line a header; there are at least two columns (`column_1` for what follows the SMILES when nothing names
  it), and the last column keeps its spaces (a name such as "phenol, technical grade").
* SDF: columns `name` (the title line), `smiles` (written from the structure), then the data fields of the first
  readable record. Records are read with RDKit's sanitization, so stereochemistry from wedges or 3D
  coordinates is kept; a record that fails it is written as SMILES from its unsanitized form, and the featurizer
  then says why it cannot be used (the same reason a bad SMILES gets). A record RDKit cannot read at all is
  reported as "unreadable SDF record".
* Rows are numbered 1, 2, ... among the file's data records (header, comments and blank lines not counted).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Iterator

from graphormer.chem.parse import quiet_rdkit
from graphormer.data.table import (DataError, Records, check_file, csv_records, is_number_or_missing, open_text,
                                   read_guarded)

FORMATS = ("csv", "sdf", "smi")
SMI_HEADER_WORDS = ("smiles", "smi")


def file_format(path: str | Path, declared: str | None = None) -> str:
    """The format of a file: `declared` when it names one, else from the extension (.gz ignored)."""
    if declared in FORMATS:
        return declared
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".gz"]
    ext = suffixes[-1].lstrip(".") if suffixes else ""
    if ext in ("sdf", "sd", "mol"):
        return "sdf"
    if ext in ("smi", "smiles", "ism", "txt"):
        return "smi"
    return "csv"


def numeric_columns(records: Records, exclude: set[int]) -> list[int]:
    """Default targets for formats without a header convention: columns numeric in the first record."""
    for _, cells, problem in records.read():
        if problem is None:
            return [i for i, cell in enumerate(cells) if i not in exclude and is_number_or_missing(cell)]
    return []


# -------------------------------------------------------------------------------------------------- SDF
def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _sdf_pairs(path: Path) -> Iterator:
    """(sanitized mol or None, unsanitized mol or None) per record: two suppliers in lockstep."""
    from rdkit import Chem

    def pairs():
        with quiet_rdkit(), _open_binary(path) as handle, _open_binary(path) as raw_handle:
            raw = Chem.ForwardSDMolSupplier(raw_handle, sanitize=False, removeHs=False)
            yield from zip(Chem.ForwardSDMolSupplier(handle), raw)

    return read_guarded(path, pairs)


def _structure_smiles(mol, unsanitized) -> tuple[str, str | None]:
    """The record's SMILES and, when there is none, why."""
    from rdkit import Chem

    if unsanitized is None:
        return "", "unreadable SDF record"
    if unsanitized.GetNumAtoms() == 0:
        return "", "empty molecule (no atoms)"
    if mol is not None:
        return Chem.MolToSmiles(mol), None
    try:
        unsanitized.UpdatePropertyCache(strict=False)
        return Chem.MolToSmiles(unsanitized), None
    except Exception as err:  # RDKit raises assorted types on broken structures
        return "", f"unreadable SDF record (cannot write SMILES for the structure: {err})"


def _sdf_reader(path: Path) -> Records:
    props = next(([*m.GetPropNames()] for pair in _sdf_pairs(path) for m in pair if m is not None), None)
    if props is None:
        raise DataError(f"{path}: no molecules in the file (no readable SDF record)")
    columns = ["name", "smiles", *props]

    def read():
        for number, (mol, unsanitized) in enumerate(_sdf_pairs(path), start=1):
            smiles, problem = _structure_smiles(mol, unsanitized)
            source = mol if mol is not None else unsanitized
            if source is None:
                yield number, ["", "", *[""] * len(props)], problem
                continue
            name = source.GetProp("_Name") if source.HasProp("_Name") else ""
            yield number, [name, smiles, *[source.GetProp(p) if source.HasProp(p) else "" for p in props]], problem

    return Records(str(path), columns, read, smiles_column=1, files=[str(path)])


SDF_CONVERTER_VERSION = "sdf-smiles-2"  # bump when the SDF → SMILES rule changes (names the cached CSV)


def sdf_records(path: str | Path, cache_dir: str | Path | None = None) -> Records:
    """One record per SDF molecule block (see the module's rules).

    With `cache_dir`, the conversion to SMILES happens once and is kept there (no RDKit on later runs).
    """
    path = check_file(path)
    if cache_dir is None:
        records = _sdf_reader(path)
    else:
        from graphormer.data.cache import file_digest, materialized

        key = f"{file_digest(path)[:24]}-{SDF_CONVERTER_VERSION}"
        out = Path(cache_dir) / f"sdf-{path.name.split('.')[0]}-{key}.csv.gz"
        records = materialized(lambda: _sdf_reader(path), out, str(path), [str(path)])
        records.smiles_column = 1
    records.default_targets = numeric_columns(records, exclude={0, 1})
    return records


# -------------------------------------------------------------------------------------------------- SMI
def smi_records(path: str | Path) -> Records:
    """Whitespace-separated SMILES files (see the module's rules)."""
    path = check_file(path)

    def text() -> Iterator[str]:
        with open_text(path) as handle:
            for line in handle:
                if line.strip() and not line.lstrip().startswith("#"):
                    yield line.strip()

    lines = lambda: read_guarded(path, text)  # noqa: E731

    first = next(lines(), None)
    if first is None:
        raise DataError(f"{path}: no molecules in the file (it is empty)")
    words = first.split()
    has_header = words[0].lower() in SMI_HEADER_WORDS
    columns = words if has_header else ["smiles"]
    # the SMILES is always the first word; what follows it always has a column (a name, as .smi files have)
    columns += [f"column_{i}" for i in range(len(columns), max(len(words), 2))]

    def read():
        stream = lines()
        if has_header:
            next(stream, None)
        width = len(columns)
        for number, line in enumerate(stream, start=1):
            cells = line.split(maxsplit=width - 1)  # the last column keeps its spaces
            yield number, cells + [""] * (width - len(cells)), None

    records = Records(str(path), columns, read, smiles_column=0, files=[str(path)])
    records.default_targets = numeric_columns(records, exclude={0})
    return records


def file_records(path: str | Path, fmt: str | None = None, cache_dir: str | Path | None = None,
                 smiles_column: str | int | None = None) -> Records:
    """Records of a molecule file in any supported format (`cache_dir` keeps converted SDF files).

    `smiles_column` (delimited text only) tells whether a first line is a header: it is not when that cell is a
    molecule.
    """
    kind = file_format(path, fmt)
    if kind == "sdf":
        return sdf_records(path, cache_dir)
    if kind == "smi":
        return smi_records(path)
    return csv_records(path, has_header="auto", smiles_column=smiles_column)
