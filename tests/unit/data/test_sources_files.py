"""The user's own files: CSV (one file or train/val/test files), SDF and SMILES files; bad rows reported."""

from __future__ import annotations

import gzip

import pytest

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.data.formats import file_format, sdf_records, smi_records
from graphormer.data.table import DataError, build_table


def module(tmp_path, **kw):
    kw.setdefault("run_dir", str(tmp_path / "run"))
    return MoleculeDataModule(cache_dir=str(tmp_path / "cache"), progress=False, **kw)


def write(path, text):
    path.write_text(text)
    return str(path)


def test_file_format_from_extension():
    assert [file_format(p) for p in ("a.csv", "a.csv.gz", "a.sdf.gz", "a.SDF", "a.smi", "a.txt")] == \
        ["csv", "csv", "sdf", "sdf", "smi", "smi"]
    assert file_format("a.dat", "sdf") == "sdf"


# ------------------------------------------------------------------------------------------------ SDF
def test_sdf_regression_train_and_test_files(shared_data, tmp_path, read_rows, check_batches):
    book = shared_data / "solubility_rdkit_book"
    dm = module(tmp_path, source="sdf", path=str(book / "solubility.train.sdf.gz"),
                test_path=str(book / "solubility.test.sdf.gz"), target_columns=["SOL"], split="random")
    dm.setup()
    assert len(dm.datasets["test"]) == 257  # the test file is the test split
    assert len(dm.datasets["train"]) + len(dm.datasets["val"]) == 1025
    assert dm.summary.startswith("skipped 0 of 1282 rows")
    split = read_rows(tmp_path / "run" / "split.csv")
    assert sum(r["split"] == "test" for r in split) == 257
    check_batches(dm)


def test_sdf_multiclass_text_labels(shared_data, tmp_path, check_batches):
    book = shared_data / "solubility_rdkit_book"
    dm = module(tmp_path, source="sdf", path=str(book / "solubility.train.sdf.gz"),
                test_path=str(book / "solubility.test.sdf.gz"), target_columns=["SOL_classification"],
                task="multiclass", split="random")
    dm.setup()
    assert dm.num_classes == 3 and dm.class_names == ["(A) low", "(B) medium", "(C) high"]
    assert set(dm.tables["train"].targets[:, 0]) == {0.0, 1.0, 2.0}
    check_batches(dm)


def test_sdf_second_run_reads_the_converted_copy(shared_data, tmp_path, monkeypatch):
    path = str(shared_data / "solubility_rdkit_book" / "solubility.test.sdf.gz")
    first = module(tmp_path, source="sdf", path=path, target_columns=["SOL"])
    first.setup()

    def no_rdkit(*args, **kwargs):
        raise AssertionError("the SDF must not be parsed again")

    monkeypatch.setattr("rdkit.Chem.ForwardSDMolSupplier", no_rdkit)
    monkeypatch.setattr("graphormer.data.featurize.smiles_to_graph", no_rdkit)
    second = module(tmp_path, source="sdf", path=path, target_columns=["SOL"])
    second.setup()
    assert first.tables["train"].smiles == second.tables["train"].smiles
    assert first.summary == second.summary


def test_sdf_default_targets_are_numeric_fields(shared_data):
    records = sdf_records(shared_data / "solubility_rdkit_book" / "solubility.test.sdf.gz")
    table = build_table([(records, None)])
    assert table.target_names == ["ID", "SOL"]  # NAME, SOL_classification and smiles are text


MOLBLOCK = """{name}
     RDKit          2D

  2  1  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.2990    0.7500    0.0000 {second}   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
M  END
>  <y>
{y}

$$$$
"""


def test_sdf_bad_records_are_reported_with_record_number(tmp_path, read_rows):
    blocks = [MOLBLOCK.format(name=f"m{i}", second="O", y=i) for i in range(12)]
    blocks[2] = "garbage\n\n\n  this is not a molblock\nM  END\n$$$$\n"
    blocks[4] = MOLBLOCK.format(name="bad", second="O", y="high")
    blocks[6] = MOLBLOCK.format(name="unknown element", second="Xx", y=1)
    path = tmp_path / "mols.sdf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(blocks))
    dm = module(tmp_path, source="sdf", path=str(path), target_columns=["y"], split="random")
    dm.setup()
    skipped = read_rows(tmp_path / "run" / "skipped_rows.csv")
    rows = {int(r["row"]): r["reason"] for r in skipped}
    assert 3 in rows and "SDF record" in rows[3]
    assert 5 in rows and "non-numeric target 'high'" in rows[5]
    assert dm.summary.startswith(f"skipped {len(skipped)} of 12 rows")


# ------------------------------------------------------------------------------------------------ SMI
def test_smi_file_rows_skip_comments_and_header(tmp_path, read_rows, real_smiles, check_batches):
    lines = ["# a comment", "smiles name y"]
    good = real_smiles(30)
    for i, smi in enumerate(good):
        lines.append(f"{smi} mol{i} {i / 10}")
        if i == 3:
            lines.append("# another comment")
    lines[5] = "C1CC mol_bad 1.0"  # record 4 (the 3rd SMILES line replaced): unclosed ring
    path = write(tmp_path / "mols.smi", "\n".join(lines) + "\n")
    dm = module(tmp_path, source="smi", path=path, batch_size=8)
    dm.setup()
    assert dm.target_names == ["y"]  # name column is text, so not a target
    skipped = read_rows(tmp_path / "run" / "skipped_rows.csv")
    assert [(r["row"], r["smiles"]) for r in skipped] == [("4", "C1CC")]
    assert "unparsable" in skipped[0]["reason"] or "ring" in skipped[0]["reason"]
    assert dm.summary.startswith("skipped 1 of 30 rows")
    check_batches(dm, n_batches=1)


def test_smi_without_header(tmp_path):
    records = smi_records(write(tmp_path / "a.smi", "CCO 1.5\nCCN 2.5\n"))
    table = build_table([(records, None)])
    assert table.smiles == ["CCO", "CCN"] and table.targets[:, 0].tolist() == [1.5, 2.5]


# ------------------------------------------------------------------------------------------------ CSV
def test_separate_csv_files_report_rows_per_file(tmp_path, read_rows, real_smiles, check_batches):
    smiles = real_smiles(60)
    train = "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles[:40])) + "not_a_smiles,1\n"
    val = "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles[40:50])) + "CCO,abc\n"
    test = "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles[50:60])) + "CCC,\n"
    dm = module(tmp_path, source="csv", path=write(tmp_path / "train.csv", train),
                val_path=write(tmp_path / "val.csv", val), test_path=write(tmp_path / "test.csv", test),
                split="predefined", batch_size=16)
    dm.setup()
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [40, 10, 10]
    skipped = read_rows(tmp_path / "run" / "skipped_rows.csv")
    assert [(r["row"], r["reason"].split(":")[0]) for r in skipped] == \
        [("41", "train.csv"), ("11", "val.csv"), ("11", "test.csv")]
    assert "non-numeric target 'abc'" in skipped[1]["reason"] and "no label" in skipped[2]["reason"]
    assert dm.summary == f"skipped 3 of 63 rows (see {tmp_path / 'run' / 'skipped_rows.csv'})"
    check_batches(dm)


def test_val_file_only_main_file_split_into_train_and_test(tmp_path, real_smiles):
    smiles = real_smiles(60)
    main = "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles[:50]))
    val = "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(smiles[50:]))
    dm = module(tmp_path, source="csv", path=write(tmp_path / "a.csv", main), val_path=write(tmp_path / "v.csv", val),
                split="random", split_sizes=[0.8, 0.1, 0.2])
    dm.setup()
    assert len(dm.datasets["val"]) == 10
    assert len(dm.datasets["train"]) == 40 and len(dm.datasets["test"]) == 10


def test_split_column_and_weight_column(tmp_path, real_smiles):
    smiles = real_smiles(30)
    parts = ["train"] * 20 + ["valid"] * 5 + ["test"] * 5
    text = "smiles,y,fold,w\n" + "".join(f"{s},{i},{p},1.5\n" for i, (s, p) in enumerate(zip(smiles, parts)))
    dm = module(tmp_path, source="csv", path=write(tmp_path / "a.csv", text), target_columns=["y"],
                split_column="fold", weight_column="w", split="predefined")
    dm.setup()
    assert [len(dm.datasets[p]) for p in ("train", "val", "test")] == [20, 5, 5]
    assert dm.tables["train"].weights.tolist() == [1.5] * 20


@pytest.mark.parametrize("content,kwargs,message", [
    ("smiles,y\nnot_a_smiles,1\nC1CC,2\n", {}, "no usable rows"),
    ("smiles,y\nCCO,1\n", {"target_columns": ["logS"]}, "no column named 'logS'"),
    ("smiles,y\nCCO,1\n", {"smiles_column": "SMILES"}, "no column named 'SMILES'"),
])
def test_unusable_data_is_one_line_error(tmp_path, content, kwargs, message):
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(DataError, match=message) as err:
        module(tmp_path, source="csv", path=path, **kwargs).setup()
    assert "\n" not in str(err.value) and "bad.csv" in str(err.value)


def test_unreadable_file_is_one_line_error(tmp_path):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-not-gzip")
    with pytest.raises(DataError, match="broken.csv.gz: cannot read file"):
        module(tmp_path, source="csv", path=str(path)).setup()
    with pytest.raises(DataError, match="file not found"):
        module(tmp_path, source="csv", path=str(tmp_path / "nope.csv")).setup()
