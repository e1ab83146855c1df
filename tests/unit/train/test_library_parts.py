"""Where graphormer keeps its own subclass of a Lightning part, what the library's part loses, shown here.

* Checkpoint IO: Lightning's `TorchCheckpointIO` renames a finished file into place but never fsyncs (a power
  cut can leave an empty `last.ckpt`), and a damaged checkpoint surfaces as a raw unpickling error.
* CSV logger: Lightning's `CSVLogger` deletes an existing metrics.csv when a resumed run logs its first row.
Loggers are otherwise chosen by `logger._target_` (hydra.utils.instantiate): any Lightning logger works.
"""

from __future__ import annotations

import csv
import os

import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import OmegaConf

from graphormer.errors import CheckpointError, ConfigError
from graphormer.train.resume import ResumableCSVLogger, ResumableTensorBoardLogger, SafeCheckpointIO
from graphormer.train.run import make_logger


def _fsyncs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    return calls


@pytest.mark.parametrize("io, durable", [(TorchCheckpointIO(), False), (SafeCheckpointIO(), True)],
                         ids=["lightning", "graphormer"])
def test_checkpoint_io_durability_and_errors(io, durable, tmp_path, monkeypatch):
    calls = _fsyncs(monkeypatch)
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "loops": {}, "optimizer_states": []}, path)
    assert (len(calls) >= 2) is durable  # the file and its directory
    path.write_bytes(path.read_bytes()[:100])  # truncated by a crash
    if durable:
        with pytest.raises(CheckpointError, match=str(path)):
            io.load_checkpoint(path)
    else:
        with pytest.raises(Exception) as raised:
            io.load_checkpoint(path)
        assert not isinstance(raised.value, CheckpointError) and str(path) not in str(raised.value)


@pytest.mark.parametrize("logger_class, keeps", [(CSVLogger, False), (ResumableCSVLogger, True)],
                         ids=["lightning", "graphormer"])
def test_csv_logger_on_resume(logger_class, keeps, tmp_path):
    first = logger_class(tmp_path, **({"name": "", "version": ""} if logger_class is CSVLogger else {}))
    for step in range(3):
        first.log_metrics({"train/loss": 1.0 - step / 10}, step=step)
    first.save()
    resumed = logger_class(tmp_path, **({"name": "", "version": ""} if logger_class is CSVLogger else {"resume": True}))
    resumed.log_metrics({"train/loss": 0.5}, step=2)  # the resumed run logs step 2 again
    resumed.save()
    with open(tmp_path / "metrics.csv", newline="") as handle:
        steps = [int(r["step"]) for r in csv.DictReader(handle)]
    assert steps == ([0, 1, 2] if keeps else [2])


def _cfg(logger: dict | None):
    return OmegaConf.create({"logger": logger, "seed": 0})


def test_loggers_by_target(tmp_path):
    assert isinstance(make_logger(_cfg({"_target_": "graphormer.train.resume.ResumableCSVLogger"}), tmp_path, True),
                      ResumableCSVLogger)
    tb = make_logger(_cfg({"_target_": "graphormer.train.resume.ResumableTensorBoardLogger"}), tmp_path)
    assert isinstance(tb, ResumableTensorBoardLogger) and tb.save_dir == str(tmp_path)
    plain = make_logger(_cfg({"_target_": "lightning.pytorch.loggers.CSVLogger", "name": "plain"}), tmp_path)
    assert isinstance(plain, CSVLogger) and plain.log_dir.startswith(str(tmp_path / "plain"))
    assert make_logger(_cfg({"_target_": None}), tmp_path) is False
    with pytest.raises(ConfigError, match="no.such.Logger: cannot import it"):
        make_logger(_cfg({"_target_": "no.such.Logger"}), tmp_path)


def test_run_folders_from_before_target_keep_their_logger(tmp_path):
    """A stored config of an older run names its logger (`logger: {name: csv}`): resuming it keeps logging."""
    assert isinstance(make_logger(_cfg({"name": "csv"}), tmp_path, True), ResumableCSVLogger)
    assert isinstance(make_logger(_cfg({"name": "tensorboard"}), tmp_path), ResumableTensorBoardLogger)
    assert make_logger(_cfg({"name": "none"}), tmp_path) is False
    with pytest.raises(ConfigError, match="logger.name=mlflow: unknown"):
        make_logger(_cfg({"name": "mlflow"}), tmp_path)
