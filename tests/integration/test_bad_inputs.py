"""The bad-input corpus (tests/data/bad_inputs.csv) through the real `graphormer` command line.

Every case states its outcome: a row is predicted or gets an error, a training row is used or skipped
(with its reason in skipped_rows.csv), a whole run fails with a one-line error and a non-zero exit code.
No input error may show the user a traceback.

Speed: one runner subprocess imports the CLI once and forks a child per command (the child calls the same
`graphormer.cli.main` as `python -m graphormer`, with its own stdout, stderr and exit code), two at a time.
Grouped cases share a command: one predict over a CSV of ~60 odd rows checks them all.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "bad_inputs"
MANIFEST = REPO / "tests" / "data" / "bad_inputs.csv"
TINY = ["model.num_layers=1", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2", "threads=1",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "data.batch_size=32"]
GROUP_FILES = {"predict_csv": "predict_rows.csv", "predict_smi": "predict_lines.smi",
               "predict_sdf": "predict_records.sdf", "train_csv": "train_rows.csv"}


def load_cases() -> list[dict]:
    with open(MANIFEST, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


CASES = load_cases()


# ------------------------------------------------------------------------------------------- commands
def _train_args(tmp: Path, name: str, data: str) -> list[str]:
    return ["train", "data=csv", f"data.path={data}", *TINY, f"hydra.run.dir={tmp / name}",
            f"data.cache_dir={tmp / 'cache'}"]


def _argv(case: dict, tmp: Path) -> list[str]:
    """The command line of a single case."""
    extra = [a.format(corpus=CORPUS, tmp=tmp) for a in case["args"].split()]
    data = str(CORPUS / case["file"])
    if case["verb"] == "train":
        return _train_args(tmp, case["case"], data) + extra
    if case["verb"] == "predict":
        ckpt = [] if any(a.startswith("ckpt_path=") for a in extra) else [f"ckpt_path={tmp / 'model.ckpt'}"]
        return ["predict", *ckpt, f"input={data}", f"output={tmp / case['case']}.csv", "progress=false", *extra]
    if case["verb"] == "evaluate":
        return ["evaluate", "data=csv", f"data.path={data}", f"hydra.run.dir={tmp / case['case']}",
                f"data.cache_dir={tmp / 'cache'}", *extra]
    raise ValueError(case["verb"])


def jobs(tmp: Path) -> list[dict]:
    out = []
    for group, file in GROUP_FILES.items():
        if group == "train_csv":
            argv = _train_args(tmp, group, str(CORPUS / file)) + ["data.max_atoms=60"]
        else:
            column = ["smiles_column=smiles"] if group == "predict_csv" else []
            argv = ["predict", f"ckpt_path={tmp / 'model.ckpt'}", f"input={CORPUS / file}",
                    f"output={tmp / group}.csv", "progress=false", *column]
        out.append({"name": group, "argv": argv})
    for case in CASES:
        if case["group"] == "single":
            derived = case["case"].startswith(("resume_", "evaluate_"))  # need the train group's checkpoint
            out.append({"name": case["case"], "argv": _argv(case, tmp), "after": "train_csv" if derived else None})
    return out


# -------------------------------------------------------------------------------------- checkpoints
def make_model_checkpoints(tmp: Path) -> None:
    """A compact inference checkpoint with random weights (predict needs no training), a truncated copy,
    and the same file as a resume target (an inference checkpoint cannot resume training)."""
    from graphormer.model.molecule import MoleculeModel

    model = MoleculeModel(dict(num_layers=1, embed_dim=16, ffn_dim=16, num_heads=2, max_hops=5),
                          target_names=["tpsa"], target_mean=[60.0], target_std=[30.0])
    path = model.save(tmp / "model.ckpt")
    data = path.read_bytes()
    (tmp / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    shutil.copy(path, tmp / "inference.ckpt")


def make_training_checkpoints(tmp: Path) -> None:
    """From the train group's last.ckpt: truncated copies (one as a run directory's last.ckpt), one of
    another task, one of other targets."""
    import torch

    last = tmp / "train_csv" / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    (tmp / "truncated_train.ckpt").write_bytes(data[: len(data) * 2 // 3])
    damaged = tmp / "resume_auto_damaged_last" / "checkpoints"  # `resume=true` finds a damaged last.ckpt
    damaged.mkdir(parents=True)
    (damaged / "last.ckpt").write_bytes(data[: len(data) // 2])
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    for name, change in (("other_task.ckpt", {"task": "classification", "target_names": ["active"]}),
                         ("other_targets.ckpt", {"target_names": ["logS"]})):
        ckpt["hyper_parameters"] = {**ckpt["hyper_parameters"], **change}
        torch.save(ckpt, tmp / name)


# ------------------------------------------------------------------------------------------- runner
def _child(job: dict, tmp: Path) -> None:
    """In a forked child: run one command line exactly as `python -m graphormer` would, then exit."""
    from tests.cli import become_command

    become_command({"argv": job["argv"], "cwd": str(Path.cwd()), "env": dict(os.environ),
                    "out": str(tmp / f"{job['name']}.out"), "err": str(tmp / f"{job['name']}.err")})


def run_batch(job_list: list[dict], tmp: Path, workers: int = 2) -> dict[str, int]:
    """Runner side: heavy imports once, then each job in a forked child; jobs with `after` wait for it."""
    from tests.cli import preload

    preload()

    make_model_checkpoints(tmp)
    pending, running, codes = list(job_list), {}, {}
    while pending or running:
        ready = [j for j in pending if not j.get("after") or j["after"] in codes]
        while ready and len(running) < workers:
            job = ready.pop(0)
            pending.remove(job)
            if job.get("after") and not (tmp / "truncated_train.ckpt").exists():
                make_training_checkpoints(tmp)
            pid = os.fork()
            if pid == 0:
                _child(job, tmp)
            running[pid] = job["name"]
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return codes


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    tmp = tmp_path_factory.mktemp("bad_inputs")
    (tmp / "jobs.json").write_text(json.dumps(jobs(tmp)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, __file__, str(tmp)], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, json.loads((tmp / "codes.json").read_text())


def _streams(tmp: Path, name: str) -> tuple[str, str]:
    return ((tmp / f"{name}.out").read_text(errors="replace"), (tmp / f"{name}.err").read_text(errors="replace"))


def _mark(case: dict):
    marks = [pytest.mark.xfail(reason=case["known_issue"], strict=True)] if case["known_issue"] else []
    return pytest.param(case, id=case["case"], marks=marks)


def _group(name: str) -> list:
    return [_mark(c) for c in CASES if c["group"] == name]


# ------------------------------------------------------------------------------------ row outcomes
def _predicted_rows(tmp: Path, group: str) -> dict[str, dict]:
    with open(tmp / f"{group}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if group == "predict_csv":
        return {r["id"]: r for r in rows}
    return {str(i): r for i, r in enumerate(rows, start=1)}


@pytest.mark.parametrize("group", ["predict_csv", "predict_smi", "predict_sdf", "train_csv"])
def test_group_run_succeeds_without_traceback(batch, group):
    tmp, codes = batch
    out, err = _streams(tmp, group)
    assert codes[group] == 0, err[-2000:]
    assert "Traceback" not in err
    if group.startswith("predict"):
        rows = _predicted_rows(tmp, group)
        assert len(rows) == sum(c["group"] == group for c in CASES)  # one output row per input record
        assert f"predicted {sum(bool(r['pred_tpsa']) for r in rows.values())} of {len(rows)} rows" in out


@pytest.mark.parametrize("case", _group("predict_csv") + _group("predict_smi") + _group("predict_sdf"))
def test_predict_row(batch, case):
    tmp, _ = batch
    row = _predicted_rows(tmp, case["group"])[case["key"]]
    if case["expected"] == "predicted":
        assert row["pred_tpsa"] and row["error"] == "", row
        assert float(row["pred_tpsa"]) == pytest.approx(float(row["pred_tpsa"]))  # finite, not nan
    else:
        assert row["pred_tpsa"] == "" and case["fragment"].lower() in row["error"].lower(), row


def _skipped(tmp: Path) -> dict[str, str]:
    with open(tmp / "train_csv" / "skipped_rows.csv", newline="", encoding="utf-8") as handle:
        return {r["row"]: r["reason"] for r in csv.DictReader(handle)}


@pytest.mark.parametrize("case", _group("train_csv"))
def test_train_row(batch, case):
    tmp, _ = batch
    skipped = _skipped(tmp)
    if case["expected"] == "skipped":
        assert case["key"] in skipped, f"row {case['key']} was used"
        assert case["fragment"].lower() in skipped[case["key"]].lower(), skipped[case["key"]]
    else:
        assert case["key"] not in skipped, skipped.get(case["key"])


def test_skipped_rows_file_is_exact(batch):
    """skipped_rows.csv lists exactly the rows the manifest says are skipped (known issues aside)."""
    tmp, _ = batch
    cases = [c for c in CASES if c["group"] == "train_csv"]
    known = {c["key"] for c in cases if c["known_issue"]}
    expected = {c["key"] for c in cases if c["expected"] == "skipped"} - known
    assert set(_skipped(tmp)) - known == expected
    out, _ = _streams(tmp, "train_csv")
    total = sum(1 for line in (CORPUS / "train_rows.csv").read_text().splitlines()[1:]
                if line.strip(" ,") and not line.startswith("#"))
    assert f"skipped {len(_skipped(tmp))} of {total} rows" in out


# --------------------------------------------------------------------------------- whole-run cases
@pytest.mark.parametrize("case", _group("single"))
def test_single_case(batch, case):
    tmp, codes = batch
    out, err = _streams(tmp, case["case"])
    assert "Traceback" not in err, err[-3000:]
    assert codes[case["case"]] == int(case["exit_code"]), err[-2000:]
    if case["expected"] == "error":
        assert case["fragment"].lower() in err.lower(), err[-2000:]
        assert "error" in err.lower()
    elif case["verb"] == "predict":  # ok: every row predicted
        rows = list(csv.DictReader(open(tmp / f"{case['case']}.csv", newline="", encoding="utf-8")))
        assert rows and all(r["pred_tpsa"] and not r["error"] for r in rows)
        assert f"predicted {len(rows)} of {len(rows)} rows" in out
    if case["expected"] == "ok" and case["fragment"]:  # ok: a run that succeeded, with what it says about its rows
        assert case["fragment"].lower() in out.lower(), out[-2000:]


def test_corpus_size():
    """The corpus covers at least 50 odd inputs, and every kind of outcome."""
    assert len(CASES) >= 50
    assert {c["expected"] for c in CASES} >= {"predicted", "no_prediction", "used", "skipped", "error", "ok"}
    assert len({c["case"] for c in CASES}) == len(CASES)


if __name__ == "__main__":  # the runner: python tests/integration/test_bad_inputs.py <tmp dir>
    folder = Path(sys.argv[1])
    result = run_batch(json.loads((folder / "jobs.json").read_text()), folder)
    (folder / "codes.json").write_text(json.dumps(result))
