"""`graphormer explain` end to end: the command line, predict's row rules on the bad-input corpus, and the
page in a real headless browser (Playwright driving Debian's chromium; under CI=true a missing one fails)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from rdkit import Chem

from tests.cli import graphormer
from tests.conftest import in_ci, nci_rows

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "bad_inputs"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """Random weights: the row rules and the files do not depend on training."""
    from graphormer.model.molecule import MoleculeModel

    model = MoleculeModel(dict(num_layers=2, embed_dim=16, ffn_dim=16, num_heads=2, max_hops=5),
                          target_names=["tpsa"], target_mean=[60.0], target_std=[30.0])
    return model.save(tmp_path_factory.mktemp("explain_ckpt") / "model.ckpt")


@pytest.fixture(scope="module")
def explained(tmp_path_factory, checkpoint) -> tuple[Path, subprocess.CompletedProcess, int]:
    """The CLI on 12 NCI molecules and two bad rows, with a label column."""
    work = tmp_path_factory.mktemp("explain_cli")
    src = work / "molecules.csv"
    rows = nci_rows(12)
    with open(src, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "tpsa"])
        writer.writerows(rows[:6] + [("not a smiles", 1.0)] + rows[6:] + [("C1CC", "")])
    proc = graphormer("explain", f"ckpt_path={checkpoint}", f"input={src}", "output=out", "label_column=tpsa",
                      "steps=8", "progress=false", cwd=work)
    return work / "out", proc, len(rows)


def test_cli_writes_every_file(explained):
    out, proc, n = explained
    assert f"explained {n} of {n + 2} rows" in proc.stdout and "completeness gap" in proc.stdout
    molecules = _rows(out / "molecules.csv")
    assert len(molecules) == n + 2  # one row per input row, in input order
    assert [r["smiles"] for r in molecules][6] == "not a smiles" and molecules[6]["error"]
    assert molecules[-1]["error"] and not molecules[-1]["pred_tpsa"]
    for row in (r for r in molecules if not r["error"]):
        assert float(row["ig_gap_tpsa"]) >= 0 and (out / row["image"]).is_file()  # 8 steps: not the gap test
    atoms = _rows(out / "atoms.csv")
    assert list(atoms[0]) == ["row", "smiles", "atom_index", "element", "attr_tpsa", "attn_layer_0",
                              "attn_layer_1", "attn_mean"]
    assert sorted((out / "images").iterdir())[0].suffix in (".png", ".svg")
    assert len(list((out / "images").glob("*.png"))) == len(list((out / "images").glob("*.svg"))) == n


def test_page_is_self_contained(explained):
    out, _, n = explained
    page = (out / "index.html").read_text()
    links = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page, flags=re.IGNORECASE)
    assert len([l for l in links if l.endswith(".png")]) == 2 * n  # img src and its link, one per molecule
    assert not [l for l in links if re.match(r"\s*(https?:)?//", l, flags=re.IGNORECASE)]
    assert "<script src" not in page and "<link" not in page
    assert "|prediction − label|" in page  # label_column= given: the error sort is offered


def test_help_tells_what_is_attributed(tmp_path):
    proc = graphormer("explain", "--help", cwd=tmp_path)
    for words in ("integrated gradients", "LOGIT", "completeness gap", "math attention backend", "steps: 64",
                  "atoms.csv", "index.html"):
        assert words in proc.stdout


@pytest.mark.parametrize("group, file, column", [("csv", "predict_rows.csv", "smiles"),
                                                 ("smi", "predict_lines.smi", None),
                                                 ("sdf", "predict_records.sdf", None)])
def test_bad_rows_get_predicts_errors_and_no_atoms(tmp_path, checkpoint, group, file, column):
    """Same input as the predict bad-input tests: explain's error column equals predict's row for row, and
    atoms.csv has exactly the atoms of the usable molecules."""
    from graphormer.inference import Predictor, predict_file
    from graphormer.inference.explain_files import explain_file

    predictor = Predictor.from_checkpoints([checkpoint])
    predict_file(predictor, CORPUS / file, tmp_path / "pred.csv", smiles_column=column, progress=False)
    explain_file(predictor, CORPUS / file, tmp_path / "ex", smiles_column=column, steps=2, progress=False)
    predicted, molecules = _rows(tmp_path / "pred.csv"), _rows(tmp_path / "ex" / "molecules.csv")
    assert [r["error"] for r in molecules] == [r["error"] for r in predicted]
    assert any(r["error"] for r in molecules) and any(not r["error"] for r in molecules)
    for p, m in zip(predicted, molecules):  # same predictions (explain runs the math backend)
        assert (p["pred_tpsa"] == "") == (m["pred_tpsa"] == "")
        if p["pred_tpsa"]:
            assert float(m["pred_tpsa"]) == pytest.approx(float(p["pred_tpsa"]), rel=1e-4, abs=1e-4)
    atoms = _rows(tmp_path / "ex" / "atoms.csv")
    usable = [i + 1 for i, r in enumerate(molecules) if not r["error"]]
    assert sorted({int(a["row"]) for a in atoms}) == usable
    for row in usable:
        mine = [a for a in atoms if int(a["row"]) == row]
        mol = Chem.MolFromSmiles(mine[0]["smiles"])
        # one row per atom the model reads: the heavy atoms, and hydrogens or dummies RDKit keeps ([2H], *)
        assert [int(a["atom_index"]) for a in mine] == list(range(mol.GetNumAtoms()))
        assert [a["element"] for a in mine] == [atom.GetSymbol() for atom in mol.GetAtoms()]
        if all(atom.GetAtomicNum() > 1 for atom in mol.GetAtoms()):
            assert len(mine) == mol.GetNumHeavyAtoms()


def test_ensemble_reports_spread(tmp_path, checkpoint):
    from graphormer.inference import Predictor
    from graphormer.inference.explain_files import explain_file
    from graphormer.model.molecule import MoleculeModel

    other = MoleculeModel.load(checkpoint)
    for p in other.parameters():
        p.data.add_(0.05)
    second = other.save(tmp_path / "other.ckpt")
    src = tmp_path / "in.smi"
    src.write_text("CCO ethanol\nc1ccccc1Cl chlorobenzene\n")
    explain_file(Predictor.from_checkpoints([checkpoint, second]), src, tmp_path / "ex", steps=4, progress=False)
    molecules, atoms = _rows(tmp_path / "ex" / "molecules.csv"), _rows(tmp_path / "ex" / "atoms.csv")
    assert "std_tpsa" in molecules[0] and "attr_std_tpsa" in atoms[0]
    assert len(atoms) == 3 + 7 and all(float(a["attr_std_tpsa"]) >= 0 for a in atoms)


# ------------------------------------------------------------------------------------- headless browser
def _browser() -> str:
    """Playwright and a system chromium, or skip (fail under CI=true: .ci/run installs both)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    else:
        found = next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)
        if found:
            return found
        reason = "no chromium on PATH (apt-get install chromium; .ci/run does)"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def test_page_opens_in_a_headless_browser(explained):
    out, _, n = explained
    executable = _browser()
    from playwright.sync_api import sync_playwright

    failed = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto((out / "index.html").as_uri(), wait_until="load")
            page.evaluate("() => Promise.all(Array.from(document.images, img => img.decode().catch(() => null)))")
            widths = page.eval_on_selector_all("#grid img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == n and all(w > 0 for w in widths), widths
            page.select_option("#sort", "pred0:desc")
            values = page.eval_on_selector_all("#grid .card", "cs => cs.map(c => parseFloat(c.dataset.pred0))")
            assert values == sorted(values, reverse=True)
            page.select_option("#sort", "error:desc")
            errors = page.eval_on_selector_all("#grid .card", "cs => cs.map(c => parseFloat(c.dataset.error))")
            assert errors == sorted(errors, reverse=True)
        finally:
            browser.close()
    assert not failed, failed


def test_pretrained_slim_with_chosen_targets(tmp_path):
    """The shipped model (216 descriptor outputs, descriptor inputs held fixed): explain only the named ones;
    an unknown target or label column is a one-line DataError."""
    from graphormer.errors import DataError
    from graphormer.inference import Predictor
    from graphormer.inference.explain_files import explain_file

    predictor = Predictor.from_pretrained("slim")
    assert "MolLogP" in predictor.output_names
    src = tmp_path / "in.csv"
    src.write_text("smiles,logp\nOc1ccccc1Cl,2.2\nbad(,1\n")
    stats = explain_file(predictor, src, tmp_path / "ex", steps=8, progress=False, targets=["MolLogP", "TPSA"],
                         label_column="logp")
    assert stats["explained"] == 1 and stats["failed"] == 1
    molecules = _rows(tmp_path / "ex" / "molecules.csv")
    assert [k for k in molecules[0] if k.startswith("pred_")] == ["pred_MolLogP", "pred_TPSA"]
    assert sorted(p.name for p in (tmp_path / "ex" / "images").iterdir()) == [
        "row_1_MolLogP.png", "row_1_MolLogP.svg", "row_1_TPSA.png", "row_1_TPSA.svg"]
    expected = predictor.predict_smiles(["Oc1ccccc1Cl"]).mean[0, predictor.output_names.index("TPSA")]
    assert float(molecules[0]["pred_TPSA"]) == pytest.approx(expected, rel=1e-4, abs=1e-4)
    with pytest.raises(DataError, match="no output named NoSuch"):
        explain_file(predictor, src, tmp_path / "ex2", targets=["NoSuch"], progress=False)
    with pytest.raises(DataError, match="no label column"):
        explain_file(predictor, src, tmp_path / "ex3", targets="TPSA", label_column="nope", progress=False)
