import math

import numpy as np
import pytest

from graphormer.data.table import DataError, first_line_is_data, parse_target, read_csv_table


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


def test_targets_beyond_float32_and_bad_weights_are_skipped(tmp_path):
    path = write(tmp_path, "smiles,y,w\nCCO,1e300,1\nCCN,-3.5e38,1\nCCC,3.3e38,1\nCC,1,-2\nCCCl,1,nan\nC,1,0.5\n")
    table = read_csv_table(path, target_columns=["y"], weight_column="w")
    assert table.smiles == ["CCC", "C"] and table.weights.tolist() == [1.0, 0.5]
    reasons = {s.row: s.reason for s in table.skipped}
    assert set(reasons) == {1, 2, 4, 5}
    assert "'1e300' is outside the float32 range" in reasons[1] and "float32" in reasons[2]
    assert reasons[4] == reasons[5].replace("'nan'", "'-2'") == "weight '-2' must be a finite number >= 0"


@pytest.mark.parametrize("name,text", [
    ("tab.csv", "smiles\ty\nCCO\t1.5\nCCN\t-2\n"),
    ("mols.tsv", "smiles\ty\nCCO\t1.5\nCCN\t-2\n"),
    ("semicolon.csv", "smiles;y\nCCO;1,5\nCCN;-2\n"),  # comma-decimal locale export
])
def test_delimiter_is_detected(tmp_path, name, text):
    table = read_csv_table(write(tmp_path, text, name))
    assert table.target_names == ["y"] and table.targets[:, 0].tolist() == [1.5, -2.0] and not table.skipped


def test_comma_file_keeps_comma_as_separator(tmp_path):
    table = read_csv_table(write(tmp_path, 'smiles,y\nCCO,"1,5"\n'))
    assert [s.reason for s in table.skipped] == ["non-numeric target '1,5'"]


@pytest.mark.parametrize("cells,smiles_index,expected", [
    (["CCO", "20.2"], None, True),
    (["c1ccccc1"], None, True),
    (["CCO", ""], None, True),
    (["smiles", "tpsa"], None, False),
    (["SMILES", "y"], None, False),
    (["CO", "logP"], None, False),  # a name that happens to be a molecule, beside a word
    (["mol1", "CCO"], None, False),
    (["mol1", "CCO"], 1, True),
    (["id", "smiles"], 1, False),
])
def test_first_line_is_data(cells, smiles_index, expected):
    assert first_line_is_data(cells, smiles_index) is expected


def test_headerless_user_csv_keeps_its_first_molecule(tmp_path):
    from graphormer.data.formats import file_records

    records = file_records(write(tmp_path, "CCO,20.2\nc1ccccc1,0\n"))
    assert records.columns == ["smiles", "column_1"]
    assert [cells for _, cells, _ in records.read()] == [["CCO", "20.2"], ["c1ccccc1", "0"]]


def test_headerless_semicolon_file_with_decimal_commas(tmp_path):
    from graphormer.data.formats import file_records
    from graphormer.data.table import build_table

    records = file_records(write(tmp_path, "CCO;1,5\nCCN;2,25\nCCC;-0,5\n"))
    table = build_table([(records, None)])
    assert table.smiles == ["CCO", "CCN", "CCC"] and table.targets[:, 0].tolist() == [1.5, 2.25, -0.5]


def test_semicolon_column_with_decimal_points_is_not_read_as_decimal_commas(tmp_path):
    table = read_csv_table(write(tmp_path, "smiles;logS;w\nCCO;1,234;1\nCCN;2.5;1,5\n"), weight_column="w")
    assert table.smiles == ["CCN"] and table.targets[:, 0].tolist() == [2.5] and table.weights.tolist() == [1.5]
    assert [(s.row, s.reason) for s in table.skipped] == [(1, "non-numeric target '1,234'")]


def test_headerless_file_finds_its_smiles_column(tmp_path):
    from graphormer.data.formats import file_records
    from graphormer.data.table import build_table

    records = file_records(write(tmp_path, "1.5,CCO\n2,CCN\n"))
    assert records.columns == ["column_0", "smiles"]
    table = build_table([(records, None)])
    assert table.smiles == ["CCO", "CCN"] and table.targets[:, 0].tolist() == [1.5, 2.0]


@pytest.mark.parametrize("lines,name,expected", [
    (["smiles,y", "CCO,1.5"], "a.csv", ","),
    (["smiles;logS (mol/L, 25C)", "CCO;1,5"], "a.csv", ";"),  # a comma in a ';' file's header
    (["C[C@H](F)Cl |$;_R1;;$|", "CCO"], "a.csv", ","),  # ';' inside a CXSMILES extension only
    (["smiles\ty", "CCO\t1"], "a.csv", "\t"),
    (["smiles,y", "CCO,1"], "a.tsv", "\t"),
    (["smiles", "CCO"], "a.csv", ","),
])
def test_detect_delimiter(lines, name, expected):
    from graphormer.data.table import detect_delimiter

    assert detect_delimiter(lines, name) == expected
