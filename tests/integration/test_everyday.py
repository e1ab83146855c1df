"""Everyday use through the `graphormer` command (issue 13): config mistakes, Trainer arguments, the run folder's
records, quiet output and output files."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
TINY = ["model.num_layers=1", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2",
        "trainer.enable_progress_bar=false", "data.batch_size=32", "trainer.log_every_n_steps=1"]


def graphormer(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphormer", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


# ------------------------------------------------------------------------------------- config mistakes
@pytest.mark.parametrize("verb, args, wanted", [
    ("train", ["trainer.max_epoch=3"], "did you mean trainer.max_epochs?"),
    ("train", ["+trainer.max_epoch=3"], "did you mean trainer.max_epochs?"),
    ("train", ["optim.lrr=1e-3"], "did you mean optim.lr?"),
    ("train", ["model=bse"], "did you mean model=base?"),
    ("train", ["data=csv", "data.pth=x.csv"], "did you mean data.path?"),
    ("train", ["trainer.callbacks=[]"], "trainer.callbacks cannot be set"),
    ("finetune", ["ckpt_path=x.ckpt", "finetune.freeze_layer=2"], "did you mean finetune.freeze_layers?"),
    ("predict", ["ckpt_path=a", "input=b", "output=c", "chunk_sise=10"], "did you mean chunk_size?"),
    ("evaluate", ["ckpt_path=a", "splitt=all"], "did you mean split?"),
    ("embed", ["ckpt_path=a", "input=b", "output=c", "max_token=10"], "did you mean max_tokens?"),
    ("export", ["ckpt_path=a", "output=b", "fromat=onnx"], "did you mean format?"),
    ("train", ["optim.lr=[1,"], "cannot read the override"),
])
def test_config_mistake_is_one_line_with_the_nearest_key(tmp_path, verb, args, wanted):
    proc = graphormer(verb, *args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and wanted in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started, no run folder


def test_every_trainer_argument_is_accepted_without_plus(tmp_path):
    proc = graphormer("train", "trainer.max_time=00:00:02:00", "trainer.val_check_interval=0.5",
                      "trainer.check_val_every_n_epoch=1", "--cfg", "job", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "max_time: 00:00:02:00" in proc.stdout and "val_check_interval: 0.5" in proc.stdout


def test_max_time_stops_the_run_on_time(tmp_path, nci_csv):
    run = tmp_path / "run"
    start = time.monotonic()
    proc = graphormer("train", "data=csv", f"data.path={nci_csv}", *TINY, "trainer.max_epochs=1000",
                      "trainer.max_time=00:00:00:05", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 120
    with open(run / "metrics.csv", newline="") as handle:
        epochs = {int(float(r["epoch"])) for r in csv.DictReader(handle) if r.get("epoch")}
    assert 0 < max(epochs) < 999  # stopped by the clock, not by max_epochs
    assert "Time limit reached" in (run / "graphormer.log").read_text()
    assert "test_mae=" in proc.stdout
