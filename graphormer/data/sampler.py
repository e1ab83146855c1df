"""Size-bucketed batch sampler: molecules of similar size share a batch, so padding stays small.

Each epoch: shuffle (seeded by seed + epoch), cut into pools of `pool_batches` batches, sort each pool
by atom count, cut the pool into batches (a fixed batch size, or as many molecules as fit a token budget
of batch × padded atoms), shuffle the batch order. Under DDP every rank builds the same batch list and
takes every world_size-th batch, so the shards are disjoint and every rank runs the same number of steps.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Sampler


class SizeBucketBatchSampler(Sampler[list[int]]):
    def __init__(
        self,
        sizes: np.ndarray,
        batch_size: int | None = 64,
        max_tokens: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        pool_batches: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if batch_size is None and max_tokens is None:
            raise ValueError("give data.batch_size or data.max_tokens")
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.pool_batches = pool_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._cache: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        """Cut size-sorted indices into batches by count and/or token budget."""
        if self.max_tokens is None:
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        batches, start = [], 0
        for end in range(1, len(order) + 1):
            widest = self.sizes[order[end - 1]]  # the pool is sorted by size
            too_many = self.batch_size is not None and end - start > self.batch_size
            if end - start > 1 and (widest * (end - start) > self.max_tokens or too_many):
                batches.append(order[start:end - 1])
                start = end - 1
        batches.append(order[start:])
        return batches

    def _batches(self) -> list[np.ndarray]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(len(self.sizes)) if self.shuffle else np.arange(len(self.sizes))
        pool = self.pool_batches * (self.batch_size or max(1, self.max_tokens // max(1, int(self.sizes.mean()))))
        batches: list[np.ndarray] = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(self.sizes[chunk], kind="stable")]
            batches.extend(self._cut(chunk))
        if self.drop_last and self.batch_size and self.max_tokens is None:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if self.num_replicas > 1:
            # Every rank must run the same number of steps: repeat batches from the start to even out.
            total = -(-len(batches) // self.num_replicas) * self.num_replicas
            batches = (batches * 2)[:total] if total > len(batches) else batches
            batches = batches[self.rank::self.num_replicas]
        self._cache = (self.epoch, batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches():
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._batches())
