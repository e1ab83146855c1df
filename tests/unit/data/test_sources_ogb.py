"""OGB graph-property sources: official splits, mapping-only folders, identity with OGB's own loader."""

from __future__ import annotations

import builtins
import gzip
import shutil

import numpy as np
import pytest
import torch

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.data.ogb import load_ogb_dataset, load_ogbg, no_interactive_prompts
from graphormer.data.table import DataError

OFFICIAL = {"ogbg-molbbbp": (1631, 204, 204), "ogbg-molesol": (902, 113, 113), "ogbg-molfreesolv": (513, 64, 65)}


def ogbg_module(root, name, cache, run_dir=None, **kw):
    return MoleculeDataModule(source="ogbg", name=name, root=str(root), task=None, split="predefined",
                              allow_valence_errors=True, cache_dir=str(cache), download=False, progress=False,
                              run_dir=str(run_dir) if run_dir else None, **kw)


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_split_sizes_and_indices(shared_data, session_cache, tmp_path, name, ogb_indices, read_rows,
                                          check_batches):
    dm = ogbg_module(shared_data, name, session_cache, run_dir=tmp_path)
    dm.setup()
    assert tuple(len(dm.datasets[p]) for p in ("train", "val", "test")) == OFFICIAL[name]
    assert dm.task == ("classification" if name == "ogbg-molbbbp" else "regression")
    # split.csv row r is OGB graph r - 1, and the parts are OGB's index files
    written = read_rows(tmp_path / "split.csv")
    expected = ogb_indices(shared_data / name.replace("-", "_"))
    for part, idx in expected.items():
        assert sorted(int(r["row"]) - 1 for r in written if r["split"] == part) == sorted(idx.tolist())
    assert "skipped 0 of" in dm.summary
    check_batches(dm)


def test_moltox21_twelve_tasks_with_missing_labels(shared_data, session_cache, check_batches):
    dm = ogbg_module(shared_data, "ogbg-moltox21", session_cache, batch_size=128)
    dm.setup()
    assert dm.num_targets == 12 and dm.task == "classification"
    assert sum(len(d) for d in dm.datasets.values()) == 7831
    assert np.isnan(dm.tables["train"].targets).any()
    batches = check_batches(dm)
    assert torch.isnan(batches[0]["y"]).any()


def _mapping_only_copy(shared_data, tmp_path, name, per_part):
    """A folder with only mapping/ and split/, holding the first `per_part` molecules of each OGB part."""
    src, dst = shared_data / name, tmp_path / name
    (dst / "mapping").mkdir(parents=True)
    (dst / "split" / "scaffold").mkdir(parents=True)
    with gzip.open(src / "mapping" / "mol.csv.gz", "rt") as handle:
        header, *lines = handle.readlines()
    chosen = {}
    for part in ("train", "valid", "test"):
        with gzip.open(src / "split" / "scaffold" / f"{part}.csv.gz", "rt") as handle:
            chosen[part] = [int(line) for line in handle][:per_part]
    order = sorted(i for idx in chosen.values() for i in idx)
    new_index = {old: new for new, old in enumerate(order)}
    with gzip.open(dst / "mapping" / "mol.csv.gz", "wt") as handle:
        handle.writelines([header] + [lines[i] for i in order])
    for part, idx in chosen.items():
        with gzip.open(dst / "split" / "scaffold" / f"{part}.csv.gz", "wt") as handle:
            handle.writelines(f"{new_index[i]}\n" for i in sorted(idx))
    return tmp_path


def test_molhiv_mapping_only_folder(shared_data, tmp_path, check_batches):
    root = _mapping_only_copy(shared_data, tmp_path, "ogbg_molhiv", per_part=200)
    dm = ogbg_module(root, "ogbg-molhiv", tmp_path / "cache", pos_weight="auto")
    dm.setup()
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [200, 200, 200]
    assert dm.task == "classification" and dm.target_names == ["HIV_active"]
    assert dm.pos_weight is not None and dm.pos_weight[0] > 1  # HIV actives are rare
    check_batches(dm)


@pytest.mark.slow
def test_molhiv_keeps_official_size_with_valence_errors(shared_data, session_cache):
    dm = ogbg_module(shared_data, "ogbg-molhiv", session_cache)
    dm.setup()
    assert tuple(len(dm.datasets[p]) for p in ("train", "val", "test")) == (32901, 4113, 4113)
    assert "skipped 0 of 41127" in dm.summary


def test_molpcba_layout_128_tasks_missing_labels(tmp_path, real_smiles, check_batches):
    """molpcba has no shared copy: write a small folder in OGB's layout with real SMILES."""
    smiles = real_smiles(60)
    rng = np.random.default_rng(0)
    tasks = [f"PCBA-{i}" for i in range(128)]
    folder = tmp_path / "ogbg_molpcba"
    (folder / "mapping").mkdir(parents=True)
    (folder / "split" / "scaffold").mkdir(parents=True)
    with gzip.open(folder / "mapping" / "mol.csv.gz", "wt") as handle:
        handle.write(",".join(tasks + ["smiles", "mol_id"]) + "\n")
        for i, smi in enumerate(smiles):
            labels = rng.choice(["0", "1", ""], size=128, p=[0.6, 0.1, 0.3])
            handle.write(",".join(list(labels) + [smi, f"m{i}"]) + "\n")
    for part, idx in (("train", range(0, 40)), ("valid", range(40, 50)), ("test", range(50, 60))):
        with gzip.open(folder / "split" / "scaffold" / f"{part}.csv.gz", "wt") as handle:
            handle.writelines(f"{i}\n" for i in idx)
    dm = ogbg_module(tmp_path, "ogbg-molpcba", tmp_path / "cache", batch_size=16)
    dm.setup()
    assert dm.num_targets == 128 and dm.task == "classification"
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [40, 10, 10]
    y = check_batches(dm)[0]["y"]
    assert y.shape[1] == 128 and torch.isnan(y).any() and set(y[~torch.isnan(y)].unique().tolist()) <= {0.0, 1.0}


# --------------------------------------------------------------------------- OGB's own loader, offline
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_identical_graphs_to_ogb_loader(copy_shared, session_cache, name, monkeypatch):
    root = copy_shared(name.replace("-", "_"))

    def no_download(*args, **kwargs):
        raise AssertionError("the test must never download")

    monkeypatch.setattr("ogb.graphproppred.dataset_pyg.download_url", no_download)
    reference = load_ogb_dataset(name, root)  # processes the copied raw/ files, loads with torch >= 2.6
    table = load_ogbg(name, root, download=False)
    from graphormer.data.featurize import build_store

    store, usable = build_store(table, allow_valence_errors=True, cache_dir=session_cache, progress=False)
    assert len(store) == len(reference) == len(usable)
    for i in range(len(reference)):
        ours, theirs = store.graph(i), reference[int(usable.rows[i]) - 1]
        assert np.array_equal(ours.x.astype(np.int64), theirs.x.numpy()), i
        assert np.array_equal(ours.edge_index, theirs.edge_index.numpy()), i
        assert np.array_equal(ours.edge_attr.astype(np.int64), theirs.edge_attr.numpy()), i
    y = reference.y.numpy().astype(np.float64).reshape(len(reference), -1)
    assert np.allclose(usable.targets, y[usable.rows - 1], equal_nan=True)


def test_prompts_never_block_a_non_interactive_run(monkeypatch):
    class NotATerminal:
        def isatty(self):
            return False

    monkeypatch.setattr("sys.stdin", NotATerminal())
    original = builtins.input
    with no_interactive_prompts():
        assert input("Will you update the dataset now? (y/N)\n") == "n"  # never delete the user's folder
        with pytest.raises(DataError, match="not interactive"):
            input("This will download 1.50GB. Will you proceed? (y/N)\n")
    assert builtins.input is original


def test_folder_without_release_marker_is_not_deleted(copy_shared, monkeypatch):
    """OGB asks to 'update' a folder lacking RELEASE_v1.txt and deletes it on 'y': we answer 'n'."""
    root = copy_shared("ogbg_molfreesolv")
    (root / "ogbg_molfreesolv" / "RELEASE_v1.txt").unlink()
    monkeypatch.setattr("sys.stdin", None)
    dataset = load_ogb_dataset("ogbg-molfreesolv", root)
    assert len(dataset) == 642 and (root / "ogbg_molfreesolv" / "mapping" / "mol.csv.gz").is_file()


def test_missing_folder_without_download_is_one_line_error(tmp_path):
    with pytest.raises(DataError, match="ogbg_molhiv: OGB dataset folder not found"):
        load_ogbg("ogbg-molhiv", tmp_path, download=False)


def test_missing_folder_uses_ogb_downloader(tmp_path, shared_data, monkeypatch):
    """The download path calls OGB's PygGraphPropPredDataset; simulated here, never run for real."""
    calls = []

    def fake_ogb(name, root):
        calls.append(name)
        shutil.copytree(shared_data / "ogbg_molesol", tmp_path / "ogbg_molesol")

    monkeypatch.setattr("graphormer.data.ogb.load_ogb_dataset", fake_ogb)
    table = load_ogbg("ogbg-molesol", tmp_path, download=True)
    assert calls == ["ogbg-molesol"] and len(table) == 1128


def test_unknown_ogb_name(tmp_path):
    with pytest.raises(DataError, match="unknown OGB dataset"):
        load_ogbg("ogbg-molnothing", tmp_path, download=False)
