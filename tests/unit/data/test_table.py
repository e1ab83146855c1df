import math

import numpy as np
import pytest

from graphormer.data.table import DataError, parse_target, read_csv_table


def write(tmp_path, text, name="mols.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_first_column_smiles_rest_targets(tmp_path):
    path = write(tmp_path, "smiles,a,b\nCCO,1.5,2\nc1ccccc1,NaN,3\n")
    table = read_csv_table(path)
    assert table.smiles == ["CCO", "c1ccccc1"]
    assert table.target_names == ["a", "b"]
    assert table.rows.tolist() == [1, 2]
    assert table.targets[0].tolist() == [1.5, 2.0]
    assert math.isnan(table.targets[1, 0]) and table.targets[1, 1] == 3.0


@pytest.mark.parametrize("marker", ["", "NaN", "nan", "NA", "n/a", "null", "None", " N/A "])
def test_missing_markers_are_missing_labels(tmp_path, marker):
    table = read_csv_table(write(tmp_path, f"smiles,a,b\nCCO,{marker},1\n"))
    assert math.isnan(table.targets[0, 0]) and table.targets[0, 1] == 1.0


def test_text_target_and_unlabelled_rows_are_skipped_with_reason(tmp_path):
    path = write(tmp_path, "smiles,y\nCCO,1\nCCN,high\nCCC,\nCCCl,inf\nCC,2\n")
    table = read_csv_table(path)
    assert table.smiles == ["CCO", "CC"]
    assert table.rows.tolist() == [1, 5]
    assert table.total_records == 5
    assert [(s.row, s.smiles) for s in table.skipped] == [(2, "CCN"), (3, "CCC"), (4, "CCCl")]
    assert "non-numeric" in table.skipped[0].reason and "'high'" in table.skipped[0].reason
    assert "no label" in table.skipped[1].reason


def test_named_columns_split_and_weight(tmp_path):
    path = write(tmp_path, "id,y,smi,fold,w\n1,0.5,CCO,train,1\n2,0.7,CCN,valid,2\n")
    table = read_csv_table(path, smiles_column="smi", target_columns=["y"], split_column="fold", weight_column="w")
    assert table.smiles == ["CCO", "CCN"] and table.split == ["train", "valid"]
    assert table.weights.tolist() == [1.0, 2.0]


def test_bom_crlf_and_comments(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffsmiles,y\r\n# a comment\r\nCCO,1\r\n".encode("utf-8"))
    table = read_csv_table(path)
    assert table.smiles == ["CCO"] and table.target_names == ["y"] and table.rows.tolist() == [1]


def test_headerless_file_with_comment_line(tmp_path):
    table = read_csv_table(write(tmp_path, "# header comment\nCCO,3.2\nCCN,4\n"), has_header=False,
                           target_names=["tpsa"])
    assert table.target_names == ["tpsa"] and table.targets[:, 0].tolist() == [3.2, 4.0]


@pytest.mark.parametrize("text,kwargs,message", [
    ("", {}, "empty"),
    ("smiles,y\nCCO,1\n", {"smiles_column": "SMILES"}, "no column named 'SMILES'"),
    ("smiles,y\nCCO,1\n", {"target_columns": ["z"]}, "no column named 'z'"),
    ("smiles\nCCO\n", {}, "no target columns"),
])
def test_unusable_files_are_one_line_errors(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=message):
        read_csv_table(write(tmp_path, text), **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_csv_table(tmp_path / "nope.csv")


def test_parse_target():
    assert parse_target(" 1e-3 ") == 1e-3
    assert math.isnan(parse_target("NULL"))
    with pytest.raises(ValueError):
        parse_target("-inf")
    with pytest.raises(ValueError):
        parse_target("abc")
