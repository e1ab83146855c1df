"""Readers for the user's own molecule files: CSV, SDF and SMILES files, each turned into `Records`.

SDF records are converted to SMILES here (RDKit, unsanitized, so a broken molecule still reaches the
featurizer and gets its precise reason there); a record RDKit cannot read at all is reported with its
record number. In .smi files, columns are whitespace-separated, the SMILES comes first, and a first line
whose first word is "smiles" is a header.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Iterator

from graphormer.data.table import (READ_ERRORS, DataError, Records, check_file, csv_records, is_number_or_missing,
                                   open_text)

FORMATS = ("csv", "sdf", "smi")


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
def _sdf_molecules(path: Path) -> Iterator:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # the reason for a bad record is reported per row instead
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            yield from Chem.ForwardSDMolSupplier(handle, sanitize=False, removeHs=False)
    except READ_ERRORS as err:
        raise DataError(f"{path}: cannot read file ({type(err).__name__}: {err})") from None
    finally:
        RDLogger.EnableLog("rdApp.*")


def _mol_smiles(mol) -> str:
    from rdkit import Chem

    mol.UpdatePropertyCache(strict=False)
    return Chem.MolToSmiles(mol)


def _sdf_property_names(path: Path) -> list[str]:
    for mol in _sdf_molecules(path):
        if mol is not None:
            return list(mol.GetPropNames())
    raise DataError(f"{path}: no readable SDF record")


SDF_CONVERTER_VERSION = "sdf-smiles-1"  # bump when the SDF → SMILES rule changes (names the cached CSV)


def _sdf_reader(path: Path) -> Records:
    props = _sdf_property_names(path)
    columns = ["smiles"] + [p for p in props if p.lower() != "smiles"]

    def read():
        for number, mol in enumerate(_sdf_molecules(path), start=1):
            if mol is None:
                yield number, None, "unreadable SDF record"
                continue
            try:
                smiles = _mol_smiles(mol)
            except Exception as err:  # RDKit raises assorted types on broken structures
                yield number, None, f"cannot write SMILES for the structure ({err})"
                continue
            values = mol.GetPropsAsDict(includePrivate=False, includeComputed=False)
            yield number, [smiles] + [str(values.get(c, "")) for c in columns[1:]], None

    return Records(str(path), columns, read, smiles_column=0, files=[str(path)])


def sdf_records(path: str | Path, cache_dir: str | Path | None = None) -> Records:
    """One record per SDF molecule block: column "smiles" (from the structure) then its data fields.

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
    records.default_targets = numeric_columns(records, exclude={0})
    return records


# -------------------------------------------------------------------------------------------------- SMI
def smi_records(path: str | Path) -> Records:
    """Whitespace-separated SMILES files; '#' lines are comments; an optional header starts with 'smiles'."""
    path = check_file(path)

    def lines() -> Iterator[list[str]]:
        try:
            with open_text(path) as handle:
                for line in handle:
                    if line.strip() and not line.lstrip().startswith("#"):
                        yield line.split()
        except READ_ERRORS as err:
            raise DataError(f"{path}: cannot read file ({type(err).__name__}: {err})") from None

    first = next(lines(), None)
    if first is None:
        raise DataError(f"{path}: file is empty")
    has_header = first[0].lower() == "smiles"
    columns = first if has_header else ["smiles"] + [f"column_{i}" for i in range(1, len(first))]

    def read():
        stream = lines()
        if has_header:
            next(stream, None)
        width = len(columns)
        for number, cells in enumerate(stream, start=1):
            # A name with spaces would split into several cells: keep the SMILES and numbers in place.
            yield number, (cells + [""] * (width - len(cells)))[:width], None

    records = Records(str(path), columns, read, smiles_column=0, files=[str(path)])
    records.default_targets = numeric_columns(records, exclude={0})
    return records


def file_records(path: str | Path, fmt: str | None = None, cache_dir: str | Path | None = None) -> Records:
    """Records of a user file in any supported format (`cache_dir` keeps converted SDF files)."""
    kind = file_format(path, fmt)
    if kind == "sdf":
        return sdf_records(path, cache_dir)
    if kind == "smi":
        return smi_records(path)
    return csv_records(path, has_header="auto")
