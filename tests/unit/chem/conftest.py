"""Fixtures for the chem tests: the RDKit NCI set and the optional ../shared datasets.

Helpers are handed out as fixtures because the project runs pytest with
--import-mode=importlib, where test modules cannot import sibling helper modules.
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Callable

import pytest


# `shared_data` (../shared/data or $GRAPHORMER_SHARED_DATA, skipping when absent) comes from tests/conftest.py.


@pytest.fixture(scope="session")
def nci_smiles() -> list[str]:
    """The 4,999 NCI SMILES shipped in the RDKit wheel (one '#' comment line, no header, smiles,tpsa)."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"
    with open(path) as handle:
        return [line.rsplit(",", 1)[0] for line in handle if line.strip() and not line.startswith("#")]


def _read_csv_column(path: Path, column: str, limit: int | None = None) -> list[str]:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    values: list[str] = []
    with io.TextIOWrapper(raw, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if limit is not None and len(values) >= limit:
                break
            values.append(row[column])
    return values


def _read_index_file(path: Path) -> list[int]:
    with io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8") as handle:
        return sorted(int(token) for token in handle.read().split())


@pytest.fixture(scope="session")
def read_csv_column() -> Callable[..., list[str]]:
    """``read(path, column, limit=None)``: one column of a (gzipped) CSV with a header."""
    return _read_csv_column


@pytest.fixture(scope="session")
def read_index_file() -> Callable[[Path], list[int]]:
    """``read(path)``: an OGB split file (gzipped, one row index per line) as sorted ints."""
    return _read_index_file
