"""OGB-compatible integer features for RDKit molecules (same values as ``ogb.utils.smiles2graph``).

OGB maps each RDKit property through a vocabulary list with ``list.index`` and puts
anything outside the list into a trailing 'misc' slot. Here each vocabulary is a
dict (raw value -> index) applied with ``map(dict.get, values, repeat(misc))``, so
the per-atom loop runs in C, and each output array is built by one ``np.fromiter``.
RDKit calls dominate what is left, the enum getters most (about 3x an int getter),
so chirality is read only for tagged atoms, and ``smiles_to_graph`` skips chirality
and bond stereo entirely when the SMILES text cannot carry them. Small numpy calls
are avoided on purpose: on a freshly parsed molecule each costs microseconds.
"""
from __future__ import annotations

from itertools import chain, repeat
from typing import NamedTuple

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdqueries

from graphormer.chem.errors import MoleculeError
from graphormer.chem.parse import parse_smiles, quiet_rdkit

__all__ = [
    "ATOM_FEATURE_DIMS",
    "BOND_FEATURE_DIMS",
    "FEATURIZER_VERSION",
    "MolGraph",
    "mol_to_graph",
    "parse_smiles",
    "quiet_rdkit",
    "smiles_to_graph",
]

ATOM_FEATURE_DIMS = [119, 5, 12, 12, 10, 6, 6, 2, 2]
BOND_FEATURE_DIMS = [5, 6, 2]
# Bump whenever the produced features change: caches of featurised datasets key on it.
FEATURIZER_VERSION = "ogb-1"


def _range_vocab(low: int, high: int) -> dict[int, int]:
    """OGB integer vocabulary ``[low, ..., high, 'misc']``: value -> position."""
    return {value: value - low for value in range(low, high + 1)}


def _enum_vocab(enum_type, names: list[str]) -> dict[int, int]:
    """OGB string vocabulary over an RDKit enum: enum value -> position of its name.

    OGB compares ``str(value)``; matching on names keeps us right even if RDKit
    renumbers an enum. Boost enums are ints, so dict lookups accept either.
    """
    by_name = {str(member).rsplit(".", 1)[-1]: int(number) for number, member in enum_type.values.items()}
    return {by_name[name]: position for position, name in enumerate(names) if name in by_name}


# (vocabulary, misc index) per OGB feature column, in OGB's column order.
_ATOMIC_NUM = (_range_vocab(1, 118), 118)
_CHIRALITY = (
    _enum_vocab(Chem.ChiralType, ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER"]),
    4,
)
_DEGREE = (_range_vocab(0, 10), 11)
_FORMAL_CHARGE = (_range_vocab(-5, 5), 11)
_NUM_HS = (_range_vocab(0, 8), 9)
_RADICALS = (_range_vocab(0, 4), 5)
_HYBRIDIZATION = (_enum_vocab(Chem.HybridizationType, ["SP", "SP2", "SP3", "SP3D", "SP3D2"]), 5)
_BOND_TYPE = (_enum_vocab(Chem.BondType, ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]), 4)
_STEREO_NAMES = ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"]
# OGB's stereo list has no 'misc' slot (ogb raises on e.g. STEREOATROPCW); such
# values become STEREOANY ("stereo present, not E/Z/cis/trans") instead of failing.
_BOND_STEREO = (_enum_vocab(Chem.BondStereo, _STEREO_NAMES), _STEREO_NAMES.index("STEREOANY"))

_A, _B = Chem.Atom, Chem.Bond  # unbound getters, called through map() so loops run in C


def _single_atom_pattern(query_atom) -> Chem.Mol:
    pattern = Chem.RWMol()
    pattern.AddAtom(query_atom)
    return pattern.GetMol()


# Matches atoms whose chiral tag is anything but CHI_UNSPECIFIED (all other tags, checked in tests).
_TAGGED_ATOM = _single_atom_pattern(rdqueries.HasChiralTagQueryAtom())


class MolGraph(NamedTuple):
    """One molecule as OGB integer features (atom order = RDKit atom order)."""

    x: np.ndarray  # uint8 [n, 9]
    edge_index: np.ndarray  # int64 [2, 2*bonds]; bond k gives columns 2k (i->j) and 2k+1 (j->i)
    edge_attr: np.ndarray  # uint8 [2*bonds, 3]

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])


def _column(getter, items: list, vocab: tuple[dict[int, int], int]):
    """Lazy OGB indices of one property over ``items`` (unknown values -> misc)."""
    table, misc = vocab
    return map(table.get, map(getter, items), repeat(misc))


def _chirality_column(mol: Chem.Mol, atoms: list) -> list[int]:
    """OGB chirality per atom. Few atoms carry a tag, and one substructure match
    finds them faster than asking every atom (GetChiralTag is a slow enum getter)."""
    table, misc = _CHIRALITY
    column = [table[Chem.ChiralType.CHI_UNSPECIFIED]] * len(atoms)
    for (i,) in mol.GetSubstructMatches(_TAGGED_ATOM, uniquify=False, maxMatches=len(atoms)):
        column[i] = table.get(atoms[i].GetChiralTag(), misc)
    return column


def _atom_features(mol: Chem.Mol, read_chirality: bool) -> np.ndarray:
    n = mol.GetNumAtoms()
    atoms = list(map(mol.GetAtomWithIdx, range(n)))
    columns = (
        _column(_A.GetAtomicNum, atoms, _ATOMIC_NUM),
        _chirality_column(mol, atoms) if read_chirality else repeat(0, n),  # 0 = CHI_UNSPECIFIED
        _column(_A.GetTotalDegree, atoms, _DEGREE),
        _column(_A.GetFormalCharge, atoms, _FORMAL_CHARGE),
        _column(_A.GetTotalNumHs, atoms, _NUM_HS),
        _column(_A.GetNumRadicalElectrons, atoms, _RADICALS),
        _column(_A.GetHybridization, atoms, _HYBRIDIZATION),
        map(_A.GetIsAromatic, atoms),  # booleans: OGB's [False, True] -> 0/1
        map(_A.IsInRing, atoms),
    )
    # zip yields one 9-tuple per atom, so the flat stream is already row-major.
    flat = chain.from_iterable(zip(*columns))
    return np.fromiter(flat, dtype=np.uint8, count=9 * n).reshape(n, 9)


def _bond_features(mol: Chem.Mol, read_stereo: bool) -> tuple[np.ndarray, np.ndarray]:
    """Edges in OGB order: bond k gives edge 2k (i->j) and 2k+1 (j->i), same features."""
    bonds = list(map(mol.GetBondWithIdx, range(mol.GetNumBonds())))
    begin = list(map(_B.GetBeginAtomIdx, bonds))
    end = list(map(_B.GetEndAtomIdx, bonds))
    sources = chain.from_iterable(zip(begin, end))
    targets = chain.from_iterable(zip(end, begin))
    e = 2 * len(bonds)
    edge_index = np.fromiter(chain(sources, targets), dtype=np.int64, count=2 * e).reshape(2, e)
    kind = list(_column(_B.GetBondType, bonds, _BOND_TYPE))
    stereo = list(_column(_B.GetStereo, bonds, _BOND_STEREO)) if read_stereo else [0] * len(bonds)  # STEREONONE
    conjugated = list(map(_B.GetIsConjugated, bonds))
    # Each bond's 3 features written twice in a row = the two directed edges.
    flat = chain.from_iterable(zip(kind, stereo, conjugated, kind, stereo, conjugated))
    edge_attr = np.fromiter(flat, dtype=np.uint8, count=3 * e).reshape(e, 3)
    return edge_index, edge_attr


def mol_to_graph(mol: Chem.Mol) -> MolGraph:
    """Featurise a sanitised RDKit molecule; values and edge order identical to ``ogb.utils.smiles2graph``."""
    return _featurize(mol, read_chirality=True, read_stereo=True)


def smiles_to_graph(smiles: str, *, allow_valence_errors: bool = False) -> MolGraph:
    """``parse_smiles`` followed by ``mol_to_graph`` (same result, a little faster)."""
    mol = parse_smiles(smiles, allow_valence_errors=allow_valence_errors)
    return _featurize(mol, *_stereo_marks(smiles))


def _stereo_marks(smiles: str) -> tuple[bool, bool]:
    """Can this SMILES carry (atom chirality, bond stereo)?

    RDKit's SMILES reader sets chiral tags only from '@' and double-bond stereo
    only from '/' or '\\'; CXSMILES extensions (after '|') may set either. When
    the marks are absent the two columns are known to be CHI_UNSPECIFIED and
    STEREONONE, and the two costliest RDKit calls per atom/bond can be skipped.
    The parity tests compare this path with ogb on every molecule.
    """
    extended = "|" in smiles
    return extended or "@" in smiles, extended or "/" in smiles or "\\" in smiles


def _featurize(mol: Chem.Mol, read_chirality: bool, read_stereo: bool) -> MolGraph:
    if mol is None or mol.GetNumAtoms() == 0:
        raise MoleculeError(None, "empty molecule (no atoms)")
    if mol.NeedsUpdatePropertyCache():
        # RDKit would raise a pre-condition error (and log a stack trace) on GetTotalNumHs.
        raise MoleculeError(None, "molecule is not sanitized (run Chem.SanitizeMol first)")
    edge_index, edge_attr = _bond_features(mol, read_stereo)
    return MolGraph(_atom_features(mol, read_chirality), edge_index, edge_attr)
