"""Fine-tuning benchmark: our pretrained encoder against training from scratch, chemprop and random forests.

Every method sees the same CSV (smiles, targets, split = train / val / test; the official OGB scaffold splits,
MoleculeACE's own train/test with 10 % of train held out for validation) and is scored on the test rows by the
same code (RMSE for regression, mean ROC-AUC over tasks for classification). Our runs get at most the wall
time chemprop (defaults) took on the same set and seed (`trainer.max_time`), on the same cores.

Methods:
  scratch          graphormer train data=csv ... model=slim (from random weights)
  pretrained_plain     graphormer finetune pretrained=slim data=csv ... finetune.model.extra_features=0
  pretrained_rdkit2d   the same with finetune.model.extra_features=rdkit2d (RDKit descriptors at the head)
                   (one of the two is what `finetune pretrained=slim` does by default; docs/finetuning.md says which)
  chemprop         chemprop 2.3.1 defaults: --epochs 50 -n 0 --accelerator cpu --devices 1
  chemprop_rdkit   the same plus --molecule-featurizers v1_rdkit_2d_normalized
  rf_morgan        scikit-learn random forest, 500 trees, Morgan fingerprints (radius 2, 2,048 bits)
  rf_rdkit         the same on RDKit 2D descriptors

Set-up of the peer environment (its own venv, so chemprop's pins never touch ours; torch first, or pip pulls
the multi-GB CUDA build on a CPU machine):
    python -m venv .venv-chemprop
    .venv-chemprop/bin/pip install torch==2.13.0 && .venv-chemprop/bin/pip install chemprop==2.3.1 scikit-learn

Run (results are appended to <work>/results.jsonl, so an interrupted run continues where it stopped):
    python scripts/bench_finetune.py --data-root ../shared/data --seeds 0 1 2
Writes docs/finetuning.md (table, mean ± std over seeds) and docs/finetuning.png, and ends with a JSON line.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OGB_SETS = {"esol": "ogbg_molesol", "freesolv": "ogbg_molfreesolv", "bbbp": "ogbg_molbbbp", "tox21": "ogbg_moltox21"}
ACE_SETS = ("CHEMBL2835_Ki", "CHEMBL4616_EC50", "CHEMBL1862_Ki")
DEFAULT_SETS = (*OGB_SETS, *(f"ace_{name}" for name in ACE_SETS))
METHODS = ("chemprop", "chemprop_rdkit", "pretrained_plain", "pretrained_rdkit2d", "scratch", "rf_morgan", "rf_rdkit")
OURS = ("pretrained_plain", "pretrained_rdkit2d", "scratch")
RF_SCRIPT = REPO / "scripts" / "bench_rf.py"


# ------------------------------------------------------------------------------------------------- data
def _read_gz_csv(path: Path) -> list[dict]:
    with gzip.open(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def prepare_set(name: str, root: Path, out: Path) -> dict:
    """Write <out>/<name>/all.csv (smiles, y..., split) and test.csv; return the set's description."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if name in OGB_SETS:
        base = root / OGB_SETS[name]
        rows = _read_gz_csv(base / "mapping" / "mol.csv.gz")
        tasks = [c for c in rows[0] if c not in ("smiles", "mol_id")]
        split = [""] * len(rows)
        for part, label in (("train", "train"), ("valid", "val"), ("test", "test")):
            with gzip.open(base / "split" / "scaffold" / f"{part}.csv.gz", "rt") as handle:
                for line in handle:
                    if line.strip():
                        split[int(line)] = label
        task = "classification" if name in ("bbbp", "tox21") else "regression"
        records = [(r["smiles"], [r[t] for t in tasks], s) for r, s in zip(rows, split)]
    else:
        rows = _read_gz_csv(root / "moleculeace" / f"{name[4:]}.csv.gz")
        tasks, task = ["y"], "regression"
        rng = np.random.default_rng(0)  # fixed validation rows: the same split for every method and seed
        train = [i for i, r in enumerate(rows) if r["split"] == "train"]
        val = set(rng.choice(train, size=max(1, len(train) // 10), replace=False).tolist())
        records = [(r["smiles"], [r["y"]], "val" if i in val else r["split"]) for i, r in enumerate(rows)]
    targets = ["y"] if len(tasks) == 1 else [f"y{i}" for i in range(len(tasks))]
    with open(folder / "all.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["smiles", *targets, "split"])
        for smiles, values, part in records:
            writer.writerow([smiles, *values, part])
    test = [(s, v) for s, v, p in records if p == "test"]
    with open(folder / "test.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["smiles", *targets])
        for smiles, values in test:
            writer.writerow([smiles, *values])
    y = np.array([[float(v) if v != "" else np.nan for v in values] for _, values in test])
    sizes = {p: sum(1 for *_, q in records if q == p) for p in ("train", "val", "test")}
    return {"name": name, "task": task, "targets": targets, "folder": folder, "y_test": y, "sizes": sizes,
            "test_smiles": [s for s, _ in test]}


# ---------------------------------------------------------------------------------------------- metrics
def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney ROC-AUC with average ranks for ties."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def score(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    """RMSE over labelled test entries (regression) or mean ROC-AUC over tasks with both classes."""
    if task == "regression":
        keep = ~np.isnan(y) & ~np.isnan(pred)
        return float(np.sqrt(np.mean((y[keep] - pred[keep]) ** 2)))
    aucs = []
    for t in range(y.shape[1]):
        keep = ~np.isnan(y[:, t]) & ~np.isnan(pred[:, t])
        if len(np.unique(y[keep, t])) == 2:
            aucs.append(roc_auc(y[keep, t], pred[keep, t]))
    return float(np.mean(aucs))


def read_predictions(path: Path, columns: list[str]) -> np.ndarray:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[float(r[c]) if r.get(c) not in (None, "") else np.nan for c in columns] for r in rows])


# ---------------------------------------------------------------------------------------------- methods
def run(cmd: list[str], log: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}); see {log}")
    return seconds


def hms(seconds: float) -> str:
    s = max(1, int(seconds))
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_chemprop(spec: dict, seed: int, venv: Path, rdkit: bool, work: Path) -> tuple[np.ndarray, float]:
    out = work / ("chemprop_rdkit" if rdkit else "chemprop")
    cmd = [str(venv / "bin" / "chemprop"), "train", "-i", str(spec["folder"] / "all.csv"), "--splits-column", "split",
           "-s", "smiles", "--target-columns", *spec["targets"], "-t", spec["task"], "--epochs", "50", "-n", "0",
           "--accelerator", "cpu", "--devices", "1", "-o", str(out), "--data-seed", str(seed),
           "--pytorch-seed", str(seed)]
    if rdkit:
        cmd += ["--molecule-featurizers", "v1_rdkit_2d_normalized"]
    seconds = run(cmd, work / f"{out.name}.log")
    preds_file = out / "model_0" / "test_predictions.csv"
    with open(preds_file, newline="") as handle:
        smiles = [r["smiles"] for r in csv.DictReader(handle)]
    if [s.strip() for s in smiles] != [s.strip() for s in spec["test_smiles"]]:
        raise RuntimeError(f"{preds_file}: test rows differ from the split's")
    return read_predictions(preds_file, spec["targets"]), seconds


def run_ours(spec: dict, seed: int, method: str, budget: float, work: Path) -> tuple[np.ndarray, float]:
    out = work / method
    targets = ",".join(spec["targets"])
    common = ["data=csv", f"data.path={spec['folder'] / 'all.csv'}", "data.smiles_column=smiles",
              f"data.target_columns=[{targets}]", "data.split_column=split", f"data.task={spec['task']}",
              f"trainer.max_time={hms(budget)}", "threads=2", f"seed={seed}", f"hydra.run.dir={out}",
              "trainer.enable_progress_bar=false"]
    verb = {"pretrained_plain": ["finetune", "pretrained=slim", "finetune.model.extra_features=0"],
            "pretrained_rdkit2d": ["finetune", "pretrained=slim", "finetune.model.extra_features=rdkit2d"],
            "scratch": ["train", "model=slim"]}[method]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    seconds = run([sys.executable, "-m", "graphormer", *verb, *common], work / f"{method}.log", env)
    preds = out / "test_predictions.csv"
    run([sys.executable, "-m", "graphormer", "predict", f"ckpt_path={out / 'checkpoints' / 'best.ckpt'}",
         f"input={spec['folder'] / 'test.csv'}", f"output={preds}", "progress=false"],
        work / f"{method}.predict.log", env)
    return read_predictions(preds, [f"pred_{t}" for t in spec["targets"]]), seconds


def run_rf(spec: dict, seed: int, features: str, venv: Path, work: Path) -> tuple[np.ndarray, float]:
    preds = work / f"rf_{features}.csv"
    cmd = [str(venv / "bin" / "python"), str(RF_SCRIPT), str(spec["folder"] / "all.csv"), spec["task"], features,
           str(seed), str(preds), *spec["targets"]]
    seconds = run(cmd, work / f"rf_{features}.log")
    return read_predictions(preds, spec["targets"]), seconds


# ---------------------------------------------------------------------------------------------- report
def summarise(results: list[dict], sets: list[dict], methods: list[str]) -> dict:
    table = {}
    for spec in sets:
        for method in methods:
            values = [r["score"] for r in results if r["set"] == spec["name"] and r["method"] == method]
            times = [r["seconds"] for r in results if r["set"] == spec["name"] and r["method"] == method]
            if values:
                table[(spec["name"], method)] = (float(np.mean(values)), float(np.std(values)), len(values),
                                                 float(np.mean(times)))
    return table


def best_peer(table: dict, spec: dict) -> tuple[str, float] | None:
    peers = [(m, table[(spec["name"], m)][0]) for m in ("chemprop", "chemprop_rdkit", "rf_morgan", "rf_rdkit")
             if (spec["name"], m) in table]
    if not peers:
        return None
    return (min if spec["task"] == "regression" else max)(peers, key=lambda p: p[1])


def write_report(table: dict, sets: list[dict], methods: list[str], out_md: Path, command: str) -> dict:
    lines = ["# Fine-tuning benchmark", "",
             "Written by `scripts/bench_finetune.py` (see its docstring for the methods and set-up). Command:", "",
             f"    {command}", "",
             "Test RMSE (regression, lower is better) or mean ROC-AUC over tasks (classification, higher is "
             "better), mean ± std over seeds (n = number of seeds), and mean wall seconds per run. Our runs "
             "get at most chemprop's (defaults) wall time on the same set and seed.", "",
             "| set (train/val/test) | metric | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    summary = {}
    for spec in sets:
        metric = "RMSE" if spec["task"] == "regression" else "ROC-AUC"
        cells = []
        for m in methods:
            if (spec["name"], m) in table:
                mean, std, n, secs = table[(spec["name"], m)]
                cells.append(f"{mean:.3f} ± {std:.3f} (n={n}, {secs:.0f} s)")
            else:
                cells.append("not run")
        sizes = spec["sizes"]
        lines.append(f"| {spec['name']} ({sizes['train']}/{sizes['val']}/{sizes['test']}) | {metric} | "
                     + " | ".join(cells) + " |")
        peer = best_peer(table, spec)
        row = {}
        for ours in OURS:
            if (spec["name"], ours) in table and peer:
                value = table[(spec["name"], ours)][0]
                row[ours] = value
                row[f"{ours}_vs_best_peer"] = value / peer[1] if spec["task"] == "regression" else value - peer[1]
        if peer:
            row["best_peer"], row["best_peer_score"] = peer
        summary[spec["name"]] = row
    lines += ["", "Against the best peer per set (RMSE ratio ours / peer, < 1 is better; ROC-AUC difference "
              "ours − peer, > 0 is better):", "", "| set | best peer | " + " | ".join(OURS) + " |",
              "|---|---|" + "---|" * len(OURS)]
    for name, row in summary.items():
        fmt = lambda k: f"{row[k]:.3f}" if k in row else "–"  # noqa: E731
        lines.append(f"| {name} | {row.get('best_peer', '–')} ({row.get('best_peer_score', float('nan')):.3f}) | "
                     + " | ".join(fmt(f"{m}_vs_best_peer") for m in OURS) + " |")
    lines += ["", "![bar plot](finetuning.png)", ""]
    out_md.write_text("\n".join(lines))
    return summary


def plot(table: dict, sets: list[dict], methods: list[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('no plot: matplotlib is missing (pip install -e ".[bench]")')
        return False
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.6), squeeze=False)
    for ax, spec in zip(axes[0], sets):
        present = [m for m in methods if (spec["name"], m) in table]
        means = [table[(spec["name"], m)][0] for m in present]
        stds = [table[(spec["name"], m)][1] for m in present]
        ax.bar(range(len(present)), means, yerr=stds, color=["C0" if m in OURS else "C7"
                                                               for m in present])
        ax.set_xticks(range(len(present)), present, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{spec['name']} ({'RMSE' if spec['task'] == 'regression' else 'ROC-AUC'})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="data", help="folder with ogbg_* and moleculeace/ (../shared/data)")
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--seeds-large", nargs="+", type=int, default=None,
                        help="seeds for tox21 (the largest set); default: --seeds")
    parser.add_argument("--venv", default=str(REPO / ".venv-chemprop"), help="the peer venv (see set-up)")
    parser.add_argument("--work", default=str(REPO / "outputs" / "bench_finetune"))
    parser.add_argument("--out", default=str(REPO / "docs" / "finetuning.md"))
    parser.add_argument("--report-only", action="store_true",
                        help="write the report from <work>/results.jsonl without running anything")
    args = parser.parse_args()
    root, work, venv = Path(args.data_root), Path(args.work), Path(args.venv)
    if not (venv / "bin" / "chemprop").exists():  # chemprop sets every run's time budget
        print(f"peer venv {venv} has no chemprop; set it up as the docstring says", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "results.jsonl"
    results = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    done = {(r["set"], r["method"], r["seed"]) for r in results}
    sets = [prepare_set(name, root, work / "data") for name in args.sets]
    for seed_rank in range(0 if args.report_only else max(len(args.seeds), len(args.seeds_large or []))):
        for spec in sets:
            seeds = args.seeds_large if (spec["name"] == "tox21" and args.seeds_large) else args.seeds
            if seed_rank >= len(seeds):
                continue
            seed = seeds[seed_rank]
            budget = next((r["seconds"] for r in results if r["set"] == spec["name"] and r["method"] == "chemprop"
                           and r["seed"] == seed), None)
            for method in args.methods:
                if (spec["name"], method, seed) in done:
                    continue
                run_dir = work / "runs" / spec["name"] / f"seed{seed}"
                run_dir.mkdir(parents=True, exist_ok=True)
                if method.startswith("chemprop"):
                    pred, seconds = run_chemprop(spec, seed, venv, method == "chemprop_rdkit", run_dir)
                elif method.startswith("rf_"):
                    pred, seconds = run_rf(spec, seed, method[3:], venv, run_dir)
                else:
                    if budget is None:
                        raise RuntimeError("run chemprop first: its wall time is our time budget")
                    pred, seconds = run_ours(spec, seed, method, budget, run_dir)
                value = score(spec["task"], spec["y_test"], pred)
                if method == "chemprop":
                    budget = seconds
                record = {"set": spec["name"], "method": method, "seed": seed, "score": value, "seconds": seconds}
                results.append(record)
                done.add((spec["name"], method, seed))
                with open(log_path, "a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(f"{spec['name']:>22} {method:>15} seed {seed}: {value:.4f} ({seconds:.0f} s)", flush=True)
    methods = list(args.methods)
    table = summarise(results, sets, methods)
    out_md = Path(args.out)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    command = "python scripts/bench_finetune.py " + " ".join(sys.argv[1:])
    summary = write_report(table, sets, methods, out_md, command)
    wrote = [str(out_md)]
    if plot(table, sets, methods, out_md.with_suffix(".png")):
        wrote.append(str(out_md.with_suffix(".png")))
    print("wrote " + ", ".join(wrote))
    print(json.dumps({"sets": summary, "seeds": args.seeds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
