"""MoleculeNet CSVs in PyG's raw layout (`<root>/<name>/raw/<file>`) and QM9 as one CSV.

File names, SMILES column and target columns come from PyG's own `MoleculeNet.names` table, so any
dataset PyG knows works (esol, freesolv, lipo, bace, bbbp, hiv, tox21, ...). A flat copy such as
`<root>/moleculenet/ESOL.csv` is accepted too. QM9 is `<root>/qm9/qm9.csv[.gz]` with a `smiles` column and
15 target columns (A, B, C, mu, alpha, homo, lumo, gap, r2, zpve, u0, u298, h298, g298, cv); the default
target is `gap` (HOMO-LUMO gap, Hartree), `target_columns=[all]` takes all 15.
"""

from __future__ import annotations

import logging
from pathlib import Path

from graphormer.data.table import DataError, MoleculeTable, build_table, csv_records

log = logging.getLogger(__name__)

ALIASES = {"lipophilicity": "lipo", "delaney": "esol", "sampl": "freesolv"}
REGRESSION = {"esol", "freesolv", "lipo"}
QM9_TARGETS = ["A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "u0", "u298", "h298", "g298", "cv"]
QM9_DEFAULT_TARGETS = ["gap"]  # HOMO-LUMO gap (Hartree): one well-known target rather than 15 mixed units


def _pyg_names() -> dict:
    from torch_geometric.datasets import MoleculeNet

    return MoleculeNet.names


def moleculenet_key(name: str) -> str:
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in _pyg_names():
        raise DataError(f"unknown MoleculeNet dataset {name!r} (choices: {', '.join(sorted(_pyg_names()))})")
    return key


def _candidates(root: Path, name: str, key: str) -> list[Path]:
    display, _, stem, _, _ = _pyg_names()[key]
    folders = dict.fromkeys([name.lower(), key, display.lower(), display])
    files = [f"{stem}.csv", f"{stem}.csv.gz"]
    paths = [root / folder / "raw" / f for folder in folders for f in files]
    paths += [root / "moleculenet" / f for f in (f"{display}.csv", f"{display}.csv.gz", *files)]
    return paths


def _download(root: Path, key: str) -> Path:
    """Fetch the raw CSV from PyG's MoleculeNet URL into `<root>/<key>/raw/` (no processing)."""
    from torch_geometric.data import download_url
    from torch_geometric.datasets import MoleculeNet

    raw = root / key / "raw"
    log.info("downloading MoleculeNet %s into %s", key, raw)
    return Path(download_url(MoleculeNet.url.format(_pyg_names()[key][1]), str(raw)))


def _columns(spec, width: int) -> list[int]:
    if isinstance(spec, slice):
        return list(range(width))[spec]
    return [spec % width]


def load_moleculenet(name: str, root: str | Path, *, target_columns=None, smiles_column=None,
                     task: str | None = None, download: bool = True) -> MoleculeTable:
    root, key = Path(root), moleculenet_key(name)
    found = next((p for p in _candidates(root, name, key) if p.is_file()), None)
    if found is None:
        if not download:
            raise DataError(f"MoleculeNet {key}: no file at {_candidates(root, name, key)[0]} "
                            f"(PyG raw layout; data.download=false)")
        found = _download(root, key)
    records = csv_records(found)
    _, _, _, smiles_idx, target_idx = _pyg_names()[key]
    records.smiles_column = smiles_idx % len(records.columns)
    records.default_targets = _columns(target_idx, len(records.columns))
    task = task or ("regression" if key in REGRESSION else "classification")
    table = build_table([(records, None)], smiles_column=smiles_column, target_columns=target_columns, task=task)
    table.meta["task"] = task
    return table


def load_qm9(root: str | Path, *, path: str | None = None, target_columns=None,
             task: str | None = None) -> MoleculeTable:
    candidates = [Path(path)] if path else [Path(root) / "qm9" / "qm9.csv.gz", Path(root) / "qm9" / "qm9.csv"]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise DataError(f"{candidates[0]}: QM9 CSV not found (columns mol_id, smiles, {', '.join(QM9_TARGETS)})")
    records = csv_records(found)
    if "smiles" not in records.columns:
        raise DataError(f"{found}: no 'smiles' column")
    records.smiles_column = records.columns.index("smiles")
    targets = list(target_columns) if target_columns else QM9_DEFAULT_TARGETS
    if [str(t).lower() for t in targets] == ["all"]:
        targets = QM9_TARGETS
    table = build_table([(records, None)], target_columns=targets, task=task or "regression")
    table.meta["task"] = task or "regression"
    return table
