#!/usr/bin/env python
"""Throughput of graphormer.graph.spatial on real molecules (PCQM4Mv2 slice, QM9), one thread by default.

Times ``dense_bond_codes`` + ``shortest_path_inputs`` per batch, starting from a PyG-style concatenated
batch (edge_index with global node ids, edge_attr, ptr) — the work a data-loader worker does per batch.
Reports molecules/s as the median over repeats, and the ratio against a per-molecule, reference-style
implementation (numpy Floyd–Warshall loop over k, then the recursive Python path rebuild per pair).

    python scripts/bench_spatial.py                  # 1 thread, batch sizes 64 128 256
    python scripts/bench_spatial.py --threads 2 --batch-sizes 64 --legacy
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from graphormer.graph import bond_code, dense_bond_codes, shortest_path_inputs

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def load_graphs(path: Path, column: str, limit: int, seed: int) -> list[dict]:
    from ogb.utils import smiles2graph

    with gzip.open(path, "rt") as handle:
        smiles = [row[column] for row in csv.DictReader(handle)]
    if len(smiles) > limit:
        smiles = random.Random(seed).sample(smiles, limit)
    return [smiles2graph(s) for s in smiles]


def concat_batch(graphs: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What torch_geometric's Batch holds: global edge_index, edge_attr, ptr."""
    sizes = [g["num_nodes"] for g in graphs]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    edge_index = np.concatenate([g["edge_index"] + ptr[b] for b, g in enumerate(graphs)], axis=1)
    edge_attr = np.concatenate([g["edge_feat"] for g in graphs], axis=0)
    return torch.from_numpy(edge_index), torch.from_numpy(edge_attr), torch.from_numpy(ptr)


def run_vectorised(batches, max_hops: int, legacy: bool) -> None:
    for edge_index, edge_attr, ptr in batches:
        codes = dense_bond_codes(edge_index, edge_attr, ptr)
        shortest_path_inputs(codes, ptr[1:] - ptr[:-1], max_hops, legacy_drop_node0=legacy)


# Reference-style baseline: one molecule at a time, as the reference preprocess_item + collator do.
def reference_style(graph: dict, max_hops: int) -> tuple[np.ndarray, np.ndarray]:
    n = graph["num_nodes"]
    codes = np.zeros((n, n), dtype=np.int64)
    if graph["edge_index"].size:
        codes[graph["edge_index"][0], graph["edge_index"][1]] = bond_code(graph["edge_feat"]).numpy()
    dist = np.where(codes > 0, 1, 510)
    np.fill_diagonal(dist, 0)
    mid = -np.ones((n, n), dtype=np.int64)
    for k in range(n):
        cand = dist[:, k : k + 1] + dist[k : k + 1, :]
        better = cand < dist
        dist = np.where(better, cand, dist)
        mid[better] = k
    mid_list, code_list = mid.tolist(), codes.tolist()

    def nodes_between(i, j):
        k = mid_list[i][j]
        return [] if k < 0 else nodes_between(i, k) + [k] + nodes_between(k, j)

    path = np.zeros((n, n, max_hops), dtype=np.uint8)
    for i in range(n):
        for j in range(n):
            if i != j and dist[i, j] < 510:
                nodes = [i] + nodes_between(i, j) + [j]
                hops = [code_list[a][b] for a, b in zip(nodes[:-1], nodes[1:])][:max_hops]
                path[i, j, : len(hops)] = hops
    return dist, path


def check_against_reference(graphs: list[dict], max_hops: int) -> None:
    """Guard: the timed code must give the reference-style result (post-fix mode) on these molecules."""
    edge_index, edge_attr, ptr = concat_batch(graphs)
    spd, path = shortest_path_inputs(dense_bond_codes(edge_index, edge_attr, ptr), ptr[1:] - ptr[:-1], max_hops)
    for b, graph in enumerate(graphs):
        n = graph["num_nodes"]
        dist, ref_path = reference_style(graph, max_hops)
        assert np.array_equal(spd[b, :n, :n].numpy(), dist) and np.array_equal(path[b, :n, :n].numpy(), ref_path)


def median_rates(fn, molecules: int, repeats: int) -> tuple[float, float]:
    """Median molecules/s over repeats, by wall clock and by this process's CPU time.

    The CPU-time rate is less sensitive to other jobs sharing the cores (with one thread the two agree
    on an idle machine).
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return molecules / statistics.median(wall), molecules / statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--max-hops", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--qm9", type=int, default=4096, help="random QM9 molecules to use")
    parser.add_argument("--legacy", action="store_true", help="time legacy_drop_node0=True")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sets = {
        "pcqm4mv2": load_graphs(DATA / "pcqm4mv2" / "pcqm4mv2_first1999.csv.gz", "smiles", 1999, args.seed),
        "qm9": load_graphs(DATA / "qm9" / "qm9.csv.gz", "smiles", args.qm9, args.seed),
    }
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, max_hops {args.max_hops}, legacy {args.legacy}")
    for name, graphs in sets.items():
        sizes = np.array([g["num_nodes"] for g in graphs])
        random.Random(args.seed).shuffle(graphs)
        check_against_reference(graphs[:256], args.max_hops)
        base, base_cpu = median_rates(lambda: [reference_style(g, args.max_hops) for g in graphs[:256]], 256, 3)
        print(f"{name}: {len(graphs)} molecules, mean {sizes.mean():.1f} atoms (max {sizes.max()}); "
              f"reference-style per molecule: {base:,.0f} mol/s (CPU time: {base_cpu:,.0f})")
        for batch_size in args.batch_sizes:
            usable = len(graphs) // batch_size * batch_size
            batches = [concat_batch(graphs[s : s + batch_size]) for s in range(0, usable, batch_size)]
            rate, rate_cpu = median_rates(lambda: run_vectorised(batches, args.max_hops, args.legacy), usable, args.repeats)
            print(f"  batch {batch_size:4d}: {rate:10,.0f} mol/s  ({rate / base:5.1f}x reference-style)"
                  f"   CPU time: {rate_cpu:10,.0f} mol/s ({rate_cpu / base_cpu:5.1f}x)")


if __name__ == "__main__":
    main()
