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

from tests.cli import graphormer as run_cli

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
TINY = ["model.num_layers=1", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2",
        "trainer.enable_progress_bar=false", "data.batch_size=32", "trainer.log_every_n_steps=1"]


def graphormer(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=timeout, env={"OMP_NUM_THREADS": "1"}, check=False)


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
    ("explain", ["ckpt_path=a", "input=b", "output=c", "step=8"], "did you mean steps?"),
    ("explain", ["ckpt_path=a", "input=b", "output=c", "steps=0"], "steps must be a positive integer"),
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


# ------------------------------------------------------------------------------ the run folder's story
@pytest.fixture(scope="module")
def regression_run(tmp_path_factory, nci_csv):
    work = tmp_path_factory.mktemp("everyday")
    run = work / "run"
    proc = graphormer("train", "data=csv", f"data.path={nci_csv}", *TINY, "trainer.max_epochs=3",
                      f"data.cache_dir={work / 'cache'}", f"hydra.run.dir={run}", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work, run, proc


def _png_shape(path: Path) -> tuple[int, ...]:
    from matplotlib import image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return image.imread(path).shape


def test_results_json_and_plots(regression_run, nci_csv):
    work, run, proc = regression_run
    results = json.loads((run / "results.json").read_text())
    summary = [l for l in proc.stdout.splitlines() if l.startswith("test_mae=")]
    assert len(summary) == 1  # the console summary stays one line
    fields = dict(part.split("=", 1) for part in summary[0].split())
    assert results["test"]["mae"] == pytest.approx(float(fields["test_mae"]), abs=1e-4)
    assert results["baseline"]["mae"] == pytest.approx(float(fields["baseline_mae"]), abs=1e-4)
    assert results["checkpoint"] == fields["checkpoint"] == str(run / "checkpoints" / "best.ckpt")
    assert results["split_sizes"] == {"train": 240, "val": 30, "test": 30}
    assert results["rows"] == 300 and results["skipped"] == 0
    assert results["epochs"] == 3 and results["steps"] == 24 and 0 < results["wall_time_s"] < 600
    assert results["task"] == "regression" and results["target_names"] == ["tpsa"]
    assert sorted(results["plots"]) == ["curves.png", "parity.png"]
    for name in ("curves.png", "parity.png"):
        height, width, _ = _png_shape(run / name)
        assert height > 100 and width > 100
    assert not (run / "roc.png").exists()


def test_curves_are_the_epoch_means_of_metrics_csv(regression_run):
    from graphormer.train.report import epoch_curves

    _, run, _ = regression_run
    curves = epoch_curves(run / "metrics.csv")
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = [float(r["train/loss"]) for r in rows if r["train/loss"] and int(float(r["epoch"])) == 0]
    assert curves["train/loss"][0] == pytest.approx(sum(first) / len(first))
    assert sorted(curves["val/mae"]) == [0, 1, 2]


def test_classification_run_draws_a_roc_curve(tmp_path, nci_csv):
    data = tmp_path / "polar.csv"
    with open(nci_csv, newline="") as src, open(data, "w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["smiles", "polar"])
        for row in csv.DictReader(src):
            writer.writerow([row["smiles"], int(float(row["tpsa"]) > 40)])
    run = tmp_path / "run"
    proc = graphormer("train", "data=csv", f"data.path={data}", "data.task=classification", *TINY,
                      "trainer.max_epochs=2", f"hydra.run.dir={run}", f"data.cache_dir={tmp_path / 'cache'}",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((run / "results.json").read_text())
    assert results["task"] == "classification" and 0 <= results["test"]["rocauc"] <= 1
    assert sorted(results["plots"]) == ["curves.png", "roc.png"]
    assert _png_shape(run / "roc.png")[0] > 100 and not (run / "parity.png").exists()


def test_a_failed_run_leaves_its_error_in_the_log(tmp_path):
    run = tmp_path / "run"
    proc = graphormer("train", "data=csv", f"data.path={tmp_path / 'missing.csv'}", f"hydra.run.dir={run}",
                      cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("error:") == 1
    error = [l for l in proc.stderr.splitlines() if l.startswith("error:")][0]
    assert error in (run / "graphormer.log").read_text()


# ------------------------------------------------------------------------------------------- quiet
def test_library_noise_stays_off_the_console_but_in_the_log(regression_run):
    _, run, proc = regression_run
    console = proc.stdout + proc.stderr
    assert "litlogger" not in console and "LeafSpec" not in console
    log = (run / "graphormer.log").read_text()
    assert "litlogger" in log and "LeafSpec" in log


def test_verbose_shows_everything(tmp_path, nci_csv):
    proc = graphormer("train", "-v", "data=csv", f"data.path={nci_csv}", *TINY, "trainer.max_epochs=1",
                      "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                      f"hydra.run.dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "litlogger" in proc.stdout + proc.stderr


# -------------------------------------------------------------------------- after training: outputs
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_evaluate_prints_once_and_leaves_no_folder(regression_run, nci_csv, tmp_path):
    work, run, _ = regression_run
    proc = graphormer("evaluate", f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", "data=csv",
                      f"data.path={nci_csv}", f"data.cache_dir={work / 'cache'}", "split=all", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout + proc.stderr).count("skipped 0 of 300 rows") == 1
    assert list(tmp_path.iterdir()) == []  # no outputs/evaluate-csv/<time>/
    out = tmp_path / "scored"
    proc = graphormer("evaluate", f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", "data=csv",
                      f"data.path={nci_csv}", f"data.cache_dir={work / 'cache'}", f"output_dir={out}", cwd=tmp_path)
    assert proc.returncode == 0 and (out / "skipped_rows.csv").is_file() and (out / "split.csv").is_file()


def test_predict_embed_export_outputs(regression_run, tmp_path):
    work, run, _ = regression_run
    ckpt = run / "checkpoints" / "best.ckpt"
    src = tmp_path / "new.csv"
    src.write_text("id,smiles\nm1,CCO\nm2,not_a_smiles\nm3,c1ccccc1O\n")
    mode = 0o666 & ~_umask()

    pred = tmp_path / "pred.csv"
    proc = graphormer("predict", f"ckpt_path={ckpt}", f"input={src}", f"output={pred}", "smiles_column=smiles",
                      "progress=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert b"\r" not in pred.read_bytes() and pred.read_text().count("\n") == 4
    assert pred.stat().st_mode & 0o777 == mode

    emb = tmp_path / "emb.csv"
    proc = graphormer("embed", f"ckpt_path={ckpt}", f"input={src}", f"output={emb}", "smiles_column=smiles",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(emb, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["row"], r["id"], r["smiles"]) for r in rows] == [("1", "m1", "CCO"), ("2", "m2", "not_a_smiles"),
                                                               ("3", "m3", "c1ccccc1O")]
    assert rows[0]["e0"] and not rows[1]["e0"] and rows[1]["error"]
    assert emb.stat().st_mode & 0o777 == mode

    pytest.importorskip("onnxruntime")
    onnx = tmp_path / "model.onnx"
    proc = graphormer("export", f"ckpt_path={ckpt}", f"output={onnx}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if l.strip()]
    assert len(lines) <= 3, lines  # no per-node optimiser log
    assert onnx.stat().st_mode & 0o777 == mode


# ------------------------------------------------------------------------------------------- bench
@pytest.mark.parametrize("missing", ["transformers", "matplotlib"])
def test_bench_without_its_extra_is_one_line(tmp_path, missing):
    """A package of the bench extra hidden (sys.modules[name] = None: find_spec and import both fail)."""
    script = REPO / "scripts" / "bench.py"
    code = (f"import runpy, sys; sys.modules[{missing!r}] = None; "
            f"sys.argv = [{str(script)!r}, '--quick', '--out', {str(tmp_path / 'b')!r}]; "
            f"runpy.run_path({str(script)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0] and 'pip install -e ".[bench]"' in lines[0], proc.stderr
    assert not (tmp_path / "b").exists()


def test_bench_lists_only_the_files_it_wrote(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("graphormer_bench_script", REPO / "scripts" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "markdown", lambda results: "table\n")
    monkeypatch.setattr(bench, "plot", lambda results, path: False)  # as without matplotlib
    assert bench.write_results({"summary": {}}, tmp_path) == ["bench.json", "bench.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitignore", "bench.json", "bench.md"]
