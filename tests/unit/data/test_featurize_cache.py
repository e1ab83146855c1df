"""Featurization cache: reuse without RDKit, damage detection, content keys, read-only roots, workers, locks."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

from graphormer.data.cache import default_workers, resolve_cache_dir
from graphormer.data.datamodule import MoleculeDataModule
from graphormer.data.featurize import build_store, cache_key, cached_featurize, featurize_smiles
from graphormer.data.store import GraphStore
from graphormer.data.table import read_csv_table


@pytest.fixture
def csv_file(tmp_path, real_smiles):
    path = tmp_path / "mols.csv"
    path.write_text("smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(real_smiles(80))) + "C1CC,3\n")
    return path


def no_rdkit(*args, **kwargs):
    raise AssertionError("RDKit featurization must not run when the cache is valid")


def test_second_run_does_no_rdkit_work(csv_file, tmp_path, monkeypatch):
    kw = dict(source="csv", path=str(csv_file), cache_dir=str(tmp_path / "cache"), progress=False)
    first = MoleculeDataModule(**kw)
    first.setup()
    monkeypatch.setattr("graphormer.data.featurize.smiles_to_graph", no_rdkit)
    second = MoleculeDataModule(**kw)
    second.setup()
    for part in ("train", "val", "test"):
        a, b = first.datasets[part].store, second.datasets[part].store
        assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("x", "edge_index", "edge_attr", "node_ptr"))
    assert first.summary.split(" (")[0] == second.summary.split(" (")[0] == "skipped 1 of 81 rows"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "inconsistent"])
def test_damaged_cache_is_rebuilt_with_warning(csv_file, tmp_path, caplog, damage):
    table = read_csv_table(csv_file)
    cache = tmp_path / "cache"
    store, reasons = cached_featurize(table, allow_valence_errors=False, cache_dir=cache, workers=0, progress=False)
    (path,) = cache.glob("graphs-*.npz")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache")
    else:  # a readable file whose arrays do not fit together
        broken = GraphStore(store.x[:-3], store.edge_index, store.edge_attr, store.node_ptr, store.edge_ptr)
        broken.save(path, failed_index=np.array(list(reasons)), failed_reason=np.array(list(reasons.values())),
                    n_smiles=np.array(len(table)))
    with caplog.at_level(logging.WARNING):
        again, again_reasons = cached_featurize(table, allow_valence_errors=False, cache_dir=cache, workers=0,
                                                progress=False)
    assert str(path) in caplog.text and "damaged" in caplog.text
    assert np.array_equal(again.x, store.x) and again_reasons == reasons
    GraphStore.load(path)[0].validate()  # rewritten


def test_key_follows_file_content_featurizer_and_options(csv_file, monkeypatch):
    table = read_csv_table(csv_file)
    key = cache_key(table, False)
    assert cache_key(table, True) != key
    monkeypatch.setattr("graphormer.data.featurize.FEATURIZER_VERSION", "other")
    assert cache_key(table, False) != key
    monkeypatch.undo()
    os.utime(csv_file, ns=(1, 1))  # same bytes: same key
    assert cache_key(read_csv_table(csv_file), False) == key
    csv_file.write_text(csv_file.read_text() + "# a comment changes the file, not the molecules\n")
    assert cache_key(read_csv_table(csv_file), False) != key


def test_read_only_root_falls_back_to_working_directory(tmp_path, monkeypatch, caplog, csv_file):
    root = tmp_path / "readonly"
    root.mkdir()
    root.chmod(0o555)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        with caplog.at_level(logging.WARNING):
            chosen = resolve_cache_dir(None, root)
        assert chosen.resolve() == (work / "data" / "cache").resolve()
        assert "not writable" in caplog.text and str(root / "cache") in caplog.text
        dm = MoleculeDataModule(source="csv", path=str(csv_file), root=str(root), progress=False)
        dm.setup()
        assert list((work / "data" / "cache").glob("graphs-*.npz")) and not (root / "cache").exists()
    finally:
        root.chmod(0o755)


def test_shared_root_is_never_written(shared_data, tmp_path, monkeypatch):
    """Reading a dataset from the shared root with the cache elsewhere leaves the root as it was, whether or
    not it is mounted read-only (the suite-wide guard in tests/conftest.py checks every other test)."""
    from tests.conftest import tree_snapshot

    monkeypatch.chdir(tmp_path)
    before = tree_snapshot(shared_data)
    dm = MoleculeDataModule(source="moleculenet", name="freesolv", root=str(shared_data), task=None,
                            cache_dir=str(tmp_path / "cache"), run_dir=str(tmp_path / "run"), download=False,
                            progress=False)
    dm.setup()
    assert len(dm.datasets["train"]) > 400  # FreeSolv: 642 molecules, 80% train
    assert tree_snapshot(shared_data) == before
    assert list((tmp_path / "cache").iterdir())  # the cache went where it was told


def test_parallel_featurization_matches_serial(real_smiles):
    smiles = real_smiles(1100) + ["C1CC", ""]
    serial, serial_bad = featurize_smiles(smiles, workers=0, progress=False)
    parallel, parallel_bad = featurize_smiles(smiles, workers=2, progress=False)
    assert serial_bad == parallel_bad and set(serial_bad) == {1100, 1101}
    for field in ("x", "edge_index", "edge_attr", "node_ptr", "edge_ptr"):
        assert np.array_equal(getattr(serial, field), getattr(parallel, field))


def test_default_workers():
    assert default_workers(100) == 0
    assert 0 <= default_workers(100_000) <= 8


def _build_in_process(args):
    csv_path, cache, counter = args
    import graphormer.data.featurize as featurize

    original = featurize.featurize_smiles

    def counting(*a, **k):
        with open(counter, "a") as handle:
            handle.write("built\n")
        return original(*a, **k)

    featurize.featurize_smiles = counting
    store, _ = featurize.cached_featurize(read_csv_table(csv_path), allow_valence_errors=False, cache_dir=cache,
                                          workers=0, progress=False)
    return len(store)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_concurrent_processes_build_the_cache_once(csv_file, tmp_path):
    counter = tmp_path / "count.txt"
    with mp.get_context("fork").Pool(3) as pool:
        sizes = pool.map(_build_in_process, [(csv_file, tmp_path / "cache", counter)] * 3)
    assert sizes == [80, 80, 80] and counter.read_text().count("built") == 1


def test_max_atoms_rows_are_skipped_with_reason(csv_file, tmp_path):
    table = read_csv_table(csv_file)
    store, usable = build_store(table, max_atoms=20, cache_dir=tmp_path / "c", progress=False)
    assert (store.num_nodes <= 20).all()
    reasons = [s.reason for s in usable.skipped]
    assert any("exceeds data.max_atoms=20" in r for r in reasons) and len(usable) + len(reasons) == 81


@pytest.mark.parametrize("max_atoms", [None, 1000])
def test_molecules_beyond_the_model_are_always_skipped(tmp_path, max_atoms):
    """The spatial table holds distances up to 509: a 511-atom chain would index past it."""
    path = tmp_path / "big.csv"
    path.write_text(f"smiles,y\nCCO,1\n{'C' * 510},2\n{'C' * 511},3\n")
    store, usable = build_store(read_csv_table(path), max_atoms=max_atoms, cache_dir=tmp_path / "c", progress=False)
    assert store.num_nodes.tolist() == [3, 510] and usable.rows.tolist() == [1, 2]
    assert [(s.row, s.reason) for s in usable.skipped] == [(3, "too large: 511 heavy atoms (the model encodes at "
                                                               "most 510)")]


def test_store_select_and_concat_round_trip(real_smiles):
    store, _ = featurize_smiles(real_smiles(20), progress=False)
    picked = store.select(np.array([5, 0, 19]))
    picked.validate()
    for new, old in enumerate([5, 0, 19]):
        a, b = picked.graph(new), store.graph(old)
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
    both = GraphStore.concat([store, picked])
    both.validate()
    assert len(both) == 23 and np.array_equal(both.graph(22).x, store.graph(19).x)


def test_store_save_is_atomic_and_loads(tmp_path, real_smiles):
    store, _ = featurize_smiles(real_smiles(5), progress=False)
    store.save(tmp_path / "s.npz")
    assert [p.name for p in Path(tmp_path).iterdir()] == ["s.npz"]
    loaded, extra = GraphStore.load(tmp_path / "s.npz")
    assert np.array_equal(loaded.x, store.x) and extra == {}
