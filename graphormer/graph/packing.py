"""Packed tokens: the model's token-wise work runs on real tokens only, attention on small per-size grids.

A batch is padded to its largest molecule, so a ZINC or molhiv batch is a third to half padding, and its
attention grid `[B, H, T, T]` grows with the square of the largest molecule. Here the graph token and real
atoms of every molecule are packed into `[n, d]` rows (projections, LayerNorm, FFN and dropout see no
padding) and, for attention only, the molecules are split into a few groups of similar size, each unpacked
into its own grid `[B_g, T_g]` with `T_g` its largest molecule. Exact: padded keys are masked out anyway.

The layout depends only on `node_mask`, so the collater builds it on the CPU (`Collater(layout=True)`, the
batch's `layout`) and it travels to the device with the batch: the model's forward then never waits for the
device (no `.tolist()`, `nonzero` or boolean indexing on device tensors). Compiled kernels (flex) pad each
group's grid to one of a few lengths (`bucket_length`) and treat the molecule count as dynamic, so they
compile once per length bucket, not once per batch shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

MAX_GROUPS = 4
# A group costs a few extra small ops per layer: split only where the attention grid shrinks by more than this.
MIN_GROUP_GAIN = 0.15
# Grid lengths (tokens) a compiled attention kernel sees: a group of T tokens is padded to the first bucket
# >= T (beyond the last, to a multiple of it). GPU flex works in 128-token blocks, so these cost no extra
# blocks up to 128; on the CPU only the compiled flex path uses them.
LENGTH_BUCKETS = (16, 32, 64, 128, 256, 512)


def bucket_length(length: int, buckets: tuple[int, ...] = LENGTH_BUCKETS) -> int:
    """The padded grid length for a group whose largest molecule has `length` tokens."""
    for bucket in buckets:
        if length <= bucket:
            return bucket
    return -(-length // buckets[-1]) * buckets[-1]


class TokenGroup(NamedTuple):
    """Molecules of similar size: packed rows `start:end`, attended to in a `[batch, length]` grid."""

    molecules: torch.Tensor  # [batch] indices into the padded batch
    start: int
    end: int
    grid: torch.Tensor  # [end - start] position of each packed row in the flat batch*length grid
    batch: int
    length: int  # tokens of the largest molecule, graph token included

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """Rows of this group of `packed` `[n, c]` -> `[batch, length, c]`, zeros on padding."""
        grid = packed.new_zeros(self.batch * self.length, packed.shape[-1])
        return grid.index_copy(0, self.grid, packed[self.start:self.end]).view(self.batch, self.length, -1)

    def pack(self, grid: torch.Tensor) -> torch.Tensor:
        """`[batch, length, c]` -> this group's packed rows `[end - start, c]`."""
        return grid.reshape(self.batch * self.length, -1).index_select(0, self.grid)

    def select(self, spd: torch.Tensor, path: torch.Tensor, node_mask: torch.Tensor):
        """The bias inputs of this group's molecules, cut to its grid (atoms = length - 1)."""
        atoms = self.length - 1
        pick = lambda t: t.index_select(0, self.molecules)  # noqa: E731
        return pick(spd)[:, :atoms, :atoms], pick(path)[:, :atoms, :atoms], pick(node_mask)[:, :atoms]

    def to(self, device, non_blocking: bool = False) -> "TokenGroup":
        return self._replace(molecules=self.molecules.to(device, non_blocking=non_blocking),
                             grid=self.grid.to(device, non_blocking=non_blocking))


class TokenLayout(NamedTuple):
    """Where each real token of a padded batch `[B, T]` lives in the packed rows `[n, c]`.

    Molecules are packed largest first (so every group is a contiguous block of rows); `first[i]` is the
    packed row of molecule i's graph token. Requires the collater's prefix `node_mask` (atoms first; see
    `is_prefix`). One group keeps the batch's full padded width. Build it where the mask lives on the CPU
    (the collater): `of` reads sizes back to Python.
    """

    index: torch.Tensor  # [n] flat position in the B*T grid of every packed row
    first: torch.Tensor  # [B]
    groups: list[TokenGroup]
    batch: int
    length: int

    @classmethod
    def of(cls, node_mask: torch.Tensor, max_groups: int = MAX_GROUPS) -> "TokenLayout":
        """The layout of a prefix `node_mask` `[B, N]` (reads it back to the host: build it on the CPU)."""
        return cls.from_sizes(node_mask.sum(1).cpu().numpy(), node_mask.shape[1], max_groups)

    @classmethod
    def from_sizes(cls, atoms: np.ndarray, width: int, max_groups: int = MAX_GROUPS) -> "TokenLayout":
        """The layout of a batch of molecules with `atoms` real atoms each, padded to `width` atoms. NumPy
        (the collater's own sizes): a few microseconds where the same torch ops on tiny tensors cost ~0.3 ms."""
        counts = np.asarray(atoms, dtype=np.int64) + 1  # the graph token is always real
        B, T = len(counts), width + 1
        order = np.argsort(-counts, kind="stable")  # largest first, ties in batch order
        sorted_counts = counts[order]
        starts = np.cumsum(sorted_counts) - sorted_counts
        slots = np.arange(int(sorted_counts.sum())) - np.repeat(starts, sorted_counts)
        index = np.repeat(order, sorted_counts) * T + slots
        first = np.empty_like(starts)
        first[order] = starts
        sizes = sorted_counts.tolist()
        offsets = starts.tolist() + [len(index)]
        groups = []
        bounds = _split(sizes, max_groups)
        for a, b in bounds:
            length = sizes[a] if len(bounds) > 1 else T
            grid = np.repeat(np.arange(b - a) * length, sorted_counts[a:b]) + slots[offsets[a]:offsets[b]]
            groups.append(TokenGroup(torch.from_numpy(order[a:b].copy()), offsets[a], offsets[b],
                                     torch.from_numpy(grid), b - a, length))
        return cls(torch.from_numpy(index), torch.from_numpy(first), groups, B, T)

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        """`[B, T, c]` -> `[n, c]`."""
        return t.reshape(self.batch * self.length, -1).index_select(0, self.index)

    def to(self, device, non_blocking: bool = False) -> "TokenLayout":
        """The same layout with its index tensors on `device` (Lightning and `batch_to` move batches this way)."""
        return self._replace(index=self.index.to(device, non_blocking=non_blocking),
                             first=self.first.to(device, non_blocking=non_blocking),
                             groups=[g.to(device, non_blocking) for g in self.groups])

    @staticmethod
    def is_prefix(node_mask: torch.Tensor) -> bool:
        """Every row is real atoms then padding (what the collater builds)."""
        return not bool((node_mask[:, 1:] & ~node_mask[:, :-1]).any())


def _split(sizes: list[int], max_groups: int) -> list[tuple[int, int]]:
    """Cut molecules sorted by size (descending) into up to `max_groups` runs of equal count, then merge
    neighbours whose separate attention grids (count x largest^2) save less than MIN_GROUP_GAIN."""
    n = len(sizes)
    cuts = sorted({round(n * i / max_groups) for i in range(max_groups + 1)})
    runs = list(zip(cuts[:-1], cuts[1:]))
    merged = [runs[0]]
    for a, b in runs[1:]:
        start, _ = merged[-1]
        together = (b - start) * sizes[start] ** 2
        apart = (a - start) * sizes[start] ** 2 + (b - a) * sizes[a] ** 2
        if apart > (1 - MIN_GROUP_GAIN) * together:
            merged[-1] = (start, b)
        else:
            merged.append((a, b))
    return merged
