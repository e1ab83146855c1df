"""Where molecules come from: the RDKit-shipped default set and the user's own files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from graphormer.data.table import DataError, MoleculeTable, read_csv_table


def rdkit_nci_path() -> Path:
    """4,999 NCI molecules with Daylight TPSA values, shipped inside the RDKit wheel."""
    from rdkit import RDConfig

    return Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"


def load_table(
    source: str,
    path: str | None = None,
    smiles_column: str | int | None = None,
    target_columns: Sequence[str | int] | None = None,
    split_column: str | None = None,
    weight_column: str | None = None,
) -> MoleculeTable:
    if source == "rdkit_nci_tpsa":
        return read_csv_table(path or rdkit_nci_path(), smiles_column=0, target_columns=[1],
                              has_header=False, target_names=["tpsa"])
    if source == "csv":
        if not path:
            raise DataError("data=csv needs data.path=<file.csv>")
        return read_csv_table(path, smiles_column=smiles_column,
                              target_columns=list(target_columns) if target_columns else None,
                              split_column=split_column, weight_column=weight_column)
    raise DataError(f"unknown data.source {source!r} (choices: rdkit_nci_tpsa, csv)")
