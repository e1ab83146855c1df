"""Defects 2 and 6 at the metric level, with two real gloo processes.

6: validation/test metrics make the same collective calls on every rank whatever labels its shard holds
   (here rank 1 has no label for the second target, and under classification no batch at all): both ranks
   get the metrics of the whole set, equal to one process's.
2: the training-mean baseline makes no collective call while the process group is up (on NCCL a CPU
   all-gather fails the run after training)."""

from __future__ import annotations

import datetime
import math

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from graphormer.train.metrics import TaskMetrics
from graphormer.train.run import baseline_metrics

NAN = float("nan")
# (task, per-rank list of (pred, target) batches): rank 1 never sees a label of target 1
SHARDS = {
    "regression": [
        [(torch.tensor([[1.0, 2.0], [3.0, 0.5]]), torch.tensor([[1.5, 2.5], [2.0, NAN]]))],
        [(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, NAN]])),
         (torch.tensor([[4.0, 4.0]]), torch.tensor([[3.0, NAN]]))],
    ],
    "classification": [
        [(torch.tensor([[0.9, 0.2], [0.1, 0.8], [0.4, 0.3]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, NAN]])),
         (torch.tensor([[0.3, 0.6]]), torch.tensor([[0.0, 1.0]]))],
        [],  # an uneven shard: no batch at all on this rank
    ],
}
COLLECTIVES = ("all_gather", "all_gather_object", "all_reduce", "broadcast", "broadcast_object_list", "barrier",
               "gather", "reduce", "all_gather_into_tensor")


def single_process(task: str) -> dict[str, float]:
    metrics = TaskMetrics(task, 2)
    for shard in SHARDS[task]:
        for pred, target in shard:
            metrics.update(pred, target)
    return {k: float(v) for k, v in metrics.compute().items()}


def _worker(rank: int, world: int, init_file: str, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=30))
    out = {}
    for task, shards in SHARDS.items():
        metrics = TaskMetrics(task, 2)
        for pred, target in shards[rank]:
            metrics.update(pred, target)
        out[task] = {k: float(v) for k, v in metrics.compute().items()}
    calls = []
    originals = {name: getattr(dist, name) for name in COLLECTIVES}
    for name, fn in originals.items():
        setattr(dist, name, lambda *a, _name=name, _fn=fn, **kw: (calls.append(_name), _fn(*a, **kw))[1])
    try:
        y = np.array([[1.0, 2.0], [3.0, np.nan], [2.0, 0.0]], dtype=np.float32)
        out["baseline"] = baseline_metrics("regression", np.array([2.0, 1.0]), y, 2)
    finally:
        for name, fn in originals.items():
            setattr(dist, name, fn)
    out["baseline_collectives"] = calls
    dist.barrier()
    dist.destroy_process_group()
    torch.save(out, f"{folder}/{rank}.pt")


def test_two_ranks_gather_the_same_metrics_and_the_baseline_makes_no_collective(tmp_path):
    # fork: the children start with everything imported (spawning two fresh interpreters costs ~40 s here)
    mp.start_processes(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    results = {rank: torch.load(tmp_path / f"{rank}.pt") for rank in (0, 1)}
    for task in SHARDS:
        want = single_process(task)
        assert set(want) == {"mae", "rmse"} or set(want) == {"rocauc", "ap"}
        for rank in (0, 1):
            got = results[rank][task]
            assert got.keys() == want.keys(), (task, rank)
            for name in want:
                assert math.isclose(got[name], want[name], rel_tol=1e-6), (task, rank, name, got, want)
    for rank in (0, 1):
        assert results[rank]["baseline_collectives"] == []
        # mean prediction (2, 1): target 0 errors 1, 1, 0; target 1 errors 1, 1 → mae (2/3 + 1) / 2
        assert math.isclose(results[rank]["baseline"]["mae"], (2 / 3 + 1) / 2, rel_tol=1e-6)
