"""One reader family: training tables and predict read every corpus file the same way.

For each file of the bad-input corpus, `InputReader` (predict) and `build_table` + `build_store` (training)
must see the same rows, and every row that predict cannot use must be skipped by training with the same
reason, while every row predict uses is a training row with the same SMILES.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graphormer.data.featurize import build_store
from graphormer.data.formats import file_records, smi_records
from graphormer.data.table import build_table
from graphormer.inference.predictor import Predictor
from graphormer.inference.readers import InputReader

CORPUS = Path(__file__).resolve().parents[2] / "data" / "bad_inputs"


def _with_value_column(source: Path, out: Path) -> Path:
    """A copy of a SMILES file with a numeric column, so that training has a target to read."""
    lines = source.read_text().splitlines()
    out.write_text("\n".join(
        f"{line.split(maxsplit=1)[0]} {i} {line.split(maxsplit=1)[1] if ' ' in line.strip() else ''}"
        if line.strip() and not line.startswith("#") and i else "smiles value name" if i == 0 else line
        for i, line in enumerate(lines)) + "\n")
    return out


@pytest.fixture(params=["train_rows.csv", "predict_records.sdf", "predict_lines.smi"])
def corpus_file(request, tmp_path) -> Path:
    path = CORPUS / request.param
    return _with_value_column(path, tmp_path / path.name) if path.suffix == ".smi" else path


def test_train_and_predict_agree_row_for_row(corpus_file):
    table = build_table([(file_records(corpus_file), None)])
    _, usable = build_store(table, progress=False)
    train_used = dict(zip(usable.rows.tolist(), usable.smiles))
    train_skipped = {s.row: s.reason for s in usable.skipped}

    records = list(InputReader(corpus_file))
    _, where, errors = Predictor.featurize_records(None, records)  # featurization needs no model
    predict_used = {records[i].row: records[i].smiles for i in where}
    predict_errors = {r.row: e for r, e in zip(records, errors) if e is not None}

    assert len(records) == table.total_records
    # Training also skips rows for their labels (missing, not a number): predict uses those.
    label_skips = {row for row in train_skipped if row not in predict_errors}
    assert {row: s for row, s in predict_used.items() if row not in label_skips} == train_used
    assert set(train_used) | label_skips | set(predict_errors) == {r.row for r in records}
    # Every row predict rejects, training rejects for the same reason.
    assert {row: train_skipped[row] for row in predict_errors} == predict_errors


def test_sdf_columns_and_reasons():
    records = list(InputReader(CORPUS / "predict_records.sdf"))
    reader = InputReader(CORPUS / "predict_records.sdf")
    assert reader.columns == ["name", "smiles", "id"]
    assert [r.row for r in records] == list(range(1, 9))
    by_row = {r.row: r for r in records}
    assert by_row[1].cells == ["nci_0", "CC1=CC(=O)C=CC1=O", "1"]
    assert by_row[3].error == "unreadable SDF record"
    assert by_row[5].error == "empty molecule (no atoms)"
    # A record that fails sanitization keeps its structure as SMILES; the featurizer says why (valence).
    _, _, errors = Predictor.featurize_records(None, [by_row[2]])
    assert by_row[2].smiles == "CC(C)(C)(C)C" and "valence" in errors[0]


def test_sdf_keeps_stereochemistry_from_wedges(tmp_path):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles("C[C@H](N)C(=O)O")
    AllChem.Compute2DCoords(mol)
    block = Chem.MolToMolBlock(mol)  # wedge bonds carry the stereocentre
    (tmp_path / "alanine.sdf").write_text(block + "$$$$\n")
    records = file_records(tmp_path / "alanine.sdf")
    (_, cells, problem), = list(records.read())
    assert problem is None
    assert cells[1] == Chem.MolToSmiles(mol)
    assert "@" in cells[1]


def test_smi_rules(tmp_path):
    path = tmp_path / "molecules.ism"
    path.write_text("SMI name\n# comment\nCCO ethyl alcohol, absolute\n\nc1ccccc1\n")
    records = file_records(path)  # .ism is a SMILES file
    assert records.columns == ["SMI", "name"]
    assert [(row, cells) for row, cells, _ in records.read()] == [
        (1, ["CCO", "ethyl alcohol, absolute"]), (2, ["c1ccccc1", ""])]
    bare = tmp_path / "bare.smi"
    bare.write_text("CCO 1.5\nCCN 2.0\n")
    records = smi_records(bare)
    assert records.columns == ["smiles", "column_1"] and records.default_targets == [1]


def test_csv_header_decided_by_the_named_smiles_column(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("ethanol,CCO\nbenzene,c1ccccc1\n")  # a text first cell: only the SMILES cell can tell
    reader = InputReader(path, smiles_column=1)
    assert reader.columns == ["column_0", "smiles"]
    assert [r.smiles for r in reader] == ["CCO", "c1ccccc1"]
    assert file_records(path, smiles_column=1).columns == reader.columns


def test_smi_first_word_is_always_the_smiles(tmp_path):
    """A bare first line does not fix the file at one column: later names are split off the SMILES."""
    path = tmp_path / "mixed.smi"
    path.write_text("CCO\nc1ccccc1 benzene ring\n")
    reader = InputReader(path)
    assert reader.columns == ["smiles", "column_1"]
    assert [(r.smiles, r.cells) for r in reader] == [("CCO", ["CCO", ""]),
                                                    ("c1ccccc1", ["c1ccccc1", "benzene ring"])]
    header_only_smiles = tmp_path / "named.smi"
    header_only_smiles.write_text("smiles\nCCN ethylamine\n")
    assert [r.cells for r in InputReader(header_only_smiles)] == [["CCN", "ethylamine"]]


def test_training_reads_a_headerless_csv_like_predict(tmp_path):
    """The SMILES column tells training too whether the first line is a header (an ID column first)."""
    from graphormer.data.sources import load_table

    path = tmp_path / "ids.csv"
    path.write_text("mol1,CCO,1.2\nmol2,CCCO,2.3\nmol3,CCCCO,3.1\n")
    table = load_table("csv", str(path), smiles_column=1, target_columns=[2])
    assert table.smiles == ["CCO", "CCCO", "CCCCO"]
    assert [r.smiles for r in InputReader(path, smiles_column=1)] == table.smiles
