"""model.extra_features=rdkit2d through the CLI: the head reads the scaled RDKit descriptors, the checkpoint
carries their scaling, predict computes them again (same numbers as a hand-built batch), export refuses."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from graphormer.chem import smiles_to_graph
from graphormer.chem.descriptors import calc_descriptors, shipped_scaler
from graphormer.data.collate import Collater
from graphormer.model.molecule import MoleculeModel
from tests.conftest import nci_rows
from tests.integration.test_cli import graphormer

SMALL = ["model.num_layers=2", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2",
         "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "data.batch_size=32", "threads=1"]


def test_descriptor_features_train_predict_and_refuse_export(tmp_path: Path):
    rows = nci_rows(150)
    data = tmp_path / "train.csv"
    with open(data, "w", newline="") as handle:
        csv.writer(handle).writerows([("smiles", "tpsa"), *rows])
    run = tmp_path / "run"
    graphormer("train", "data=csv", f"data.path={data}", "model.extra_features=rdkit2d", *SMALL,
               f"data.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={run}", cwd=tmp_path)
    ckpt = run / "checkpoints" / "best.ckpt"
    model = MoleculeModel.load(ckpt)
    scaler = shipped_scaler()
    assert model.descriptors.names == scaler.names and model.model.extra_features == len(scaler.names)

    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    src = tmp_path / "new.csv"
    src.write_text("smiles\n" + "\n".join(smiles) + "\n")
    out = tmp_path / "pred.csv"
    graphormer("predict", f"ckpt_path={ckpt}", f"input={src}", f"output={out}", "progress=false", cwd=tmp_path)
    with open(out) as handle:
        predicted = [float(r["pred_tpsa"]) for r in csv.DictReader(handle)]

    # by hand: graphs + scaled descriptors of each molecule
    batch = Collater(model.max_hops)([(smiles_to_graph(s), None) for s in smiles])
    extra = scaler.features(np.stack([calc_descriptors(s, scaler.names) for s in smiles]))
    with torch.no_grad():
        expected = model.predict({**batch, "extra": torch.from_numpy(extra)})[:, 0].numpy()
        shuffled = model.predict({**batch, "extra": torch.from_numpy(extra[::-1].copy())})[:, 0].numpy()
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-4)
    assert not np.allclose(shuffled, expected, atol=1e-4)  # the head does read the descriptors

    # evaluate computes the descriptors too; a file whose targets differ is refused before featurization
    proc = graphormer("evaluate", f"ckpt_path={ckpt}", "data=csv", f"data.path={data}", "split=test", cwd=tmp_path)
    assert "mae=" in proc.stdout and "molecules=15" in proc.stdout
    other = tmp_path / "other.csv"
    other.write_text("smiles,y\n" + "\n".join(f"{s},1.0" for s, _ in rows[:20]) + "\n")
    proc = graphormer("evaluate", f"ckpt_path={ckpt}", "data=csv", f"data.path={other}",
                      f"data.cache_dir={tmp_path / 'cache2'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "the checkpoint predicts ['tpsa'] but the data has targets ['y']" in proc.stderr
    assert not list((tmp_path / "cache2").glob("graphs-*"))

    # embed writes the graph-token state, which the descriptors do not reach: no SMILES needed for them
    graphormer("embed", f"ckpt_path={ckpt}", f"input={src}", f"output={tmp_path / 'e.npy'}", cwd=tmp_path)
    with torch.no_grad():
        want = model.encode(*[batch[k] for k in ("x", "node_mask", "degree", "spd", "path")]).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), want, rtol=1e-4, atol=1e-5)

    proc = graphormer("export", f"ckpt_path={ckpt}", f"output={tmp_path / 'm.onnx'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "RDKit descriptors" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
