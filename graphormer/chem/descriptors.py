"""RDKit 2D descriptors of one molecule, and the robust scaling that turns them into model targets / inputs.

The descriptor set is RDKit's `Descriptors._descList` without `qed`: QED is a fixed function of descriptors
already in the list (weight, logP, donors, acceptors, PSA, rotatable bonds, aromatic rings, alerts) and took
18 % of the computing time (measured on MOSES molecules). The names in use are stored with the scaling, so a
later RDKit that adds descriptors does not change what a trained model expects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

EXCLUDED = frozenset({"qed"})
# Scaled values beyond this many robust standard deviations are clipped: a few descriptors (Ipc, BertzCT)
# have tails that would otherwise dominate a squared loss.
CLIP = 6.0
SHIPPED_SCALING = "descriptor_scaling.json"


def default_descriptor_names() -> list[str]:
    """RDKit's 2D descriptor names of the installed version, less EXCLUDED."""
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors._descList if name not in EXCLUDED]


# RDKit computes the E-state indices afresh for each of these four; one computation serves all of them
# (15 % of the descriptor time on MOSES molecules).
_ESTATE = {"MaxEStateIndex": lambda e: max(e), "MinEStateIndex": lambda e: min(e),
           "MaxAbsEStateIndex": lambda e: max(abs(v) for v in e), "MinAbsEStateIndex": lambda e: min(abs(v) for v in e)}


def _functions(names: Sequence[str]):
    from rdkit.Chem import Descriptors

    table = dict(Descriptors._descList)
    missing = [n for n in names if n not in table]
    if missing:
        raise ValueError(f"RDKit has no descriptor(s) {', '.join(missing)} (installed RDKit is too old?)")
    return [table[n] for n in names]


def _estate(mol):
    from rdkit.Chem.EState import EStateIndices

    return EStateIndices(mol)


def calc_descriptors(smiles: str, names: Sequence[str]) -> np.ndarray:
    """float64 [len(names)] for one SMILES; NaN for a descriptor that fails or is not finite, all NaN when the
    SMILES does not parse."""
    from rdkit import Chem

    from graphormer.chem.parse import quiet_rdkit

    out = np.full(len(names), np.nan)
    with quiet_rdkit():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return out
        estate = None
        for i, (name, fn) in enumerate(zip(names, _functions(names))):
            try:
                if name in _ESTATE:
                    estate = _estate(mol) if estate is None else estate
                    value = float(_ESTATE[name](estate))
                else:
                    value = float(fn(mol))
            except Exception:  # RDKit raises assorted errors on odd molecules; the value is simply missing
                continue
            if math.isfinite(value):
                out[i] = value
    return out


@dataclass
class DescriptorScaler:
    """(x - median) / robust std, clipped to ±clip; the robust std is IQR / 1.349 (= std for normal data).

    Descriptors constant on the fitted corpus (IQR 0) use the mean absolute deviation instead, or 1.
    Missing values stay NaN (masked in the loss, zero after `fill`)."""

    names: list[str]
    center: np.ndarray
    scale: np.ndarray
    clip: float = CLIP
    fitted_on: str = ""

    @classmethod
    def fit(cls, values: np.ndarray, names: Sequence[str], fitted_on: str = "") -> "DescriptorScaler":
        values = np.asarray(values, dtype=np.float64)
        center = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
        scale = (q75 - q25) / 1.349
        mad = np.nanmean(np.abs(values - center), axis=0)
        scale = np.where(scale > 0, scale, np.where(mad > 0, mad, 1.0))
        center = np.where(np.isfinite(center), center, 0.0)
        return cls(list(names), center, scale, CLIP, fitted_on)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled float32 copy; NaN where the descriptor is missing."""
        scaled = (np.asarray(values, dtype=np.float64) - self.center) / self.scale
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def features(self, values: np.ndarray) -> np.ndarray:
        """Model inputs: scaled, missing values set to 0 (the corpus median)."""
        return np.nan_to_num(self.transform(values), nan=0.0)

    def to_dict(self) -> dict:
        return {"names": self.names, "center": self.center.tolist(), "scale": self.scale.tolist(),
                "clip": self.clip, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, data: dict) -> "DescriptorScaler":
        return cls(list(data["names"]), np.asarray(data["center"], dtype=np.float64),
                   np.asarray(data["scale"], dtype=np.float64), float(data["clip"]), data.get("fitted_on", ""))

    def save(self, path: str | Path) -> None:
        from graphormer.files import atomic_write

        with atomic_write(path, "w") as handle:
            handle.write(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "DescriptorScaler":
        return cls.from_dict(json.loads(Path(path).read_text()))


def shipped_scaler() -> DescriptorScaler:
    """The scaling fitted on the pretraining corpus, shipped with the package (see docs/pretrained.md)."""
    text = resources.files("graphormer.chem").joinpath(SHIPPED_SCALING).read_text()
    return DescriptorScaler.from_dict(json.loads(text))
