"""Shared test fixtures: real molecules from the RDKit wheel, and the optional ../shared datasets."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny tensors gain nothing from two OpenMP threads, and on a busy 2-core machine the threads
    fight over cores (measured here: 20-100x slower). Subprocesses get OMP_NUM_THREADS=1 likewise."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def import_hf_reference():
    """(modeling, collating) modules of the HuggingFace Graphormer port (transformers 4.57.x, which compiles
    its Cython collator with pyximport, so Cython < 3.1): the outside oracle of the parity tests and the
    benchmark. Absent: skip locally, fail under CI=true (the dev extra installs it there)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from transformers.models.deprecated.graphormer import collating_graphormer as collating
            from transformers.models.deprecated.graphormer import modeling_graphormer as modeling
        collating.algos_graphormer  # noqa: B018 - only exists when pyximport compiled the .pyx
    except (ImportError, AttributeError) as err:  # not installed, or the Cython collator did not build
        message = (f"HF Graphormer reference not importable ({type(err).__name__}: {err}); "
                   "install it with: pip install -e '.[dev]'")
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message, allow_module_level=True)
    return modeling, collating


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout (or $GRAPHORMER_SHARED_DATA); None when absent."""
    candidates = [os.environ.get("GRAPHORMER_SHARED_DATA"), REPO.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        reason = "../shared/data is not present (set GRAPHORMER_SHARED_DATA to run this test)"
        if os.environ.get("CI", "").lower() == "true":  # CI always has it: a skip there would prove nothing
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def tree_snapshot(root: Path, depth: int = 2) -> dict[str, int]:
    """Entry name -> mtime_ns of `root` and of everything `depth` levels below it: a new, removed or
    rewritten file or folder changes it (a folder's mtime changes when entries are added or removed)."""
    snapshot, level = {}, [root]
    for _ in range(depth + 1):
        following = []
        for path in level:
            snapshot[str(path.relative_to(root))] = path.stat().st_mtime_ns
            if path.is_dir():
                following += sorted(path.iterdir())
        level = following
    return snapshot


@pytest.fixture(autouse=True, scope="session")
def _shared_data_is_never_written():
    """Tests write only to tmp: whether or not ../shared/data is mounted read-only, the suite must leave it
    as it found it (no cache/ folder, no probe or output files)."""
    root = shared_data_dir()
    before = tree_snapshot(root) if root is not None else None
    yield
    if root is not None:
        after = tree_snapshot(root)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"the test suite wrote into {root}: {changed[:10]}"


def nci_rows(limit: int | None = None) -> list[tuple[str, float]]:
    """(SMILES, TPSA) rows of the NCI file shipped inside the RDKit wheel."""
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"
    rows = []
    with open(path) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            smiles, tpsa = line.rsplit(",", 1)
            rows.append((smiles, float(tpsa)))
            if limit and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="session")
def nci_csv(tmp_path_factory) -> Path:
    """300 real NCI molecules as a CSV with a header: smiles,tpsa."""
    path = tmp_path_factory.mktemp("nci") / "nci300.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "tpsa"])
        writer.writerows(nci_rows(300))
    return path
