"""RDKit descriptors as pretraining targets and head inputs: equal to RDKit's own values, robustly scaled."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from graphormer.chem import descriptors as desc
from graphormer.chem.descriptors import DescriptorScaler, calc_descriptors, default_descriptor_names

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "O=C(O)c1ccccc1Cl"]


def test_values_equal_rdkit_for_every_descriptor():
    names = default_descriptor_names()
    assert "qed" not in names and "MolWt" in names and "MaxAbsEStateIndex" in names
    assert len(names) == len(Descriptors._descList) - 1
    for smiles in MOLECULES:
        ours = calc_descriptors(smiles, names)
        ref = Descriptors.CalcMolDescriptors(Chem.MolFromSmiles(smiles))
        np.testing.assert_allclose(ours, [ref[n] for n in names], rtol=1e-12, atol=0)
    # spot values an RDKit user would check by hand
    ethanol = dict(zip(names, calc_descriptors("CCO", names)))
    assert ethanol["NumHDonors"] == 1 and ethanol["HeavyAtomCount"] == 3
    assert ethanol["MolWt"] == pytest.approx(46.069, abs=1e-3)


def test_unparsable_smiles_and_non_finite_values_are_missing(monkeypatch):
    names = ["MolWt", "NumHDonors", "TPSA"]
    assert np.isnan(calc_descriptors("C1CC(", names)).all()
    table = dict(Descriptors._descList)
    monkeypatch.setattr(Descriptors, "_descList",
                        [("MolWt", lambda m: float("inf")), ("NumHDonors", table["NumHDonors"]),
                         ("TPSA", lambda m: 1 / 0)])
    values = calc_descriptors("CCO", names)
    assert np.isnan(values[0]) and values[1] == 1 and np.isnan(values[2])


def test_robust_scaler_matches_numpy_and_clips():
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.normal(5.0, 2.0, 1001), np.zeros(1001), rng.exponential(1.0, 1001)])
    values[::7, 0] = np.nan
    scaler = DescriptorScaler.fit(values, ["a", "const", "tail"])
    med = np.nanmedian(values[:, 0])
    q75, q25 = np.nanpercentile(values[:, 0], [75, 25])
    assert scaler.center[0] == pytest.approx(med) and scaler.scale[0] == pytest.approx((q75 - q25) / 1.349)
    assert scaler.scale[1] == 1.0  # constant column: no division by zero
    out = scaler.transform(np.array([[np.nan, 0.0, 1e9], [med, 0.0, -1e9]]))
    assert np.isnan(out[0, 0]) and out[1, 0] == 0 and out[0, 2] == desc.CLIP and out[1, 2] == -desc.CLIP
    assert scaler.features(np.array([[np.nan, 0.0, 0.0]]))[0, 0] == 0.0
    again = DescriptorScaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(values), scaler.transform(values))
