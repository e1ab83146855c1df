"""Defect 5: what the loader ships and how it runs. `spd` int16 and `path` uint8 (a quarter and an eighth of
int64's bytes to the device) with the same model outputs; loader processes kept alive between epochs; the GPU
trainer configs carry GPU loader defaults while the CPU defaults keep none."""

from __future__ import annotations

import csv

import pytest
import torch
from hydra import compose, initialize_config_module

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.model import Graphormer
from tests.unit.gpu.conftest import SMILES, TINY

INPUTS = ("x", "node_mask", "degree", "spd", "path")


def test_spd_and_path_ship_narrow_with_the_same_outputs(batch):
    assert batch["spd"].dtype == torch.int16 and batch["path"].dtype == torch.uint8
    assert int(batch["spd"].max()) <= torch.iinfo(torch.int16).max and int(batch["path"].max()) <= 61
    torch.manual_seed(0)
    model = Graphormer(**TINY).eval()
    with torch.no_grad():
        narrow = model(**{k: batch[k] for k in INPUTS}, layout=batch["layout"])
        wide = model(**{k: batch[k].long() if k in ("spd", "path") else batch[k] for k in INPUTS},
                     layout=batch["layout"])
    torch.testing.assert_close(narrow, wide, rtol=0, atol=0)
    nbytes = sum(batch[k].numel() * batch[k].element_size() for k in ("spd", "path"))
    assert nbytes * 6 <= sum(batch[k].numel() * 8 for k in ("spd", "path"))  # path dominates: [B, N, N, 5]


@pytest.mark.parametrize("workers, persistent", [(0, False), (2, True)])
def test_loader_workers_persist_between_epochs(tmp_path, workers, persistent):
    path = tmp_path / "mols.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "y"])
        writer.writerows([s, float(i)] for i, s in enumerate(SMILES * 3))
    dm = MoleculeDataModule(source="csv", path=str(path), cache_dir=str(tmp_path / "cache"), progress=False,
                            num_workers=workers, batch_size=4)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert loader.num_workers == workers and loader.persistent_workers is persistent


def _compose(*overrides: str):
    with initialize_config_module("graphormer.configs", version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_gpu_trainer_configs_carry_loader_workers_and_cpu_runs_keep_none():
    assert _compose().data.num_workers == 0
    assert _compose("trainer=cpu").data.num_workers == 0
    for trainer in ("ddp", "ddp_multinode"):
        cfg = _compose(f"trainer={trainer}")
        assert cfg.data.num_workers > 0 and cfg.trainer.strategy == "ddp" and cfg.trainer.precision == "bf16-mixed"
        assert cfg.trainer.max_epochs == _compose().trainer.max_epochs  # the default trainer keys are still there
    # an explicit choice on the command line wins over the trainer config's
    assert _compose("trainer=ddp", "data.num_workers=0").data.num_workers == 0
