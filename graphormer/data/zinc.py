"""ZINC: PyG's raw layout (full set or the 12k subset) and the 12k CSV layout.

PyG layout, `<root>/ZINC/raw/` (or `zinc/raw/`): `{train,val,test}.pickle` — lists of dicts with
`atom_type` (one id per atom, benchmarking-gnns vocabulary below), `bond_type` (dense [n, n] matrix,
0 none / 1 single / 2 double / 3 triple, kekulized) and `logP_SA_cycle_normalized` — plus
`{train,val,test}.index` (one line of comma-separated positions) that select the 12k subset.
Those pickles carry one atom column only, so every molecule is rebuilt with RDKit (element, formal
charge, explicit H count; aromaticity perceived on sanitization) and written as SMILES, which our
featurizer then turns into OGB features like every other source. Stereo is not in the pickles, so
chirality and E/Z features are unset. The rebuilt SMILES are cached, so a second run does no RDKit work.

CSV layout, `<root>/zinc12k/`: `smiles_score.csv.gz` (SMILES, SA, logp, score) with
`indexes_train_val_test.csv` (columns train, val, test: row positions). If `zinc12k_derived.csv.gz`
(same rows, plus ring_penalty and penalized_logp = logp − SA − ring_penalty) is present it is read
instead and the default target is `penalized_logp` (the literature's target up to normalisation);
otherwise `score` (= logp − SA, no ring penalty).
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np

from graphormer.data.cache import file_digest, materialized
from graphormer.data.table import DataError, MoleculeTable, Records, build_table, csv_records

log = logging.getLogger(__name__)

PARTS = ("train", "val", "test")
TARGET = "logP_SA_cycle_normalized"
# benchmarking-gnns ZINC atom vocabulary: element, then " H<k>" (explicit H count), then charge sign.
ATOM_TYPES = ["C", "O", "N", "F", "C H1", "S", "Cl", "O -", "N H1 +", "Br", "N H3 +", "N H2 +", "N +", "N -",
              "S -", "I", "P", "O H1 +", "N H1 -", "O +", "S +", "P H1", "P H2", "C H2 -", "P +", "S H1 +",
              "C H1 -", "P H1 +"]
CONVERTER_VERSION = "zinc-rebuild-1"  # bump when the rebuild rule changes (names the SMILES cache)


def parse_atom_type(label: str) -> tuple[str, int | None, int]:
    """'N H1 +' → ('N', 1, +1); 'C' → ('C', None, 0) (None: let RDKit add implicit hydrogens)."""
    parts = label.split()
    hydrogens = next((int(p[1:]) for p in parts[1:] if p.startswith("H")), None)
    charge = sum(+1 if p == "+" else -1 if p == "-" else 0 for p in parts[1:])
    return parts[0], hydrogens, charge


def rebuild_smiles(atom_type, bond_type) -> str:
    """SMILES of one ZINC pickle molecule; raises ValueError with a reason when RDKit rejects it."""
    from rdkit import Chem

    atoms = np.asarray(atom_type).reshape(-1)
    bonds = np.asarray(bond_type)
    mol = Chem.RWMol()
    for t in atoms:
        if not 0 <= int(t) < len(ATOM_TYPES):
            raise ValueError(f"unknown ZINC atom type {int(t)}")
        symbol, hydrogens, charge = parse_atom_type(ATOM_TYPES[int(t)])
        atom = Chem.Atom(symbol)
        atom.SetFormalCharge(charge)
        if hydrogens is not None or charge:
            atom.SetNumExplicitHs(hydrogens or 0)  # bracket atom: exactly these hydrogens
            atom.SetNoImplicit(True)
        mol.AddAtom(atom)
    order = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    for i, j in zip(*np.nonzero(np.triu(bonds, 1))):
        if int(bonds[i, j]) not in order:
            raise ValueError(f"unknown ZINC bond type {int(bonds[i, j])}")
        mol.AddBond(int(i), int(j), order[int(bonds[i, j])])
    try:
        Chem.SanitizeMol(mol)
    except Exception as err:  # RDKit raises several exception types on chemistry problems
        raise ValueError(f"cannot rebuild molecule from ZINC graph ({err})") from None
    return Chem.MolToSmiles(mol)


# ------------------------------------------------------------------------------------------ PyG layout
def pyg_raw_dir(root: Path) -> Path | None:
    for folder in (root / "ZINC" / "raw", root / "zinc" / "raw"):
        if all((folder / f"{p}.pickle").is_file() for p in PARTS):
            return folder
    return None


def _subset_positions(raw: Path, part: str) -> list[int]:
    path = raw / f"{part}.index"
    if not path.is_file():
        raise DataError(f"{path}: subset index file not found (data.subset=true needs PyG's {part}.index)")
    text = path.read_text().strip()
    return [int(v) for v in text.replace("\n", ",").split(",") if v.strip()]


def _pickle_records(pickle_path: Path, positions: list[int] | None) -> Records:
    """The molecules of one ZINC pickle as SMILES records (rows = 1-based positions in the pickle)."""

    def read():
        import torch  # noqa: F401  (the pickles hold torch tensors)

        from graphormer.chem import quiet_rdkit

        with open(pickle_path, "rb") as handle:
            molecules = pickle.load(handle)
        with quiet_rdkit():  # the reason for a bad molecule is reported per row instead
            for pos in (range(len(molecules)) if positions is None else positions):
                mol = molecules[pos]
                y = repr(float(np.asarray(mol[TARGET]).reshape(-1)[0]))
                try:
                    yield pos + 1, [rebuild_smiles(mol["atom_type"], mol["bond_type"]), y], None
                except ValueError as err:
                    yield pos + 1, None, str(err)

    return Records(str(pickle_path), ["smiles", TARGET], read, smiles_column=0, default_targets=[1],
                   files=[str(pickle_path)])


def _converted_records(pickle_path: Path, subset: bool, cache_dir: Path) -> Records:
    """Records of one ZINC pickle, rebuilt once and then read from a cached SMILES CSV."""
    index = pickle_path.with_suffix(".index")
    positions = _subset_positions(pickle_path.parent, pickle_path.stem) if subset else None
    key = file_digest(pickle_path)[:16] + (f"-subset-{file_digest(index)[:8]}" if subset else "-full")
    out = cache_dir / f"zinc-{pickle_path.stem}-{key}-{CONVERTER_VERSION}.csv.gz"
    files = [str(pickle_path)] + ([str(index)] if subset else [])
    records = materialized(lambda: _pickle_records(pickle_path, positions), out, str(pickle_path), files)
    records.default_targets = [1]
    return records


def load_zinc_pyg(raw: Path, *, subset: bool, cache_dir: Path, target_columns=None,
                  task: str | None = None) -> MoleculeTable:
    files = [(_converted_records(raw / f"{p}.pickle", subset, cache_dir), p) for p in PARTS]
    table = build_table(files, target_columns=target_columns, task=task or "regression")
    table.split = list(table.part)
    return table


# ------------------------------------------------------------------------------------------ CSV layout
def load_zinc12k_csv(folder: Path, *, target_columns=None, task: str | None = None) -> MoleculeTable:
    derived, plain = folder / "zinc12k_derived.csv.gz", folder / "smiles_score.csv.gz"
    main = derived if derived.is_file() else plain
    records = csv_records(main)
    smiles_col = next((c for c in ("smiles", "SMILES") if c in records.columns), None)
    if smiles_col is None:
        raise DataError(f"{main}: no smiles column")
    records.smiles_column = records.columns.index(smiles_col)
    default = "penalized_logp" if main == derived else "score"
    table = build_table([(records, None)], target_columns=target_columns or [default], task=task or "regression")
    index_file = folder / "indexes_train_val_test.csv"
    if index_file.is_file():
        import pandas as pd

        frame = pd.read_csv(index_file)
        label = np.full(table.total_records, "", dtype=object)
        for part in PARTS:
            if part not in frame:
                raise DataError(f"{index_file}: no {part!r} column")
            label[frame[part].dropna().astype(np.int64).to_numpy()] = part
        table.split = label[table.rows - 1].tolist()
    elif "split" in records.columns:
        split_at = records.columns.index("split")
        by_row = {row: cells[split_at].strip().lower() for row, cells, _ in records.read()}
        table.split = [by_row[int(r)] for r in table.rows]
    return table


def load_zinc(root: str | Path, *, subset: bool = True, cache_dir: Path, target_columns=None,
              task: str | None = None, download: bool = True) -> MoleculeTable:
    root = Path(root)
    raw = pyg_raw_dir(root)
    if raw is None and subset and (root / "zinc12k" / "smiles_score.csv.gz").is_file():
        table = load_zinc12k_csv(root / "zinc12k", target_columns=target_columns, task=task)
    else:
        if raw is None:
            if not download:
                raise DataError(f"{root / 'ZINC' / 'raw'}: ZINC pickles not found (PyG raw layout "
                                f"{{train,val,test}}.pickle; data.download=false)")
            raw = download_zinc(root)
        table = load_zinc_pyg(raw, subset=subset, cache_dir=cache_dir, target_columns=target_columns, task=task)
    table.meta["task"] = task or "regression"
    return table


def download_zinc(root: Path) -> Path:
    """Fetch the raw pickles and subset indices from PyG's ZINC URLs into `<root>/ZINC/raw/` (no processing)."""
    import shutil

    from torch_geometric.data import download_url, extract_zip
    from torch_geometric.datasets import ZINC

    target = root / "ZINC"
    log.info("downloading ZINC into %s", target)
    target.mkdir(parents=True, exist_ok=True)
    archive = download_url(ZINC.url, str(target))
    extract_zip(archive, str(target))
    os.unlink(archive)
    shutil.move(str(target / "molecules"), str(target / "raw"))
    for part in PARTS:
        download_url(ZINC.split_url.format(part), str(target / "raw"))
    return target / "raw"
