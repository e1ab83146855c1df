"""Shortest-path distances and path bond codes for padded molecule batches.

Reproduces the reference Graphormer preprocessing (spec §4.1 / §5.2): a Floyd–Warshall pass that records,
for each pair, the intermediate node of the *last strict improvement* (k in increasing order), followed by
the recursive reconstruction path(i, j) = path(i, k) + k + path(k, j). Only the first ``max_hops`` bond
codes of each path are kept.

Everything is vectorised over the padded batch; the only Python loops run over the Floyd–Warshall pivot
k (N steps) and over path lengths (one step per distinct distance in the batch). The arrays are processed
with numpy internally; inputs may be tensors or arrays, outputs are CPU tensors sharing numpy's memory.
Why numpy: for these small arrays its per-call cost, fancy indexing and integer sort are several times
cheaper than torch's, and it never starts intra-op threads (a first torch version ran up to 100x slower
with 2 threads on a busy 2-core machine than with 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from graphormer.chem.featurize import BOND_FEATURE_DIMS

__all__ = [
    "BOND_STRIDES",
    "MAX_ATOMS",
    "UNREACHABLE",
    "NO_HOP",
    "NON_BOND",
    "NUM_PATH_CODES",
    "NUM_BOND_CODES",
    "bond_code",
    "dense_bond_codes",
    "shortest_path_inputs",
]

UNREACHABLE = 510  # spd of pairs in different connected components (reference constant)
# Largest graph whose distances (at most MAX_ATOMS - 1) stay below UNREACHABLE; the model's spatial table
# has one row per distance up to UNREACHABLE, so a larger molecule cannot be encoded.
MAX_ATOMS = UNREACHABLE
# The path-code vocabulary (the one home of these numbers; the model's bias tables are sized by them).
# A real bond's code is 1 + its mixed-radix index over the OGB bond columns (t0, t1, t2) with vocabulary
# sizes BOND_FEATURE_DIMS = (5, 6, 2): 1 + t0*12 + t1*2 + t2.
_BOND_DIMS = tuple(BOND_FEATURE_DIMS)
BOND_STRIDES = tuple(math.prod(_BOND_DIMS[c + 1:]) for c in range(len(_BOND_DIMS)))  # (12, 2, 1)
NUM_BOND_CODES = math.prod(_BOND_DIMS)  # 60 distinct bonds: codes 1..60
NO_HOP = 0  # path code for hops past the path's end, self / unreachable / padding pairs
NON_BOND = NUM_BOND_CODES + 1  # 61: a hop between two non-bonded atoms (legacy pre-fix mode only)
NUM_PATH_CODES = NON_BOND + 1  # 62: path codes are 0..61


def _to_numpy(array) -> np.ndarray:
    """View a CPU tensor (or anything array-like) as a numpy array, without copying when possible."""
    if isinstance(array, Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


# --------------------------------------------------------------------------------------------------
# Bond codes
# --------------------------------------------------------------------------------------------------
def _bond_code_np(edge_attr: np.ndarray) -> np.ndarray:
    if edge_attr.shape[-1:] != (3,):
        raise ValueError(f"edge_attr must have 3 columns, got shape {edge_attr.shape}")
    attr = edge_attr.astype(np.int64, copy=False)
    if attr.size and ((attr < 0).any() or (attr >= np.array(_BOND_DIMS)).any()):
        # Out-of-vocabulary values would silently alias other codes.
        raise ValueError(f"bond features out of the OGB range {_BOND_DIMS}")
    return 1 + attr @ np.array(BOND_STRIDES, dtype=np.int64)


def bond_code(edge_attr) -> Tensor:
    """Combine OGB bond columns ``(t0, t1, t2)`` into one code ``1 + t0*12 + t1*2 + t2`` (1..60).

    ``edge_attr`` is a numpy array or tensor of shape ``[..., 3]``; returns an int64 tensor ``[...]``.
    Raises ``ValueError`` for values outside the OGB vocabulary ``(5, 6, 2)``.
    """
    return torch.from_numpy(_bond_code_np(_to_numpy(edge_attr)))


def dense_bond_codes(edge_index, edge_attr, ptr, max_nodes: int | None = None) -> Tensor:
    """Scatter the bonds of a concatenated (PyG-style) batch into a padded code matrix.

    Args:
        edge_index: int ``[2, E]`` node indices into the concatenated node list (graph g owns nodes
            ``ptr[g] .. ptr[g+1]-1``); both directions of a bond are listed, as ``smiles2graph`` does.
        edge_attr: int ``[E, 3]`` OGB bond features.
        ptr: int ``[B+1]`` cumulative node counts (``ptr[0] == 0``), as in ``torch_geometric.data.Batch``.
        max_nodes: padded size N; default ``max(num_nodes)``. Must be at least the largest graph.

    Returns:
        uint8 ``[B, N, N]``: ``bond_code`` of the bond i→j, 0 where there is none. Self-loops are dropped
        (the diagonal is always 0), as the reference zeroes the diagonal of the distances.
    """
    ptr = _to_numpy(ptr).astype(np.int64, copy=False)
    edge_index = _to_numpy(edge_index).astype(np.int64, copy=False)
    num_nodes = np.diff(ptr)
    batch_size = num_nodes.size
    largest = int(num_nodes.max()) if batch_size else 0
    size = largest if max_nodes is None else int(max_nodes)
    if size < largest:
        raise ValueError(f"max_nodes={size} is smaller than the largest graph ({largest} nodes)")
    out = np.zeros((batch_size, size, size), dtype=np.uint8)
    if edge_index.size:
        src, dst = edge_index
        graph = np.searchsorted(ptr, src, side="right") - 1  # graph of each edge, from its source node
        if (graph < 0).any() or (graph >= batch_size).any():
            raise ValueError("edge_index refers to nodes outside ptr")
        local_src, local_dst = src - ptr[graph], dst - ptr[graph]
        if (local_dst < 0).any() or (local_dst >= num_nodes[graph]).any():
            raise ValueError("an edge joins nodes of two different graphs")
        keep = local_src != local_dst
        out[graph[keep], local_src[keep], local_dst[keep]] = _bond_code_np(_to_numpy(edge_attr))[keep]
    return torch.from_numpy(out)


# --------------------------------------------------------------------------------------------------
# Floyd–Warshall
# --------------------------------------------------------------------------------------------------
def _floyd_warshall_keys(bonded: np.ndarray) -> tuple[np.ndarray, int]:
    """Batched Floyd–Warshall on ``bonded`` (bool ``[B, n, n]``, no self-loops).

    Each entry is one integer ``key = dist << shift | tag`` with tag = 1 + the intermediate k of the
    last strict improvement (0 = none). Because k grows, ``min(key, candidate)`` keeps the old entry on
    ties and takes the candidate exactly on strict improvement — the reference rule — in a single op.
    "Unreachable" is n (more than any real distance; sums of two stay ≤ 2n), so int16 suffices up to
    n = 127.
    """
    batch, n, _ = bonded.shape
    shift = n.bit_length()  # tags go up to n
    dtype = np.int16 if (2 * n + 1) << shift < 2**15 else np.int32
    key = np.where(bonded, dtype(1 << shift), dtype(n << shift))
    key[:, np.arange(n), np.arange(n)] = 0
    dist_bits = dtype(~((1 << shift) - 1))
    row = np.empty((batch, n), dtype=dtype)
    col = np.empty((batch, n), dtype=dtype)
    cand = np.empty_like(key)
    for k in range(n):
        np.bitwise_and(key[:, k, :], dist_bits, out=row)  # d(k, j) << shift
        np.bitwise_and(key[:, :, k], dist_bits, out=col)  # d(i, k) << shift
        col += dtype(k + 1)
        np.add(col[:, :, None], row[:, None, :], out=cand)
        np.minimum(key, cand, out=key)
    return key, shift


# --------------------------------------------------------------------------------------------------
# Path reconstruction
# --------------------------------------------------------------------------------------------------
# A pair's codes are its left half's codes followed by its right half's, cut to max_hops. Pairs are built
# in increasing true distance: both halves are strictly shorter, so they are complete when the pair is.
# In post-fix mode a pair's number of codes is its distance; in legacy mode (`hop_len` given) it can be
# less and is accumulated level by level.

_PACKED_MAX_HOPS = 7  # codes packed one byte each in a uint64; shifts must stay below 64 bits


def _composite_pairs(spd: np.ndarray, tag: np.ndarray, composite: np.ndarray, n: int):
    """Flat indices of the pairs to build, sorted by distance, their halves and the level boundaries."""
    pairs = np.flatnonzero(composite)
    dist = spd.reshape(-1)[pairs]
    if n <= 256:
        dist = dist.astype(np.uint8)  # one radix pass instead of two
    order = np.argsort(dist, kind="stable")  # radix sort for small integer types
    pairs, dist = pairs[order], dist[order]
    mid = tag.reshape(-1)[pairs].astype(np.int64) - 1  # the intermediate k
    i = (pairs // n) % n
    left = pairs - pairs % n + mid  # (i, k)
    right = pairs + (mid - i) * n  # (k, j)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(dist)) + 1, [pairs.size]]).tolist()
    return pairs, left, right, list(zip(bounds[:-1], bounds[1:]))


def _paths_packed(first_hop, spd, tag, composite, hop_len, max_hops: int) -> np.ndarray:
    """Codes as bytes of one uint64 per pair (hop h = byte h): concatenation is ``left | right << 8·len``.

    Bytes at and above max_hops may hold junk, but OR and left shifts never move it into lower bytes,
    so the kept bytes are exact.
    """
    packed = first_hop.astype(np.uint64)
    flat = packed.reshape(-1)
    pairs, left, right, levels = _composite_pairs(spd, tag, composite, spd.shape[1])
    if hop_len is None:
        shifts = np.minimum(spd.reshape(-1)[left], max_hops).astype(np.uint64) << np.uint64(3)
        for start, stop in levels:
            flat[pairs[start:stop]] = flat[left[start:stop]] | (flat[right[start:stop]] << shifts[start:stop])
    else:
        lens = hop_len.reshape(-1)
        for start, stop in levels:
            lft, rgt, dst = left[start:stop], right[start:stop], pairs[start:stop]
            left_len = lens[lft]
            lens[dst] = left_len + lens[rgt]
            shift = np.minimum(left_len, max_hops).astype(np.uint64) << np.uint64(3)
            flat[dst] = flat[lft] | (flat[rgt] << shift)
    # Keep the low max_hops bytes of each word: a structured view copies them as one field (~2x faster
    # than a strided uint8 copy).
    low_bytes = np.dtype({"names": ["codes"], "formats": [f"V{max_hops}"], "offsets": [0], "itemsize": 8})
    kept = packed.astype("<u8", copy=False).view(low_bytes)["codes"].copy()
    return kept.view(np.uint8).reshape(*packed.shape, max_hops)


def _concat_sources(left: np.ndarray, right: np.ndarray, left_len: np.ndarray, max_hops: int) -> np.ndarray:
    """Flat element indices of the first ``max_hops`` codes of ``codes(left) ++ codes(right)``.

    Hop t comes from left's hop t while t < len(left), else from right's hop t - len(left) (at most
    max_hops - 2, so in range); right's hops past its own end are already 0.
    """
    hops = np.arange(max_hops)
    left_len = left_len.astype(np.int64)[:, None]
    start = np.where(hops < left_len, (left * max_hops)[:, None], (right * max_hops)[:, None] - left_len)
    return start + hops


def _paths_general(first_hop, spd, tag, composite, hop_len, max_hops: int) -> np.ndarray:
    """Any max_hops: copy code by code through precomputed flat source indices."""
    path = np.zeros((*first_hop.shape, max_hops), dtype=np.uint8)
    path[..., 0] = first_hop
    flat = path.reshape(-1)
    rows = path.reshape(-1, max_hops)
    pairs, left, right, levels = _composite_pairs(spd, tag, composite, spd.shape[1])
    if hop_len is None:
        src = _concat_sources(left, right, spd.reshape(-1)[left], max_hops)
        for start, stop in levels:
            rows[pairs[start:stop]] = flat[src[start:stop]]
        return path
    lens = hop_len.reshape(-1)
    for start, stop in levels:
        lft, rgt, dst = left[start:stop], right[start:stop], pairs[start:stop]
        left_len = lens[lft]
        lens[dst] = left_len + lens[rgt]
        rows[dst] = flat[_concat_sources(lft, rgt, left_len, max_hops)]
    return path


def _build_paths(first_hop, spd, tag, composite, hop_len, max_hops: int) -> np.ndarray:
    """uint8 ``[B, n, n, max_hops]`` from the one-hop codes and the recorded intermediates."""
    if max_hops == 0 or not composite.any():
        path = np.zeros((*first_hop.shape, max_hops), dtype=np.uint8)
        if max_hops:
            path[..., 0] = first_hop
        return path
    build = _paths_packed if max_hops <= _PACKED_MAX_HOPS else _paths_general
    return build(first_hop, spd, tag, composite, hop_len, max_hops)


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------
def shortest_path_inputs(
    bond_codes,
    num_nodes,
    max_hops: int,
    legacy_drop_node0: bool = False,
) -> tuple[Tensor, Tensor]:
    """Shortest-path distances and the bond codes along the reference's chosen shortest paths.

    Args:
        bond_codes: int ``[B, N, N]`` (tensor or array), code of the bond i→j (1..60) or 0, e.g. from
            ``dense_bond_codes``. Entries on padding rows/columns and on the diagonal are ignored.
        num_nodes: int ``[B]``, real atoms per graph (atoms ``0..num_nodes[b]-1`` are real).
        max_hops: number of path hops D to keep (≥ 0).
        legacy_drop_node0: reproduce the pre-fix reference (before PR #119), where intermediate node 0
            meant "no intermediate": such a stretch becomes one hop coded ``NON_BOND``. ``spd`` is the
            true distance in both modes.

    Returns:
        ``spd`` int16 ``[B, N, N]``: 0 on the diagonal, ``UNREACHABLE`` between components, −1 for any pair
        involving a padding node; ``path`` uint8 ``[B, N, N, max_hops]``: codes of the first ``max_hops``
        hops, ``NO_HOP`` past the end and for self / unreachable / padding pairs.
    """
    codes = _to_numpy(bond_codes)
    if codes.ndim != 3 or codes.shape[1] != codes.shape[2]:
        raise ValueError(f"bond_codes must be [B, N, N], got {codes.shape}")
    batch, size, _ = codes.shape
    num_nodes = _to_numpy(num_nodes).astype(np.int64, copy=False).reshape(-1)
    if num_nodes.size != batch:
        raise ValueError(f"num_nodes has {num_nodes.size} entries for a batch of {batch}")
    max_hops = int(max_hops)
    if max_hops < 0:
        raise ValueError(f"max_hops must be >= 0, got {max_hops}")
    if batch and ((num_nodes < 0).any() or num_nodes.max() > size):
        raise ValueError("num_nodes must lie in [0, N]")

    n = int(num_nodes.max()) if batch else 0
    if n == size:
        spd, path = _spatial_cropped(codes, num_nodes, max_hops, legacy_drop_node0)
    else:
        # Work on the [B, n, n] corner only: nodes beyond the largest graph are padding for every graph.
        spd = np.full((batch, size, size), -1, dtype=np.int16)
        path = np.zeros((batch, size, size, max_hops), dtype=np.uint8)
        if n:
            spd[:, :n, :n], path[:, :n, :n] = _spatial_cropped(codes[:, :n, :n], num_nodes, max_hops, legacy_drop_node0)
    return torch.from_numpy(spd), torch.from_numpy(path)


def _spatial_cropped(codes: np.ndarray, num_nodes: np.ndarray, max_hops: int, legacy: bool):
    batch, n, _ = codes.shape
    real = np.arange(n) < num_nodes[:, None]  # [B, n]
    real_pair = real[:, :, None] & real[:, None, :]
    bonded = (codes != 0) & real_pair  # ignore junk on padding rows
    bonded[:, np.arange(n), np.arange(n)] = False

    key, shift = _floyd_warshall_keys(bonded)
    tag = key & ((1 << shift) - 1)
    dist = key >> shift
    unreachable = dist >= n  # includes every off-diagonal pair touching a padding node
    spd = dist.astype(np.int16)
    spd[unreachable] = UNREACHABLE
    spd[~real_pair] = -1

    first_hop = np.where(bonded, codes, 0).astype(np.uint8)
    if legacy:
        # Strict improvements (tag > 0) only ever happen on reachable pairs, never on bonded ones.
        dropped = tag == 1  # intermediate 0 read as "directly connected"
        first_hop[dropped] = NON_BOND
        composite = tag > 1
        hop_len = (bonded | dropped).astype(np.int16)
    else:
        composite = tag > 0
        hop_len = None
    return spd, _build_paths(first_hop, spd, tag, composite, hop_len, max_hops)
