"""Tests for graphormer.graph.spatial against a slow, literal re-statement of the reference (spec §4.1, §5.2).

The oracle below follows the reference preprocessing step by step, one molecule at a time, in pure Python:
Floyd–Warshall triple loop with an intermediate-node matrix (init −1, or 0 in the pre-fix legacy mode where
0 also means "no intermediate"), recursive path rebuild, and `gen_edge_input`'s N×N×D_g×3 output (−1 fill,
D_g = max SPD, 510 when disconnected, bond features offset by 1 + 512·column, non-bond = 0). Its output is
then translated to our codes and compared integer for integer with the vectorised batch implementation.
"""

from __future__ import annotations

import csv
import os
import random

import numpy as np
import pytest
import torch

from graphormer.graph import (
    NO_HOP,
    NON_BOND,
    NUM_PATH_CODES,
    UNREACHABLE,
    bond_code,
    dense_bond_codes,
    shortest_path_inputs,
)

REF_UNREACHABLE = 510
FEATURE_OFFSET = np.array([1, 1 + 512, 1 + 1024])  # convert_to_single_emb (+1 per feature, 512 per column)


# --------------------------------------------------------------------------------------------------
# Oracle: the reference algorithm, literally (slow)
# --------------------------------------------------------------------------------------------------
def ref_floyd_warshall(adj: list[list[bool]], legacy: bool):
    """Returns (M, path) as the reference `floyd_warshall`: path[i][j] = last improving k."""
    n = len(adj)
    no_mid = 0 if legacy else -1
    dist = [[0 if i == j else (1 if adj[i][j] else REF_UNREACHABLE) for j in range(n)] for i in range(n)]
    path = [[no_mid] * n for _ in range(n)]
    for k in range(n):
        dist_k = dist[k]
        for i in range(n):
            dist_i, path_i, d_ik = dist[i], path[i], dist[i][k]
            for j in range(n):
                if d_ik + dist_k[j] < dist_i[j]:
                    dist_i[j] = d_ik + dist_k[j]
                    path_i[j] = k
    for i in range(n):
        for j in range(n):
            if dist[i][j] >= REF_UNREACHABLE:
                dist[i][j] = REF_UNREACHABLE
                path[i][j] = REF_UNREACHABLE
    return dist, path


def ref_get_all_edges(path, i: int, j: int, legacy: bool) -> list[int]:
    k = path[i][j]
    if k == (0 if legacy else -1):
        return []
    return ref_get_all_edges(path, i, k, legacy) + [k] + ref_get_all_edges(path, k, j, legacy)


def ref_gen_edge_input(max_dist: int, path, edge_feat: np.ndarray, legacy: bool) -> np.ndarray:
    n = len(path)
    out = -np.ones((n, n, max_dist, 3), dtype=np.int16)
    for i in range(n):
        for j in range(n):
            if i == j or path[i][j] == REF_UNREACHABLE:
                continue
            nodes = [i] + ref_get_all_edges(path, i, j, legacy) + [j]
            out[i, j, : len(nodes) - 1, :] = edge_feat[nodes[:-1], nodes[1:], :]  # hop h: bond (node_h, node_h+1)
    return out


def ref_preprocess(graph: dict, legacy: bool):
    """(spd [n,n] with 510, edge_input [n,n,D_g,3]) exactly as the reference preprocess_item builds them."""
    n = graph["num_nodes"]
    adj = [[False] * n for _ in range(n)]
    edge_feat = np.zeros((n, n, 3), dtype=np.int64)
    for (i, j), attr in zip(graph["edge_index"].T.tolist(), graph["edge_feat"]):
        adj[i][j] = True
        edge_feat[i, j] = np.asarray(attr, dtype=np.int64) + FEATURE_OFFSET
    dist, path = ref_floyd_warshall(adj, legacy)
    max_dist = max((max(row) for row in dist), default=0)
    return np.array(dist, dtype=np.int64).reshape(n, n), ref_gen_edge_input(max_dist, path, edge_feat, legacy)


def edge_input_to_codes(edge_input: np.ndarray, max_hops: int) -> np.ndarray:
    """Reference edge_input → our hop codes: −1 rows → 0, non-bond rows (0) → 61, bonds → bond_code."""
    n, _, depth, _ = edge_input.shape
    rows = np.full((n, n, max_hops, 3), -1, dtype=np.int64)
    rows[:, :, : min(depth, max_hops)] = edge_input[:, :, :max_hops]
    feats = rows - FEATURE_OFFSET
    codes = 1 + feats[..., 0] * 12 + feats[..., 1] * 2 + feats[..., 2]
    codes[(rows == 0).all(-1)] = NON_BOND
    codes[(rows == -1).all(-1)] = NO_HOP
    return codes


def oracle(graph: dict, max_hops: int, legacy: bool):
    spd, edge_input = ref_preprocess(graph, legacy)
    return spd, edge_input_to_codes(edge_input, max_hops)


# --------------------------------------------------------------------------------------------------
# Molecules
# --------------------------------------------------------------------------------------------------
def _nci_smiles() -> list[str]:
    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDDataDir, "NCI", "first_5k.tpsa.csv")
    with open(path) as handle:
        rows = [row for row in csv.reader(handle) if row and not row[0].startswith("#")]
    return [row[0] for row in rows]


def _featurize(smiles_list: list[str]) -> list[dict]:
    from ogb.utils import smiles2graph
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    graphs = []
    for smiles in smiles_list:
        if Chem.MolFromSmiles(smiles) is None:
            continue
        graphs.append(smiles2graph(smiles))
    return graphs


EXTRA_SMILES = ["C", "[Na+].[Cl-]", "CC", "c1ccccc1", "C1=CCCCC1", "CC(=O)[O-].[Na+]", "O.O.O", "C1CC2CCC1C2"]


@pytest.fixture(scope="module")
def nci_graphs() -> list[dict]:
    graphs = _featurize(_nci_smiles())
    assert len(graphs) > 4900
    return graphs


@pytest.fixture(scope="module")
def extra_graphs() -> list[dict]:
    return _featurize(EXTRA_SMILES)


def _collate(graphs: list[dict], pad_to: int | None = None):
    """Concatenate graphs PyG-style, then densify with dense_bond_codes."""
    sizes = [g["num_nodes"] for g in graphs]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    edge_index = np.concatenate([g["edge_index"] + ptr[b] for b, g in enumerate(graphs)], axis=1)
    edge_attr = np.concatenate([g["edge_feat"] for g in graphs], axis=0)
    codes = dense_bond_codes(torch.from_numpy(edge_index), torch.from_numpy(edge_attr), torch.from_numpy(ptr), pad_to)
    return codes, torch.tensor(sizes)


def _random_batches(graphs: list[dict], seed: int, max_batch: int = 48) -> list[list[dict]]:
    rng = random.Random(seed)
    order = list(range(len(graphs)))
    rng.shuffle(order)
    batches, start = [], 0
    while start < len(order):
        size = rng.randint(1, max_batch)
        batches.append([graphs[i] for i in order[start : start + size]])
        start += size
    return batches


def _compare_with_oracle(graphs: list[dict], max_hops_values: tuple[int, ...], legacy: bool, seed: int):
    """Runs batches of mixed sizes (some padded beyond their largest molecule).

    Returns (molecule results, pair results) compared, counting each max_hops value separately.
    """
    molecules = pairs = 0
    rng = random.Random(seed + 1)
    for batch in _random_batches(graphs, seed):
        expected = [ref_preprocess(graph, legacy) for graph in batch]
        largest = max(g["num_nodes"] for g in batch)
        pad_to = largest + rng.choice([0, 0, 1, 3])
        codes, num_nodes = _collate(batch, pad_to)
        real = np.arange(pad_to) < num_nodes.numpy()[:, None]
        padding_pair = ~(real[:, :, None] & real[:, None, :])
        for max_hops in max_hops_values:
            spd_t, path_t = shortest_path_inputs(codes, num_nodes, max_hops, legacy_drop_node0=legacy)
            assert spd_t.dtype == torch.int16 and path_t.dtype == torch.uint8
            assert spd_t.shape == (len(batch), pad_to, pad_to) and path_t.shape == (len(batch), pad_to, pad_to, max_hops)
            spd, path = spd_t.numpy(), path_t.numpy()
            assert (spd[padding_pair] == -1).all() and (path[padding_pair] == 0).all()
            for b, (graph, (ref_spd, edge_input)) in enumerate(zip(batch, expected)):
                n = graph["num_nodes"]
                np.testing.assert_array_equal(spd[b, :n, :n], ref_spd)
                np.testing.assert_array_equal(path[b, :n, :n], edge_input_to_codes(edge_input, max_hops))
                molecules += 1
                pairs += n * n
    return molecules, pairs


# --------------------------------------------------------------------------------------------------
# Oracle agreement on real molecules
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["fixed", "legacy"])
def test_matches_reference_on_nci_sample(nci_graphs, extra_graphs, legacy):
    # 600 molecules keep the fast suite fast; test_matches_reference_on_all_nci (slow) checks all 4,999.
    sample = random.Random(0).sample(nci_graphs, 600) + extra_graphs
    assert sum(1 for g in sample if _components(g) > 1) > 10  # salts are in the sample
    molecules, pairs = _compare_with_oracle(sample, (5, 20), legacy, seed=1)
    assert molecules == 2 * len(sample) and pairs > 0
    print(f"\n{'legacy' if legacy else 'fixed'}: {molecules} molecule results, {pairs} pairs identical")


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["fixed", "legacy"])
def test_matches_reference_on_all_nci(nci_graphs, extra_graphs, legacy):
    graphs = nci_graphs + extra_graphs
    assert sum(1 for g in nci_graphs if _components(g) > 1) == 137
    molecules, pairs = _compare_with_oracle(graphs, (5, 20), legacy, seed=2)
    print(f"\n{'legacy' if legacy else 'fixed'}: {molecules} molecule results, {pairs} pairs identical")


def _components(graph: dict) -> int:
    parent = list(range(graph["num_nodes"]))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, j in graph["edge_index"].T.tolist():
        parent[find(i)] = find(j)
    return len({find(x) for x in range(graph["num_nodes"])})


def test_legacy_differs_from_fixed_on_real_molecules(nci_graphs):
    """The legacy switch must actually change something (node 0 is often an intermediate)."""
    codes, num_nodes = _collate(nci_graphs[:200])
    spd_a, path_a = shortest_path_inputs(codes, num_nodes, 5)
    spd_b, path_b = shortest_path_inputs(codes, num_nodes, 5, legacy_drop_node0=True)
    assert torch.equal(spd_a, spd_b)
    assert (path_b == NON_BOND).any() and not (path_a == NON_BOND).any()


def test_oracle_keeps_the_reference_layout(extra_graphs):
    """The oracle itself: edge_input is [n, n, D_g, 3] with D_g = max SPD (510 when disconnected), -1 fill."""
    by_smiles = dict(zip(EXTRA_SMILES, extra_graphs))
    spd, edge_input = ref_preprocess(by_smiles["c1ccccc1"], legacy=False)
    assert edge_input.shape == (6, 6, 3, 3) and spd.max() == 3
    assert (edge_input[0, 0] == -1).all() and (edge_input[0, 1, 1:] == -1).all()
    assert (edge_input[0, 1, 0] >= FEATURE_OFFSET).all()
    spd, edge_input = ref_preprocess(by_smiles["[Na+].[Cl-]"], legacy=False)
    assert edge_input.shape == (2, 2, REF_UNREACHABLE, 3) and (edge_input == -1).all()
    spd, edge_input = ref_preprocess(by_smiles["C"], legacy=True)
    assert spd.tolist() == [[0]] and edge_input.shape == (1, 1, 0, 3)


# --------------------------------------------------------------------------------------------------
# Hand-checked cases
# --------------------------------------------------------------------------------------------------
def _ring_codes() -> torch.Tensor:
    """Six-ring 0-1-2-3-4-5-0, every bond with its own code (10 + lower index, 15 for 5-0)."""
    codes = torch.zeros(1, 6, 6, dtype=torch.int64)
    for a in range(6):
        b = (a + 1) % 6
        codes[0, a, b] = codes[0, b, a] = 10 + min(a, b) if b else 15
    return codes


def test_ring_tie_breaking_follows_smallest_max_intermediate():
    spd, path = shortest_path_inputs(_ring_codes(), torch.tensor([6]), 4)
    assert spd[0, 0, 3] == 3
    assert path[0, 0, 3].tolist() == [10, 11, 12, 0]  # 0-1-2-3 (max intermediate 2), not 0-5-4-3
    assert path[0, 3, 0].tolist() == [12, 11, 10, 0]
    assert path[0, 1, 4].tolist() == [11, 12, 13, 0]  # 1-2-3-4 (max 3), not 1-0-5-4 (max 5)
    assert path[0, 2, 5].tolist() == [11, 10, 15, 0]  # 2-1-0-5 (max 1)


def test_legacy_mode_drops_node0():
    spd, path = shortest_path_inputs(_ring_codes(), torch.tensor([6]), 4, legacy_drop_node0=True)
    assert spd[0, 2, 5] == 3  # true distance kept
    assert path[0, 2, 5].tolist() == [11, NON_BOND, 0, 0]  # 1→5 went through node 0: read as one non-bond hop
    assert path[0, 1, 5].tolist() == [NON_BOND, 0, 0, 0]
    assert path[0, 0, 3].tolist() == [10, 11, 12, 0]  # node 0 as an end point is fine


def test_unreachable_padding_diagonal_symmetry(extra_graphs):
    codes, num_nodes = _collate(extra_graphs, pad_to=12)
    spd, path = shortest_path_inputs(codes, num_nodes, 5)
    salt = EXTRA_SMILES.index("[Na+].[Cl-]")
    assert spd[salt, 0, 1] == UNREACHABLE and spd[salt, 1, 0] == UNREACHABLE
    assert (path[salt, 0, 1] == NO_HOP).all()
    for b, n in enumerate(num_nodes.tolist()):
        assert (spd[b].diagonal()[:n] == 0).all()
        assert (path[b].diagonal(dim1=0, dim2=1)[:, :n] == 0).all()
        assert (spd[b, n:] == -1).all() and (spd[b, :, n:] == -1).all()
        assert (path[b, n:] == 0).all() and (path[b, :, n:] == 0).all()
    assert torch.equal(spd, spd.transpose(1, 2))
    assert int(path.max()) < NUM_PATH_CODES


def test_path_length_matches_distance(nci_graphs):
    """Post-fix: a pair at distance d has exactly min(d, D) non-zero codes, all real bonds."""
    codes, num_nodes = _collate(nci_graphs[:300])
    spd, path = shortest_path_inputs(codes, num_nodes, 7)
    reach = (spd > 0) & (spd != UNREACHABLE)
    hops = (path != 0).sum(-1)
    assert torch.equal(hops[reach], spd[reach].clamp(max=7).to(hops.dtype))
    assert (hops[~reach] == 0).all()
    assert int(path.max()) <= 60


def test_single_atom_and_empty_graph():
    codes = torch.zeros(3, 4, 4, dtype=torch.uint8)
    spd, path = shortest_path_inputs(codes, torch.tensor([1, 0, 2]), 3)
    assert spd[0, 0, 0] == 0 and (spd[0].flatten()[1:] == -1).all()
    assert (spd[1] == -1).all()
    assert spd[2, 0, 1] == UNREACHABLE and (path == 0).all()
    empty_spd, empty_path = shortest_path_inputs(torch.zeros(0, 0, 0), torch.zeros(0), 5)
    assert empty_spd.shape == (0, 0, 0) and empty_path.shape == (0, 0, 0, 5)


def test_zero_hops_and_junk_on_padding():
    codes = _ring_codes()
    padded = torch.full((1, 8, 8), 7)  # junk everywhere outside the real 6x6 corner
    padded[:, :6, :6] = codes
    spd, path = shortest_path_inputs(padded, torch.tensor([6]), 0)
    assert path.shape == (1, 8, 8, 0)
    ref_spd, _ = shortest_path_inputs(codes, torch.tensor([6]), 0)
    assert torch.equal(spd[:, :6, :6], ref_spd) and (spd[:, 6:] == -1).all()


def test_larger_graph_uses_int32_keys():
    """Chains longer than 127 atoms switch the internal key dtype; results must not change."""
    n = 140
    codes = torch.zeros(1, n, n, dtype=torch.int64)
    idx = torch.arange(n - 1)
    codes[0, idx, idx + 1] = 3
    codes[0, idx + 1, idx] = 3
    spd, path = shortest_path_inputs(codes, torch.tensor([n]), 5)
    assert spd[0, 0, n - 1] == n - 1 and spd.dtype == torch.int16
    assert path[0, 0, n - 1].tolist() == [3] * 5


# --------------------------------------------------------------------------------------------------
# bond_code / dense_bond_codes
# --------------------------------------------------------------------------------------------------
def test_bond_code_numpy_and_torch():
    attr = np.array([[0, 0, 0], [4, 5, 1], [1, 2, 0]], dtype=np.uint8)
    expected = [1, 60, 1 + 12 + 4]
    assert bond_code(attr).tolist() == expected
    assert bond_code(torch.from_numpy(attr)).tolist() == expected
    all_codes = {1 + a * 12 + b * 2 + c for a in range(5) for b in range(6) for c in range(2)}
    assert all_codes == set(range(1, 61))
    with pytest.raises(ValueError):
        bond_code(np.array([[5, 0, 0]]))


def test_dense_bond_codes_layout(extra_graphs):
    codes, num_nodes = _collate(extra_graphs, pad_to=10)
    assert codes.shape == (len(extra_graphs), 10, 10) and codes.dtype == torch.uint8
    for b, g in enumerate(extra_graphs):
        expected = np.zeros((10, 10), dtype=np.int64)
        for (i, j), attr in zip(g["edge_index"].T.tolist(), g["edge_feat"]):
            expected[i, j] = bond_code(attr[None])[0]
        np.testing.assert_array_equal(codes[b].numpy(), expected)
    with pytest.raises(ValueError):
        _collate(extra_graphs, pad_to=2)


@pytest.mark.parametrize("legacy", [False, True], ids=["fixed", "legacy"])
def test_every_max_hops_is_a_prefix_of_a_longer_one(nci_graphs, legacy):
    """max_hops ≤ 7 (bytes packed in a uint64) and > 7 (code by code) must agree on shared hops."""
    codes, num_nodes = _collate(nci_graphs[:400])
    spd_long, path_long = shortest_path_inputs(codes, num_nodes, 12, legacy_drop_node0=legacy)
    for max_hops in range(1, 12):
        spd, path = shortest_path_inputs(codes, num_nodes, max_hops, legacy_drop_node0=legacy)
        assert torch.equal(spd, spd_long)
        assert torch.equal(path, path_long[..., :max_hops]), max_hops
