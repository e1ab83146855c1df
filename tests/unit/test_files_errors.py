"""graphormer.files (atomic writes) and graphormer.errors (one home for the error classes)."""

from __future__ import annotations

import stat

import pytest

from graphormer import errors
from graphormer.files import atomic_path, atomic_write


def test_atomic_write_replaces_whole_files_only(tmp_path):
    target = tmp_path / "deep" / "out.csv"
    with atomic_write(target, "w", newline="") as handle:
        handle.write("a,b\r\n1,2\r\n")
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # caches are shared between users
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"half a file")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]  # and no temporary file is left


def test_atomic_path_for_writers_that_want_a_name(tmp_path):
    target = tmp_path / "model.onnx"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and not target.exists()
        tmp.write_bytes(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_error_classes_have_one_home():
    from graphormer.chem import MoleculeError
    from graphormer.configs.checks import ConfigError
    from graphormer.data.table import DataError
    from graphormer.inference import CheckpointError
    from graphormer.inference.convert import ConvertError

    assert (MoleculeError, ConfigError, DataError, CheckpointError, ConvertError) == (
        errors.MoleculeError, errors.ConfigError, errors.DataError, errors.CheckpointError, errors.ConvertError)
    for cls in (MoleculeError, ConfigError, DataError, CheckpointError, ConvertError):
        assert issubclass(cls, errors.UserError) and issubclass(cls, ValueError)  # the CLI's one-line report
    assert not issubclass(errors.TrainingInterrupted, errors.UserError)
    err = errors.MoleculeError("C1CC", "unclosed ring")
    assert (err.smiles, err.reason, str(err)) == ("C1CC", "unclosed ring", "unclosed ring (SMILES: 'C1CC')")
    assert errors.TrainingInterrupted("stop", 15).exit_code == 143
