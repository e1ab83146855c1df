"""Golden loss trace: a tiny deterministic training run (tests/integration/test_reliability.py's reference
run: 300 NCI molecules, 2-layer width-16 model with dropout, 3 epochs, seed 0, one thread) must reproduce
the losses, learning rates and metrics stored in tests/golden/tiny_train.csv to a relative 1e-6.

An unintended change anywhere on the path (featurization, split, sampler, collate, model, loss, optimiser,
schedule, Lightning loop) shows up here. After an intended change, regenerate the trace and commit it:

    GRAPHORMER_UPDATE_GOLDEN=1 python -m pytest tests/integration/test_golden.py

The tolerance allows CPU kernels that round differently on other instruction sets; on one machine the
trace is bit-identical from run to run (test_reliability.py::test_same_seed_same_loss_curve).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import pytest

from tests.integration.test_reliability import training_runs  # noqa: F401  (the shared session runs)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tiny_train.csv"
RTOL = 1e-6


def trace(rows: list[dict]) -> dict[tuple[int, str], float]:
    """(step, metric) -> value for every logged number of a metrics.csv."""
    out = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("step", "epoch") and value != "":
                out[(int(row["step"]), key)] = float(value)
    return out


def write_golden(values: dict[tuple[int, str], float]) -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    with open(GOLDEN, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["step", "metric", "value"])
        writer.writerows((step, key, repr(value)) for (step, key), value in sorted(values.items()))


def read_golden() -> dict[tuple[int, str], float]:
    with open(GOLDEN, newline="") as handle:
        return {(int(r["step"]), r["metric"]): float(r["value"]) for r in csv.DictReader(handle)}


def test_tiny_run_matches_golden_trace(training_runs):  # noqa: F811
    got = trace(training_runs["reference"].metrics())
    if os.environ.get("GRAPHORMER_UPDATE_GOLDEN"):
        write_golden(got)
        pytest.skip(f"wrote {GOLDEN} ({len(got)} values)")
    want = read_golden()
    assert got.keys() == want.keys(), f"logged metrics differ: {sorted(set(got) ^ set(want))[:5]}"
    off = [(k, want[k], got[k]) for k in sorted(want) if not math.isclose(got[k], want[k], rel_tol=RTOL, abs_tol=1e-12)]
    assert not off, f"{len(off)} of {len(want)} values moved, first: step {off[0][0][0]} {off[0][0][1]} " \
                    f"golden {off[0][1]!r} now {off[0][2]!r}"
    losses = [v for (step, key), v in sorted(want.items()) if key == "train/loss"]
    assert len(losses) == 24
