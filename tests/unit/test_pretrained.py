"""The weights shipped in the package: checksum checked on load, the recorded embeddings of three fixed
molecules, descriptor predictions that track RDKit's, and `finetune pretrained=slim` from a non-editable
install with no network and no source tree, which also converts a HuggingFace safetensors folder."""

from __future__ import annotations

import os
import subprocess
import sys
import csv
from pathlib import Path

import numpy as np
import pytest

from graphormer import pretrained
from graphormer.chem import smiles_to_graph
from graphormer.chem.descriptors import calc_descriptors, shipped_scaler
from graphormer.errors import DataError
from graphormer.inference import Predictor
from graphormer.model.molecule import MoleculeModel
from tests.conftest import nci_rows

REPO = Path(__file__).resolve().parents[2]


def test_shipped_file_matches_its_checksum_and_size_limit():
    entry = pretrained.manifest()["slim"]
    path = pretrained.pretrained_path("slim")
    assert pretrained.sha256_of(path) == entry["sha256"]
    assert path.stat().st_size == entry["bytes"] <= 8 * 2**20


def test_damaged_or_unknown_weights_are_refused(monkeypatch):
    with pytest.raises(DataError, match="unknown"):
        pretrained.pretrained_path("huge")
    entry = dict(pretrained.manifest()["slim"], sha256="0" * 64)
    monkeypatch.setattr(pretrained, "manifest", lambda: {"slim": entry})
    with pytest.raises(DataError, match="damaged"):
        pretrained.pretrained_path("slim")


def test_recorded_embeddings_and_descriptor_predictions():
    entry = pretrained.manifest()["slim"]
    model = MoleculeModel.load(pretrained.pretrained_path("slim"))
    scaler = shipped_scaler()
    assert model.target_names == scaler.names and model.task == "regression"
    predictor = Predictor.from_pretrained("slim")
    embeddings = predictor.embed_graphs([smiles_to_graph(s) for s in entry["fixed_molecules"]])
    np.testing.assert_allclose(embeddings, np.array(entry["embeddings"]), rtol=1e-4, atol=1e-4)

    # its outputs are the scaled descriptors it was trained on: they track RDKit's values on unseen molecules
    smiles = [s for s, _ in nci_rows(60)][20:]
    predicted = predictor.predict_smiles(smiles).mean
    truth = scaler.transform(np.stack([calc_descriptors(s, scaler.names) for s in smiles]))
    ok = ~np.isnan(truth)
    assert np.corrcoef(predicted[ok], truth[ok])[0, 1] > 0.5
    tpsa = scaler.names.index("TPSA")
    assert np.corrcoef(predicted[:, tpsa], truth[:, tpsa])[0, 1] > 0.8


def test_non_editable_install_finetunes_and_converts_safetensors(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # a regular (non-editable) install of this checkout; its dependencies come from the surrounding env
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(REPO)], check=True, cwd=tmp_path,
                   capture_output=True)
    data = tmp_path / "mine.csv"
    with open(data, "w", newline="") as handle:
        csv.writer(handle).writerows([("smiles", "y"), *[(s, f"{t / 10:.3f}") for s, t in nci_rows(120)]])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    proc = subprocess.run([str(python), "-c", "import graphormer, sys; print(graphormer.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert str(venv) in proc.stdout, proc.stdout  # the installed copy, not the source tree
    proc = subprocess.run([str(python), "-m", "graphormer", "finetune", "pretrained=slim", "data=csv",
                           f"data.path={data}", "data.target_columns=[y]", "trainer.max_epochs=1",
                           "trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fine-tuning from slim: head replaced (1 outputs)" in proc.stdout
    assert "test_mae=" in proc.stdout and (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()

    # The same install imports a HuggingFace `save_pretrained` folder, which holds model.safetensors: the
    # package declares what reading it needs.
    proc = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.requires('graphormer'))"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "safetensors" in proc.stdout
    from tests.unit.inference.test_convert_hf import _random_hf_model

    _random_hf_model(3, num_classes=1).save_pretrained(tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file() and not (tmp_path / "hf" / "pytorch_model.bin").exists()
    proc = subprocess.run([str(python), "-m", "graphormer", "convert", "source=hf", f"path={tmp_path / 'hf'}",
                           f"output={tmp_path / 'hf.ckpt'}", "target_names=[y]"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert MoleculeModel.load(tmp_path / "hf.ckpt").output_names == ["y"]
