"""Random-forest peer for scripts/bench_finetune.py; runs in the peer venv (scikit-learn + RDKit).

    python bench_rf.py <all.csv> <regression|classification> <morgan|rdkit> <seed> <out.csv> <target> ...

Trains one forest (500 trees, all cores) per target on the rows with split = train or val that have a label,
and writes the test rows' predictions (probability of class 1 for classification) to out.csv.
"""

from __future__ import annotations

import csv
import sys

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors, rdFingerprintGenerator


def featurize(smiles: list[str], kind: str) -> np.ndarray:
    RDLogger.DisableLog("rdApp.*")
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    if kind == "morgan":
        gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
        return np.array([gen.GetFingerprintAsNumPy(m) if m is not None else np.zeros(2048) for m in mols],
                        dtype=np.float32)
    names = [n for n, _ in Descriptors._descList]
    rows = []
    for m in mols:
        values = Descriptors.CalcMolDescriptors(m) if m is not None else {}
        rows.append([values.get(n, np.nan) for n in names])
    x = np.asarray(rows, dtype=np.float64)
    x[~np.isfinite(x)] = np.nan
    return np.nan_to_num(np.clip(x, -1e6, 1e6), nan=0.0).astype(np.float32)


def main() -> None:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    path, task, kind, seed, out, *targets = sys.argv[1:]
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    x = featurize([r["smiles"] for r in rows], kind)
    train = np.array([r["split"] in ("train", "val") for r in rows])
    test = np.array([r["split"] == "test" for r in rows])
    preds = np.full((int(test.sum()), len(targets)), np.nan)
    for t, name in enumerate(targets):
        y = np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])
        fit = train & ~np.isnan(y)
        if task == "regression":
            model = RandomForestRegressor(n_estimators=500, n_jobs=-1, random_state=int(seed))
            preds[:, t] = model.fit(x[fit], y[fit]).predict(x[test])
        else:
            model = RandomForestClassifier(n_estimators=500, n_jobs=-1, random_state=int(seed))
            model.fit(x[fit], y[fit].astype(int))
            preds[:, t] = model.predict_proba(x[test])[:, list(model.classes_).index(1)]
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(targets)
        writer.writerows(preds.tolist())


if __name__ == "__main__":
    main()
