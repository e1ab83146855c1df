"""Mixed precision and torch.compile as config switches, on CPU."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from tests.integration.test_cli import LEARNS, TINY, assert_beats_baseline, graphormer
from tests.integration.test_cli import summary_fields as _summary


def test_bf16_mixed_training_runs_and_learns(tmp_path, nci_csv):
    proc = graphormer("train", "data=csv", f"data.path={nci_csv}", *TINY, *LEARNS, "trainer.precision=bf16-mixed",
                      f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    summary = _summary(proc.stdout)
    assert_beats_baseline(summary)
    state = torch.load(summary["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())  # weights stay fp32


def test_fp16_config_becomes_bf16_on_cpu():
    # 16-mixed is a GPU path (GradScaler); on CPU Lightning runs it as bf16-mixed. Only the config is testable.
    with pytest.warns(UserWarning, match="bf16"):
        trainer = L.Trainer(accelerator="cpu", precision="16-mixed", logger=False, enable_checkpointing=False)
    assert trainer.precision == "bf16-mixed"


def test_compiled_model_matches_eager():
    from graphormer.chem import smiles_to_graph
    from graphormer.data.collate import Collater
    from graphormer.model import Graphormer
    from graphormer.train.module import MODEL_INPUTS

    torch.manual_seed(0)
    model = Graphormer(num_layers=2, embed_dim=16, ffn_dim=16, num_heads=2).eval()
    compiled = torch.compile(model, dynamic=False)
    collate = Collater(max_hops=5, pad_nodes_to=16)
    for smiles in (["CCO", "c1ccccc1O", "[Na+].[Cl-]"], ["CC(=O)Oc1ccccc1C(=O)O", "C"]):
        batch = collate([(smiles_to_graph(s), None) for s in smiles])
        inputs = [batch[k] for k in MODEL_INPUTS]
        with torch.no_grad():
            torch.testing.assert_close(compiled(*inputs), model(*inputs), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compiled_training_through_the_cli(tmp_path, nci_csv):
    proc = graphormer("train", "data=csv", f"data.path={nci_csv}", *TINY, "compile=true", "data.pad_nodes_to=16",
                      "trainer.max_epochs=1", "trainer.limit_train_batches=3", f"hydra.run.dir={tmp_path / 'run'}",
                      cwd=tmp_path)
    assert math.isfinite(float(_summary(proc.stdout)["test_mae"]))
