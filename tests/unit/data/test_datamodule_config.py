"""The datamodule as configured by Hydra: config files, tasks, positive-class weights, splits, reports."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

import graphormer.configs
from graphormer.data.datamodule import MoleculeDataModule, resolve_pos_weight
from graphormer.data.splits import resolve_split
from graphormer.data.table import DataError

CONFIG_DIR = Path(graphormer.configs.__file__).parent / "data"
CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
RUNTIME_ARGS = {"max_hops", "legacy_drop_node0", "seed", "run_dir", "progress",  # set by the train function
                "descriptor_scaler", "expect_targets"}  # from the model (extra_features) / checkpoint (evaluate)


def compose(name: str, *overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("graphormer.configs", version_base=None):
        return hydra_compose("train", overrides=[f"data={name}", *overrides])


def test_required_configs_exist():
    wanted = {"ogbg-molhiv", "ogbg-molpcba", "ogbg-molbbbp", "ogbg-molesol", "ogbg-molfreesolv", "ogbg-moltox21",
              "ogbg", "pcqm4mv2", "zinc", "qm9", "esol", "freesolv", "lipophilicity", "moleculenet", "csv", "sdf",
              "smi", "nci_tpsa"}
    assert wanted <= set(CONFIGS)


def test_every_config_has_the_constructor_keys_and_a_name():
    accepted = set(inspect.signature(MoleculeDataModule.__init__).parameters) - {"self", "unused"}
    key_sets = {}
    for name in CONFIGS:
        cfg = compose(name)
        keys = set(cfg.data.keys())
        assert "name" in keys, name
        assert keys <= accepted, (name, keys - accepted)
        key_sets[name] = keys
    assert len({frozenset(k) for k in key_sets.values()}) == 1  # one key set: data=<any> takes the same overrides
    assert next(iter(key_sets.values())) == accepted - RUNTIME_ARGS


def test_default_is_nci_tpsa_and_generic_configs_take_a_name():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module("graphormer.configs", version_base=None):
        assert hydra_compose("train").data.name == "nci_tpsa"
    assert compose("ogbg", "data.name=ogbg-molbace").data.name == "ogbg-molbace"
    assert compose("ogbg-molhiv").data.source == "ogbg"


def test_config_builds_a_datamodule(shared_data, tmp_path, check_batches):
    from omegaconf import OmegaConf

    cfg = compose("ogbg-molfreesolv", f"data.root={shared_data}", f"data.cache_dir={tmp_path}")
    dm = MoleculeDataModule(**OmegaConf.to_container(cfg.data, resolve=True), progress=False)
    dm.setup()
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [513, 64, 65]
    check_batches(dm)


def test_default_nci_tpsa_source(session_cache, tmp_path, check_batches):
    from omegaconf import OmegaConf

    cfg = compose("nci_tpsa", f"data.cache_dir={session_cache}")
    dm = MoleculeDataModule(**OmegaConf.to_container(cfg.data, resolve=True), run_dir=str(tmp_path), progress=False)
    dm.setup()
    assert dm.summary.startswith("skipped 8 of 4999 rows") and dm.target_names == ["tpsa"]
    check_batches(dm)


# ---------------------------------------------------------------------------------------------- tasks
def csv_module(tmp_path, text, **kw):
    path = tmp_path / "data.csv"
    path.write_text(text)
    kw.setdefault("run_dir", str(tmp_path / "run"))
    return MoleculeDataModule(source="csv", path=str(path), cache_dir=str(tmp_path / "cache"), progress=False, **kw)


def labelled(smiles, labels, header="smiles,y"):
    return header + "\n" + "".join(f"{s},{y}\n" for s, y in zip(smiles, labels))


def test_classification_pos_weight(tmp_path, real_smiles, check_batches):
    labels = [1 if i % 4 == 0 else 0 for i in range(80)]
    dm = csv_module(tmp_path, labelled(real_smiles(80), labels), task="classification", pos_weight="auto",
                    split="random")
    dm.setup()
    y = dm.tables["train"].targets[:, 0]
    assert dm.pos_weight == pytest.approx([(y == 0).sum() / (y == 1).sum()])
    check_batches(dm)


def test_pos_weight_forms():
    y = np.array([[1, 0], [0, np.nan], [0, 1], [0, 0]], dtype=float)
    assert resolve_pos_weight("auto", y) == [3.0, 2.0]
    assert resolve_pos_weight(None, y) is None and resolve_pos_weight("null", y) is None
    assert resolve_pos_weight(2, y) == [2.0, 2.0] and resolve_pos_weight([1, 5], y) == [1.0, 5.0]
    with pytest.raises(DataError):
        resolve_pos_weight([1, 2, 3], y)


def test_classification_rejects_labels_other_than_0_1(tmp_path, real_smiles, read_rows):
    labels = [i % 2 for i in range(40)]
    labels[5] = 2
    dm = csv_module(tmp_path, labelled(real_smiles(40), labels), task="classification")
    dm.setup()
    (row,) = read_rows(tmp_path / "run" / "skipped_rows.csv")
    assert row["row"] == "6" and "must be 0 or 1" in row["reason"]


def test_multiclass_integer_ids(tmp_path, real_smiles, check_batches):
    dm = csv_module(tmp_path, labelled(real_smiles(60), [i % 4 for i in range(60)]), task="multiclass")
    dm.setup()
    assert dm.num_classes == 4 and dm.class_names == ["0", "1", "2", "3"]
    check_batches(dm)


def test_multitask_regression_with_missing_labels(tmp_path, real_smiles, check_batches):
    rows = [f"{s},{i if i % 3 else ''},{'' if i % 5 == 0 else i / 2}" for i, s in enumerate(real_smiles(60))]
    dm = csv_module(tmp_path, "smiles,a,b\n" + "\n".join(rows) + "\n")
    dm.setup()
    assert dm.num_targets == 2 and np.isnan(dm.tables["train"].targets).any()
    assert "skipped 4 of 60" in dm.summary  # i = 0, 15, 30, 45 have no label at all
    mean, std = dm.target_stats()
    assert np.isfinite(mean).all() and (std > 0).all()
    check_batches(dm)


# --------------------------------------------------------------------------------------------- splits
def test_split_file_reproduces_an_earlier_split(tmp_path, real_smiles, read_rows):
    text = labelled(real_smiles(50), range(50))
    first = csv_module(tmp_path, text, split="random", split_seed=7)
    first.setup()
    again = csv_module(tmp_path, text, split="random", split_seed=99, split_file=str(tmp_path / "run" / "split.csv"),
                       run_dir=str(tmp_path / "run2"))
    again.setup()
    for part in ("train", "val", "test"):
        assert first.tables[part].rows.tolist() == again.tables[part].rows.tolist()
    assert read_rows(tmp_path / "run" / "split.csv") == read_rows(tmp_path / "run2" / "split.csv")


def test_auto_split_uses_a_split_column_else_random(tmp_path, real_smiles):
    smiles = real_smiles(40)
    folds = ["train"] * 30 + ["val"] * 5 + ["test"] * 5
    with_column = csv_module(tmp_path, "smiles,y,fold\n" + "".join(f"{s},{i},{f}\n" for i, (s, f) in
                                                                    enumerate(zip(smiles, folds))),
                             split_column="fold")
    with_column.setup()
    assert (with_column.tables["test"].rows - 1).tolist() == list(range(35, 40))
    plain = csv_module(tmp_path, labelled(smiles, range(40)), run_dir=str(tmp_path / "run2"))
    plain.setup()
    assert [len(plain.datasets[p]) for p in ("train", "val", "test")] == [32, 4, 4]


def test_predefined_without_split_is_an_error(tmp_path, real_smiles):
    dm = csv_module(tmp_path, labelled(real_smiles(20), range(20)), split="predefined")
    with pytest.raises(DataError, match="define no split"):
        dm.setup()


def test_unknown_split_method(tmp_path, real_smiles):
    with pytest.raises(DataError, match="unknown data.split"):
        csv_module(tmp_path, labelled(real_smiles(20), range(20)), split="temporal").setup()


def _scaffold_available() -> bool:
    try:
        from graphormer.chem import scaffold_split  # noqa: F401
    except ImportError:
        return False
    return True


needs_scaffold = pytest.mark.skipif(not _scaffold_available(),
                                    reason="graphormer.chem.scaffold_split is not available yet")


@needs_scaffold
@pytest.mark.parametrize("name", ["ogbg-molbbbp", "ogbg-molesol", "ogbg-molfreesolv"])
def test_scaffold_split_reproduces_official_ogb_files(shared_data, session_cache, name, ogb_indices):
    dm = MoleculeDataModule(source="ogbg", name=name, root=str(shared_data), cache_dir=str(session_cache),
                            task=None, split="scaffold", split_sizes=[0.8, 0.1, 0.1], download=False, progress=False)
    dm.setup()
    official = ogb_indices(shared_data / name.replace("-", "_"))
    for part, idx in official.items():
        assert (dm.tables[part].rows - 1).tolist() == idx.tolist(), part


@needs_scaffold
def test_scaffold_split_of_a_csv_is_cached(tmp_path, real_smiles, monkeypatch):
    text = labelled(real_smiles(100), range(100))
    dm = csv_module(tmp_path, text, split="scaffold")
    dm.setup()
    parts = {p: set(dm.tables[p].rows.tolist()) for p in ("train", "val", "test")}
    assert sum(map(len, parts.values())) == 100 and not parts["train"] & parts["test"]

    def no_rdkit(*args, **kwargs):
        raise AssertionError("second run must not recompute scaffolds")

    monkeypatch.setattr("graphormer.chem.scaffold_split", no_rdkit)
    monkeypatch.setattr("graphormer.data.featurize.smiles_to_graph", no_rdkit)
    again = csv_module(tmp_path, text, split="scaffold")
    again.setup()
    assert {p: set(again.tables[p].rows.tolist()) for p in parts} == parts


def test_random_split_respects_a_separate_test_file(tmp_path, real_smiles):
    from graphormer.data.table import build_table, csv_records

    main, test = tmp_path / "a.csv", tmp_path / "t.csv"
    main.write_text(labelled(real_smiles(40), range(40)))
    test.write_text(labelled(real_smiles(10, 40), range(10)))
    table = build_table([(csv_records(main), None), (csv_records(test), "test")])
    parts = resolve_split(table, "random", (0.8, 0.1, 0.1), seed=0)
    assert sorted(parts["test"].tolist()) == list(range(40, 50))
    assert len(parts["train"]) + len(parts["val"]) == 40 and len(parts["val"]) == round(40 * 0.1 / 0.9)
