"""Descriptor pretraining through the CLI recipe (experiment=pretrain_slim) on a tiny corpus: the targets are
the scaled RDKit descriptors, and a run interrupted with Ctrl-C and resumed ends with the uninterrupted
run's exact weights."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from graphormer.chem.descriptors import DescriptorScaler, calc_descriptors, default_descriptor_names
from tests.conftest import nci_rows

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
TINY = ["experiment=pretrain_slim", "model.num_layers=2", "model.embed_dim=16", "model.ffn_dim=16",
        "model.num_heads=2", "data.corpus_size=null", "data.exclude=[]", "data.batch_size=16",
        "data.split_sizes=[0.8,0.1,0.1]", "trainer.max_epochs=2", "trainer.val_check_interval=1.0",
        "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1", "trainer.deterministic=true",
        "checkpoint_every_n_steps=4", "threads=1"]


def _start(folder: Path, corpus: Path, name: str, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "graphormer", "train", *TINY, f"data.path={corpus}", f"data.root={folder}",
            f"data.cache_dir={folder / 'cache'}", f"hydra.run.dir={folder / name}", *extra]
    return subprocess.Popen(argv, cwd=folder, env=ENV, stdout=open(folder / f"{name}.out", "a"),
                            stderr=open(folder / f"{name}.err", "a"))


def _last_step(run_dir: Path) -> int:
    try:
        with open(run_dir / "metrics.csv", newline="") as handle:
            return max((int(r["step"]) for r in csv.DictReader(handle) if r.get("train/loss")), default=-1)
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.slow  # ~130 s: three CLI runs; the fast suite's resume exactness is test_reliability.py's
def test_pretraining_targets_and_exact_resume(tmp_path):
    corpus = tmp_path / "corpus.csv"
    smiles = [s for s, _ in nci_rows(220) if len(s) < 80][:160]
    corpus.write_text("SMILES\n" + "\n".join(smiles) + "\n")

    reference = _start(tmp_path, corpus, "reference")
    assert reference.wait(timeout=600) == 0, (tmp_path / "reference.err").read_text()[-3000:]

    interrupted = _start(tmp_path, corpus, "resumed")
    deadline = time.monotonic() + 300
    while _last_step(tmp_path / "resumed") < 6:
        assert interrupted.poll() is None and time.monotonic() < deadline, (tmp_path / "resumed.err").read_text()
        time.sleep(0.01)
    interrupted.send_signal(signal.SIGINT)
    assert interrupted.wait(timeout=300) == 130
    resumed = _start(tmp_path, corpus, "resumed", "ckpt_path=last")
    assert resumed.wait(timeout=600) == 0, (tmp_path / "resumed.err").read_text()[-3000:]

    ref = torch.load(tmp_path / "reference" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    got = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ref["global_step"] == got["global_step"] > 6
    for key, value in ref["state_dict"].items():
        torch.testing.assert_close(got["state_dict"][key], value, rtol=0, atol=0, msg=key)

    # The targets are the corpus' own descriptors, scaled by the robust scaler fitted on the corpus.
    hp = ref["hyper_parameters"]
    names = default_descriptor_names()
    assert list(hp["target_names"]) == names
    raw = np.stack([calc_descriptors(s, names) for s in smiles])
    scaled = DescriptorScaler.fit(raw, names).transform(raw)
    train_rows = [int(r["row"]) - 1 for r in csv.DictReader(open(tmp_path / "reference" / "split.csv"))
                  if r["split"] == "train"]
    np.testing.assert_allclose(hp["target_mean"], np.nanmean(scaled[train_rows], axis=0), rtol=0, atol=1e-5)
    out = (tmp_path / "reference.out").read_text()
    assert "test_rmse=" in out and "baseline_rmse=" in out
