"""Fine-tuning onto a new target through the CLI starts clean: a new head with the new target's scaling, the
same baseline as `train` prints on the same data and split, and a model that beats that baseline."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from rdkit import Chem
from rdkit.Chem import Crippen

from tests.conftest import nci_rows
from tests.integration.test_cli import graphormer

SMALL = ["model.num_layers=2", "model.embed_dim=32", "model.ffn_dim=32", "model.num_heads=4",
         "trainer.enable_progress_bar=false", "data.batch_size=32", "threads=1"]


def _summary(stdout: str) -> dict[str, str]:
    line = [line for line in stdout.splitlines() if line.startswith("test_")][-1]
    return dict(part.split("=", 1) for part in line.split())


def test_finetune_onto_a_new_target_replaces_head_and_scaling(tmp_path: Path):
    rows = nci_rows(700)
    tpsa = tmp_path / "tpsa.csv"
    with open(tpsa, "w", newline="") as handle:
        csv.writer(handle).writerows([("smiles", "tpsa"), *rows[:400]])
    # 300 other molecules with a lipophilicity-like target: Crippen logP
    logp = tmp_path / "logp.csv"
    with open(logp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "y"])
        for smiles, _ in rows[400:700]:
            writer.writerow([smiles, f"{Crippen.MolLogP(Chem.MolFromSmiles(smiles)):.4f}"])

    source = tmp_path / "tpsa_run"
    graphormer("train", "data=csv", f"data.path={tpsa}", "trainer.max_epochs=2", *SMALL,
               f"hydra.run.dir={source}", cwd=tmp_path)
    new_data = ["data=csv", f"data.path={logp}", "data.target_columns=[y]"]
    scratch = _summary(graphormer("train", *new_data, "trainer.max_epochs=1", *SMALL,
                                  f"hydra.run.dir={tmp_path / 'scratch'}", cwd=tmp_path).stdout)
    proc = graphormer("finetune", f"ckpt_path={source / 'checkpoints' / 'best.ckpt'}", *new_data,
                      "trainer.max_epochs=15", "optim.lr=5e-4", *SMALL[4:], f"hydra.run.dir={tmp_path / 'ft'}",
                      cwd=tmp_path)
    assert "head replaced (1 outputs)" in proc.stdout
    tuned = _summary(proc.stdout)
    # the same baseline as train on the same data and split, in the new target's units
    assert tuned["baseline_mae"] == scratch["baseline_mae"] and tuned["baseline_rmse"] == scratch["baseline_rmse"]
    assert float(tuned["test_mae"]) < float(tuned["baseline_mae"])

    ckpt = torch.load(tmp_path / "ft" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    hp = ckpt["hyper_parameters"]
    with open(tmp_path / "ft" / "split.csv") as handle:
        train_rows = {int(r["row"]) for r in csv.DictReader(handle) if r["split"] == "train"}
    with open(logp) as handle:
        y = [float(r["y"]) for i, r in enumerate(csv.DictReader(handle), start=1) if i in train_rows]
    mean = sum(y) / len(y)
    assert list(hp["target_names"]) == ["y"]
    assert abs(hp["target_mean"][0] - mean) < 1e-4
    assert abs(ckpt["state_dict"]["target_mean"][0].item() - mean) < 1e-4
