"""Shared fixtures for the data tests: the offline dataset folder, tmp copies of it, and a batch check."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One featurization cache for the whole session, so each shared dataset is featurized once."""
    return tmp_path_factory.mktemp("graph-cache")


@pytest.fixture
def copy_shared(shared_data, tmp_path):
    """Copy shared dataset folders into tmp_path (for loaders that write next to their input)."""

    def copy(*names: str) -> Path:
        for name in names:
            shutil.copytree(shared_data / name, tmp_path / name)
            for path in (tmp_path / name).rglob("*"):  # the shared copy is read-only
                path.chmod(0o755 if path.is_dir() else 0o644)
            (tmp_path / name).chmod(0o755)
        return tmp_path

    return copy


@pytest.fixture(scope="session")
def real_smiles(shared_data):
    """real_smiles(n, offset=0): real molecules from the shared ZINC 12k CSV."""
    import pandas as pd

    frame = pd.read_csv(shared_data / "zinc12k" / "smiles_score.csv.gz", nrows=2000)

    def take(n: int, offset: int = 0) -> list[str]:
        return frame["SMILES"].tolist()[offset:offset + n]

    return take


@pytest.fixture(scope="session")
def check_batches():
    """check_batches(dm, n_batches=2): the Batch contract on train batches, plus a model forward pass."""
    return _check_batches


def _check_batches(dm, n_batches: int = 2, forward: bool = True) -> list[dict]:
    """Take batches from the train loader, check the Batch contract, run the model when it exists."""
    batches = []
    for i, batch in enumerate(dm.train_dataloader()):
        B, N = batch["node_mask"].shape
        assert batch["x"].shape == (B, N, 9) and batch["x"].dtype == torch.int64
        assert batch["spd"].shape == (B, N, N) and batch["path"].shape[:3] == (B, N, N)
        assert batch["degree"].shape == (B, N)
        assert batch["y"].shape == (B, dm.num_targets) and batch["y"].dtype == torch.float32
        assert batch["node_mask"].any(1).all()
        batches.append(batch)
        if i + 1 == n_batches:
            break
    assert batches
    if forward:
        try:
            from graphormer.model import Graphormer
        except ImportError:
            return batches
        outputs = dm.num_classes if dm.task == "multiclass" else dm.num_targets
        model = Graphormer(num_layers=1, embed_dim=16, ffn_dim=16, num_heads=2, num_outputs=outputs,
                           max_hops=batches[0]["path"].shape[-1]).eval()
        with torch.no_grad():
            out = model(*(batches[0][k] for k in ("x", "node_mask", "degree", "spd", "path")))
        assert out.shape == (batches[0]["x"].shape[0], outputs) and torch.isfinite(out).all()
    return batches


@pytest.fixture(scope="session")
def read_rows():
    """read_rows(path): a CSV file as a list of dicts."""
    import csv

    def read(path: Path) -> list[dict]:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))

    return read


@pytest.fixture(scope="session")
def ogb_indices():
    """ogb_indices(folder): OGB's split index files as {"train"/"val"/"test": graph indices}."""
    import pandas as pd

    def read(folder: Path) -> dict[str, np.ndarray]:
        return {part: pd.read_csv(folder / "split" / "scaffold" / f"{name}.csv.gz", header=None)[0].to_numpy()
                for part, name in (("train", "train"), ("val", "valid"), ("test", "test"))}

    return read
