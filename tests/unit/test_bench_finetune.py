"""scripts/bench_finetune.py scores every method with its own code: check it against scikit-learn, and its
set preparation against the official split sizes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_finetune", REPO / "scripts" / "bench_finetune.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(300, 3)).astype(float)
    score = np.round(rng.normal(size=(300, 3)) + y, 1)  # rounding makes ties
    y[::5, 1] = np.nan
    expected = np.mean([roc_auc_score(y[~np.isnan(y[:, t]), t], score[~np.isnan(y[:, t]), t]) for t in range(3)])
    assert bench.score("classification", y, score) == pytest.approx(expected, abs=1e-12)
    target = rng.normal(size=(50, 1))
    pred = target + rng.normal(size=(50, 1))
    assert bench.score("regression", target, pred) == pytest.approx(np.sqrt(np.mean((target - pred) ** 2)))


@pytest.mark.shared_data
def test_sets_use_the_official_splits(shared_data, tmp_path):
    esol = bench.prepare_set("esol", shared_data, tmp_path)
    assert esol["sizes"] == {"train": 902, "val": 113, "test": 113} and esol["task"] == "regression"
    tox21 = bench.prepare_set("tox21", shared_data, tmp_path)
    assert tox21["sizes"] == {"train": 6264, "val": 783, "test": 784} and tox21["y_test"].shape == (784, 12)
    ace = bench.prepare_set("ace_CHEMBL2835_Ki", shared_data, tmp_path)
    assert ace["sizes"]["test"] == 126 and ace["sizes"]["train"] + ace["sizes"]["val"] == 489
    lines = (tmp_path / "esol" / "all.csv").read_text().splitlines()
    assert lines[0] == "smiles,y,split" and len(lines) == 1129
