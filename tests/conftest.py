"""Shared test fixtures: real molecules from the RDKit wheel, and the optional ../shared datasets."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny tensors gain nothing from two OpenMP threads, and on a busy 2-core machine the threads
    fight over cores (measured here: 20-100x slower). Subprocesses get OMP_NUM_THREADS=1 likewise."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout (or $GRAPHORMER_SHARED_DATA); None when absent."""
    candidates = [os.environ.get("GRAPHORMER_SHARED_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is not present (set GRAPHORMER_SHARED_DATA to run this test)")
    return path


def nci_rows(limit: int | None = None) -> list[tuple[str, float]]:
    """(SMILES, TPSA) rows of the NCI file shipped inside the RDKit wheel."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"
    rows = []
    with open(path) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            smiles, tpsa = line.rsplit(",", 1)
            rows.append((smiles, float(tpsa)))
            if limit and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="session")
def nci_csv(tmp_path_factory) -> Path:
    """300 real NCI molecules as a CSV with a header: smiles,tpsa."""
    path = tmp_path_factory.mktemp("nci") / "nci300.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "tpsa"])
        writer.writerows(nci_rows(300))
    return path
