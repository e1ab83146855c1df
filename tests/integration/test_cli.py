"""End to end through the `graphormer` command, as a user types it: train, predict, finetune, evaluate, embed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from tests.cli import graphormer  # noqa: F401  (also imported from here by other tests)
from tests.conftest import nci_rows

TINY = ["model.num_layers=2", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2",
        "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
        "data.batch_size=32"]
# Enough steps (15 epochs of 8 batches, a higher rate) for the tiny model to learn TPSA well past the mean
# baseline: measured test MAE 14.1 against 25.0 on these 300 molecules.
LEARNS = ["optim.lr=3e-3", "trainer.max_epochs=15"]


def summary_fields(stdout: str) -> dict[str, str]:
    """The fields of the last `test_<metric>=… baseline_<metric>=… checkpoint=…` line."""
    line = [l for l in stdout.splitlines() if l.startswith("test_")][-1]
    return dict(part.split("=", 1) for part in line.split())


def assert_beats_baseline(fields: dict[str, str], margin: float = 0.8) -> None:
    """The model learned: its test MAE is well under the training-mean baseline's."""
    assert float(fields["test_mae"]) < margin * float(fields["baseline_mae"]), fields


@pytest.fixture(scope="module")
def trained(tmp_path_factory, nci_csv) -> tuple[Path, Path, str]:
    """A tiny model trained on 300 real molecules with two bad rows; returns (workdir, run dir, stdout)."""
    work = tmp_path_factory.mktemp("cli")
    data = work / "train.csv"
    rows = [("smiles", "tpsa")] + [(s, str(t)) for s, t in nci_rows(300)]
    rows.insert(5, ("C1CC(", "12.0"))  # unparsable: data row 5
    rows.insert(9, ("CCO", "lots"))  # non-numeric target: data row 9
    with open(data, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    run = work / "run"
    proc = graphormer("train", "data=csv", f"data.path={data}", f"hydra.run.dir={run}", *TINY, *LEARNS, cwd=work)
    return work, run, proc.stdout


def test_train_reports_skipped_rows_and_summary(trained):
    work, run, out = trained
    assert f"skipped 2 of 302 rows (see {run / 'skipped_rows.csv'})" in out
    with open(run / "skipped_rows.csv") as handle:
        skipped = list(csv.DictReader(handle))
    assert [(r["row"], r["smiles"]) for r in skipped] == [("5", "C1CC("), ("9", "CCO")]
    fields = summary_fields(out)
    assert_beats_baseline(fields)
    assert fields["checkpoint"] == str(run / "checkpoints" / "best.ckpt")
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "metrics.csv").is_file() and (run / "split.csv").is_file()
    assert "parameters" in out


def test_predict_keeps_row_order_and_reports_errors(trained, tmp_path):
    work, run, _ = trained
    src = tmp_path / "new.csv"
    src.write_text("id,smiles\nm1,CCO\nm2,not_a_smiles\nm3,c1ccccc1O\nm4,\nm5,C(C)(C)(C)(C)C\nm6,[Na+].[Cl-]\n")
    out = tmp_path / "pred.csv"
    ckpt = run / "checkpoints" / "best.ckpt"
    proc = graphormer("predict", f"ckpt_path={ckpt}", f"input={src}", f"output={out}", "smiles_column=smiles",
                      "progress=false", cwd=work)
    assert "predicted 3 of 6 rows" in proc.stdout and "molecules/s" in proc.stdout
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert list(rows[0]) == ["id", "smiles", "pred_tpsa", "error"]
    ok = [bool(r["pred_tpsa"]) for r in rows]
    assert ok == [True, False, True, False, False, True]
    assert all(r["error"] == "" for r, good in zip(rows, ok) if good)
    assert "valence" in rows[4]["error"].lower() and rows[1]["error"] and rows[3]["error"]

    # The Python API gives the same numbers.
    from graphormer.inference import Predictor

    result = Predictor.from_checkpoints([ckpt]).predict_smiles(["CCO", "c1ccccc1O"])
    assert np.allclose(result.mean[:, 0], [float(rows[0]["pred_tpsa"]), float(rows[2]["pred_tpsa"])], rtol=1e-5)

    # An ensemble of the best and last checkpoints adds a std column.
    out2 = tmp_path / "ens.csv"
    graphormer("predict", f"ckpt_path=[{ckpt},{run / 'checkpoints' / 'last.ckpt'}]", f"input={src}",
               f"output={out2}", "smiles_column=smiles", "progress=false", cwd=work)
    with open(out2) as handle:
        header = next(csv.reader(handle))
    assert header == ["id", "smiles", "pred_tpsa", "std_tpsa", "error"]


def test_finetune_with_more_targets_replaces_head(trained, tmp_path):
    work, run, _ = trained
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    data = tmp_path / "two.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "tpsa", "molwt"])
        for smiles, tpsa in nci_rows(200):
            mol = Chem.MolFromSmiles(smiles)
            writer.writerow([smiles, tpsa, Descriptors.MolWt(mol) if mol else ""])
    ft = tmp_path / "ft"
    proc = graphormer("finetune", f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", "data=csv", f"data.path={data}",
                      f"hydra.run.dir={ft}", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                      "finetune.freeze_embeddings=true", "finetune.freeze_layers=1", cwd=work)
    assert "head replaced (2 outputs)" in proc.stdout
    assert "frozen:" in proc.stdout
    assert (ft / "checkpoints" / "best.ckpt").is_file()

    import torch

    before = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    after = torch.load(ft / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    # Frozen parts are bit-identical, trained parts moved, the head has two outputs.
    key = "model.node_embedding.atom_encoder.weight"
    frozen = [k for k in after if k.startswith(("model.node_embedding", "model.layers.0."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["model.layers.1.fc1.weight"], after["model.layers.1.fc1.weight"])
    assert after["model.embed_out.weight"].shape[0] == 2
    assert key in after


def test_evaluate_and_embed(trained, tmp_path):
    work, run, _ = trained
    ckpt = run / "checkpoints" / "best.ckpt"
    data = tmp_path / "lab.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "tpsa"])
        writer.writerows(nci_rows(100))
    proc = graphormer("evaluate", f"ckpt_path={ckpt}", "data=csv", f"data.path={data}", "split=all",
                      f"hydra.run.dir={tmp_path / 'ev'}", cwd=work)
    line = [l for l in proc.stdout.splitlines() if l.startswith("mae=")][-1]
    assert "molecules=100" in line and math.isfinite(float(line.split()[0].split("=")[1]))

    emb = tmp_path / "emb.npy"
    graphormer("embed", f"ckpt_path={ckpt}", f"input={data}", f"output={emb}", cwd=work)
    matrix = np.load(emb)
    assert matrix.shape == (100, 16) and np.isfinite(matrix).all()


def test_input_errors_are_one_line(trained, tmp_path):
    work, run, _ = trained
    proc = graphormer("train", "data=csv", f"data.path={tmp_path / 'missing.csv'}", cwd=work, check=False)
    assert proc.returncode == 2 and "file not found" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    proc = graphormer("predict", f"ckpt_path={bad}", f"input={tmp_path}", "output=x.csv", cwd=work, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = graphormer("frobnicate", cwd=work, check=False)
    assert proc.returncode == 2 and "unknown verb" in proc.stderr
    proc = graphormer("train", "no_such_key=1", cwd=work, check=False)
    assert proc.returncode != 0 and "no_such_key" in proc.stderr


def test_help_lists_verbs_and_options(tmp_path):
    proc = graphormer("--help", cwd=tmp_path)
    for verb in ("train", "finetune", "predict", "evaluate", "embed"):
        assert verb in proc.stdout
    proc = graphormer("train", "--help", cwd=tmp_path)
    assert "graphormer train" in proc.stdout and "name: nci_tpsa" in proc.stdout
    assert "model: base, large, slim" in proc.stdout  # the config groups a user can pick


UNSEEN = ["C", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
          "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O", "[Na+].[Cl-]"]


def _batch(smiles):
    from graphormer.chem import smiles_to_graph
    from graphormer.data.collate import Collater

    batch = Collater(max_hops=5)([(smiles_to_graph(s), None) for s in smiles])
    return batch


@pytest.mark.parametrize("fmt", ["onnx", "torch_export"])
def test_export_matches_checkpoint_on_unseen_sizes(trained, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the `export` extra (onnx, onnxscript, onnxruntime) is not installed")
    work, run, _ = trained
    ckpt = run / "checkpoints" / "best.ckpt"
    out = tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt2")
    graphormer("export", f"ckpt_path={ckpt}", f"format={fmt}", f"output={out}",
               f"inference_checkpoint={tmp_path / 'compact.pt'}", cwd=work)
    import json

    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["target_names"] == ["tpsa"] and meta["featurizer_version"]

    from graphormer.inference import Predictor
    from graphormer.train.module import MODEL_INPUTS

    expected = Predictor.from_checkpoints([ckpt]).predict_smiles(UNSEEN).mean
    compact = Predictor.from_checkpoints([tmp_path / "compact.pt"]).predict_smiles(UNSEEN).mean
    assert np.array_equal(expected, compact)
    assert (tmp_path / "compact.pt").stat().st_size < ckpt.stat().st_size
    # Batches of sizes never seen at export time: 1 molecule, and all five (up to 61 atoms).
    for group in (UNSEEN[:1], UNSEEN):
        batch = _batch(group)
        inputs = [batch[k] for k in MODEL_INPUTS]
        if fmt == "onnx":
            import onnxruntime as ort

            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            got = session.run(None, {k: v.numpy() for k, v in zip(MODEL_INPUTS, inputs)})[0]
        else:
            import torch

            got = torch.export.load(out).module()(*inputs).numpy()
        want = Predictor.from_checkpoints([ckpt]).predict_smiles(group).mean
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
