"""Bemis-Murcko scaffolds and the deterministic scaffold split used by OGB's ogbg-mol* datasets.

OGB's rule (inherited from the pretrain-gnns benchmark): group molecules by the
SMILES of their Murcko scaffold (stereo kept), visit the groups largest first
(ties: the group whose first molecule comes later goes first), and put each whole
group into train if train stays within ``frac_train`` of all molecules, else into
valid if train+valid stays within ``frac_train + frac_valid``, else into test.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np
from rdkit import Chem

from graphormer.chem.parse import parse_smiles, quiet_rdkit

__all__ = ["murcko_scaffold", "scaffold_split"]

MolLike = Union[str, Chem.Mol]


def murcko_scaffold(
    smiles_or_mol: MolLike, include_chirality: bool = True, *, allow_valence_errors: bool = True
) -> str:
    """Canonical SMILES of the Bemis-Murcko scaffold ("" for acyclic molecules).

    Same result as RDKit's ``MurckoScaffold.MurckoScaffoldSmiles`` (what OGB used).
    SMILES are parsed tolerating valence errors by default, because scaffolds serve
    to split the published benchmark sets, whose hypervalent complexes current
    RDKit rejects (they still have a ring skeleton). Raises ``MoleculeError``
    for SMILES that cannot be parsed at all.
    """
    if isinstance(smiles_or_mol, Chem.Mol):
        mol = smiles_or_mol
    else:
        mol = parse_smiles(smiles_or_mol, allow_valence_errors=allow_valence_errors)
    core = Chem.MurckoDecompose(mol)
    # As RDKit's GetScaffoldForMol, but non-strict so a kept hypervalent ring atom
    # does not fail again (identical output for valid molecules).
    core.ClearComputedProps()
    core.UpdatePropertyCache(strict=False)
    Chem.GetSymmSSSR(core)
    return Chem.MolToSmiles(core, isomericSmiles=include_chirality)


def _check_fractions(frac_train: float, frac_valid: float, frac_test: float) -> None:
    fractions = (frac_train, frac_valid, frac_test)
    if min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")


def _scaffold_groups(molecules: Sequence[MolLike]) -> list[list[int]]:
    """Row indices grouped by scaffold, in OGB's visiting order."""
    groups: dict[str, list[int]] = {}
    with quiet_rdkit():
        for index, molecule in enumerate(molecules):
            groups.setdefault(murcko_scaffold(molecule), []).append(index)
    # Indices are appended in increasing order, so group[0] is the group's first row.
    return sorted(groups.values(), key=lambda group: (len(group), group[0]), reverse=True)


def scaffold_split(
    smiles_list: Sequence[MolLike],
    frac_train: float = 0.8,
    frac_valid: float = 0.1,
    frac_test: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OGB scaffold split: sorted int64 row indices ``(train, valid, test)``.

    Reproduces the official ``split/scaffold/*.csv.gz`` files of ogbg-molbbbp,
    -molesol and -molfreesolv index for index (see tests). ``frac_test`` only
    takes part in the sum check: test gets whatever train and valid do not.
    """
    _check_fractions(frac_train, frac_valid, frac_test)
    total = len(smiles_list)
    train_cutoff = frac_train * total
    valid_cutoff = (frac_train + frac_valid) * total
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in _scaffold_groups(smiles_list):
        if len(train) + len(group) <= train_cutoff:
            train.extend(group)
        elif len(train) + len(valid) + len(group) <= valid_cutoff:
            valid.extend(group)
        else:
            test.extend(group)
    return tuple(np.array(sorted(part), dtype=np.int64) for part in (train, valid, test))
