"""MoleculeNet (PyG raw layout), QM9, ZINC (12k CSVs and PyG pickles) and PCQM4Mv2 (OGB-LSC layout)."""

from __future__ import annotations

import gzip
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.data.table import DataError


def module(cache, **kw):
    kw.setdefault("download", False)
    return MoleculeDataModule(cache_dir=str(cache), progress=False, **kw)


# ----------------------------------------------------------------------------------------- MoleculeNet
def test_moleculenet_pyg_raw_layout(shared_data, tmp_path, session_cache, check_batches):
    (tmp_path / "esol" / "raw").mkdir(parents=True)
    shutil.copy(shared_data / "moleculenet" / "ESOL.csv", tmp_path / "esol" / "raw" / "delaney-processed.csv")
    dm = module(session_cache, source="moleculenet", name="esol", root=str(tmp_path), task=None, split="random")
    dm.setup()
    expected = pd.read_csv(shared_data / "moleculenet" / "ESOL.csv")["measured log solubility in mols per litre"]
    assert dm.target_names == ["measured log solubility in mols per litre"] and dm.task == "regression"
    got = np.concatenate([dm.tables[p].targets[:, 0] for p in ("train", "val", "test")])
    assert sorted(got) == pytest.approx(sorted(expected))
    check_batches(dm)


def test_moleculenet_freesolv_and_flat_shared_copy(shared_data, session_cache):
    dm = module(session_cache, source="moleculenet", name="freesolv", root=str(shared_data), task=None)
    dm.setup()
    assert dm.target_names == ["expt"] and sum(len(d) for d in dm.datasets.values()) == 642


def test_moleculenet_lipophilicity_alias(tmp_path, real_smiles, check_batches):
    raw = tmp_path / "lipo" / "raw"
    raw.mkdir(parents=True)
    rows = [f"CHEMBL{i},{0.1 * i:.2f},{smi}" for i, smi in enumerate(real_smiles(40))]
    (raw / "Lipophilicity.csv").write_text("CMPD_CHEMBLID,exp,smiles\n" + "\n".join(rows) + "\n")
    dm = module(tmp_path / "cache", source="moleculenet", name="lipophilicity", root=str(tmp_path), task=None)
    dm.setup()
    assert dm.target_names == ["exp"] and dm.task == "regression"
    check_batches(dm)


def test_moleculenet_missing_file(tmp_path):
    dm = module(tmp_path / "cache", source="moleculenet", name="bace", root=str(tmp_path), task=None)
    with pytest.raises(DataError, match="bace/raw/bace.csv"):
        dm.setup()


# ------------------------------------------------------------------------------------------------ QM9
@pytest.fixture
def qm9_root(shared_data, tmp_path):
    with gzip.open(shared_data / "qm9" / "qm9.csv.gz", "rt") as handle:
        lines = [next(handle) for _ in range(401)]
    (tmp_path / "qm9").mkdir()
    with gzip.open(tmp_path / "qm9" / "qm9.csv.gz", "wt") as handle:
        handle.writelines(lines)
    return tmp_path


def test_qm9_default_target_and_seeded_random_split(qm9_root, check_batches):
    dm = module(qm9_root / "cache", source="qm9", root=str(qm9_root), split="random", split_seed=3)
    dm.setup()
    assert dm.target_names == ["gap"]
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [320, 40, 40]
    again = module(qm9_root / "cache", source="qm9", root=str(qm9_root), split="random", split_seed=3)
    again.setup()
    other = module(qm9_root / "cache", source="qm9", root=str(qm9_root), split="random", split_seed=4)
    other.setup()
    assert dm.tables["test"].rows.tolist() == again.tables["test"].rows.tolist()
    assert dm.tables["test"].rows.tolist() != other.tables["test"].rows.tolist()
    check_batches(dm)


def test_qm9_all_targets(qm9_root):
    dm = module(qm9_root / "cache", source="qm9", root=str(qm9_root), target_columns=["all"])
    dm.setup()
    assert dm.num_targets == 15 and dm.target_names[7] == "gap"


@pytest.mark.slow
def test_qm9_full_file(shared_data, session_cache):
    dm = module(session_cache, source="qm9", root=str(shared_data), allow_valence_errors=True)
    dm.setup()
    assert sum(len(d) for d in dm.datasets.values()) == 130831


# ----------------------------------------------------------------------------------------------- ZINC
def test_zinc12k_csv_layout(shared_data, session_cache, check_batches):
    dm = module(session_cache, source="zinc", root=str(shared_data), split="predefined", subset=True)
    dm.setup()
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [10000, 1000, 1000]
    assert dm.target_names == ["penalized_logp"]
    index = pd.read_csv(shared_data / "zinc12k" / "indexes_train_val_test.csv")
    assert (dm.tables["val"].rows - 1).tolist() == index["val"].dropna().astype(int).tolist()
    check_batches(dm)


def test_zinc_full_needs_pickles(shared_data, session_cache):
    dm = module(session_cache, source="zinc", root=str(shared_data), split="predefined", subset=False)
    with pytest.raises(DataError, match="ZINC pickles not found"):
        dm.setup()


def _encode_zinc(smiles: str):
    """A molecule in the benchmarking-gnns pickle encoding, or None when an atom is outside its vocabulary."""
    from rdkit import Chem

    from graphormer.data.zinc import ATOM_TYPES

    mol = Chem.MolFromSmiles(smiles)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    types = []
    for atom in mol.GetAtoms():
        label, charge = atom.GetSymbol(), atom.GetFormalCharge()
        if charge or atom.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED:
            label += f" H{atom.GetTotalNumHs()}" if atom.GetTotalNumHs() else ""
            label += " +" if charge > 0 else " -" if charge < 0 else ""
        if label not in ATOM_TYPES:
            return None
        types.append(ATOM_TYPES.index(label))
    n = mol.GetNumAtoms()
    adj = torch.zeros(n, n, dtype=torch.long)
    for bond in mol.GetBonds():
        i, j, order = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), int(bond.GetBondTypeAsDouble())
        adj[i, j] = adj[j, i] = order
    return {"atom_type": torch.tensor(types, dtype=torch.long), "bond_type": adj,
            "logP_SA_cycle_normalized": torch.tensor([float(n) / 10])}


@pytest.fixture
def zinc_pyg_root(tmp_path, real_smiles):
    """PyG's ZINC raw layout, written from real ZINC SMILES (30 train / 10 val / 10 test)."""
    raw = tmp_path / "ZINC" / "raw"
    raw.mkdir(parents=True)
    encoded = [(s, e) for s in real_smiles(80) if (e := _encode_zinc(s)) is not None]
    parts = {"train": encoded[:30], "val": encoded[30:40], "test": encoded[40:50]}
    for part, items in parts.items():
        with open(raw / f"{part}.pickle", "wb") as handle:
            pickle.dump([e for _, e in items], handle)
        (raw / f"{part}.index").write_text(",".join(str(i) for i in range(0, len(items), 2)) + "\n")
    return tmp_path, parts


@pytest.mark.parametrize("subset", [False, True])
def test_zinc_pyg_pickles_are_rebuilt_into_the_same_molecules(zinc_pyg_root, subset, check_batches):
    from rdkit import Chem

    root, parts = zinc_pyg_root
    dm = module(root / "cache", source="zinc", root=str(root), split="predefined", subset=subset)
    dm.setup()
    flat = lambda smi: Chem.MolToSmiles(Chem.MolFromSmiles(smi), isomericSmiles=False)  # noqa: E731
    for part, items in parts.items():
        table = dm.tables[part]
        expected = items[::2] if subset else items
        assert len(table) == len(expected)
        assert [flat(s) for s in table.smiles] == [flat(s) for s, _ in expected]
        assert table.targets[:, 0].tolist() == pytest.approx([float(e["logP_SA_cycle_normalized"]) for _, e in expected])
    assert dm.target_names == ["logP_SA_cycle_normalized"]
    check_batches(dm, n_batches=1)


def test_zinc_rebuilt_smiles_are_cached(zinc_pyg_root, monkeypatch):
    root, _ = zinc_pyg_root
    first = module(root / "cache", source="zinc", root=str(root), split="predefined", subset=False)
    first.setup()

    def no_rdkit(*args, **kwargs):
        raise AssertionError("second run must not rebuild molecules or featurize")

    monkeypatch.setattr("graphormer.data.zinc.rebuild_smiles", no_rdkit)
    monkeypatch.setattr("graphormer.data.featurize.smiles_to_graph", no_rdkit)
    second = module(root / "cache", source="zinc", root=str(root), split="predefined", subset=False)
    second.setup()
    assert first.tables["train"].smiles == second.tables["train"].smiles


# ------------------------------------------------------------------------------------------- PCQM4Mv2
@pytest.fixture
def pcqm_root(shared_data, tmp_path):
    """OGB-LSC layout: 100 labelled molecules (80 train, 20 valid) + 30 hidden-label test molecules."""
    frame = pd.read_csv(shared_data / "pcqm4mv2" / "pcqm4mv2_first1999.csv.gz", nrows=130)
    frame.loc[100:, "homolumogap"] = np.nan
    (tmp_path / "pcqm4m-v2" / "raw").mkdir(parents=True)
    frame.to_csv(tmp_path / "pcqm4m-v2" / "raw" / "data.csv.gz", index=False)
    split = {"train": torch.arange(0, 80), "valid": torch.arange(80, 100), "test-dev": torch.arange(100, 120),
             "test-challenge": torch.arange(120, 130)}
    torch.save(split, tmp_path / "pcqm4m-v2" / "split_dict.pt")
    return tmp_path


def test_pcqm4mv2_official_layout(pcqm_root, check_batches):
    dm = module(pcqm_root / "cache", source="pcqm4mv2", root=str(pcqm_root), split="predefined",
                allow_valence_errors=True)
    dm.setup()
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [80, 20, 20]
    assert dm.tables["test"].rows.tolist() == dm.tables["val"].rows.tolist()  # valid doubles as test
    assert dm.summary.startswith("skipped 0 of 100 rows")  # hidden test labels are not "bad rows"
    assert dm.target_names == ["homolumogap"]
    check_batches(dm)


def test_pcqm4mv2_numpy_split_dict(pcqm_root):
    split = torch.load(pcqm_root / "pcqm4m-v2" / "split_dict.pt")
    torch.save({k: v.numpy() for k, v in split.items()}, pcqm_root / "pcqm4m-v2" / "split_dict.pt")
    dm = module(pcqm_root / "cache", source="pcqm4mv2", root=str(pcqm_root), split="predefined")
    dm.setup()
    assert len(dm.datasets["train"]) == 80


def test_pcqm4mv2_slice_by_path(shared_data, session_cache):
    dm = module(session_cache, source="pcqm4mv2", path=str(shared_data / "pcqm4mv2" / "pcqm4mv2_first1999.csv.gz"),
                root=str(shared_data), split="random")
    dm.setup()
    assert sum(len(d) for d in dm.datasets.values()) == 1999
