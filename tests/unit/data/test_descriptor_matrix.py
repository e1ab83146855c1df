"""The cached, chunked descriptor matrix: same values as one-by-one computation, resumable chunk by chunk."""

from __future__ import annotations

import numpy as np

from graphormer.chem.descriptors import calc_descriptors
from graphormer.data import descriptors as dm
from tests.conftest import nci_rows

NAMES = ["MolWt", "TPSA", "NumHDonors", "MaxAbsEStateIndex", "BertzCT"]


def test_chunks_are_cached_and_an_interrupted_run_recomputes_only_missing_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(dm, "CHUNK", 10)
    smiles = [s for s, _ in nci_rows(35)] + ["not a smiles"]
    expected = np.stack([calc_descriptors(s, NAMES) for s in smiles]).astype(np.float32)
    first = dm.descriptor_matrix(smiles, NAMES, cache_dir=tmp_path, workers=0, progress=False)
    np.testing.assert_array_equal(first, expected)
    assert np.isnan(first[-1]).all()
    files = sorted((tmp_path / "descriptors").glob("*.npy"))
    assert len(files) == 4
    (tmp_path / "descriptors" / f"{dm._chunk_key(smiles[20:30], NAMES)}.npy").unlink()  # killed before chunk 3
    calls = []
    real = dm._compute_chunk
    monkeypatch.setattr(dm, "_compute_chunk", lambda job: calls.append(len(job[0])) or real(job))
    again = dm.descriptor_matrix(smiles, NAMES, cache_dir=tmp_path, workers=0, progress=False)
    np.testing.assert_array_equal(again, expected)
    assert calls == [10]


def test_process_pool_gives_the_same_matrix(tmp_path, monkeypatch):
    monkeypatch.setattr(dm, "CHUNK", 8)
    smiles = [s for s, _ in nci_rows(20)]
    pooled = dm.descriptor_matrix(smiles, NAMES, cache_dir=None, workers=2, progress=False)
    np.testing.assert_array_equal(pooled, dm.descriptor_matrix(smiles, NAMES, workers=0, progress=False))
