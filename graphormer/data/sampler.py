"""Size-bucketed batch sampler: molecules of similar size share a batch, so padding stays small.

Each epoch: shuffle (seeded by seed + epoch), cut into pools of `pool_batches` global batches, sort each
pool by atom count, cut the pool into global batches (a fixed count, or as many molecules as fit a token
budget of batch × padded atoms), shuffle the batch order.

Under DDP every rank builds the same list of *global* batches (`batch_size` × world size molecules) and
takes every world_size-th molecule of each, so the shards are disjoint, every rank runs the same number of
steps, and a run on N processes sees exactly the batches a 1-process run with N× the batch size sees.
Evaluation (`pad_shards=False`) never repeats a molecule, so metrics gathered across ranks are exact.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Sampler


def cut_by_tokens(order: np.ndarray, sizes: np.ndarray, max_tokens: int, max_count: int | None = None,
                  min_count: int = 1) -> list[np.ndarray]:
    """Cut indices sorted by size (`order`) into consecutive batches whose padded size (widest molecule × count)
    stays within `max_tokens` and whose count within `max_count`; a batch is never cut below `min_count`."""
    batches, start = [], 0
    for end in range(1, len(order) + 1):
        widest = sizes[order[end - 1]]  # sorted by size: the last one is the widest
        too_many = max_count is not None and end - start > max_count
        if end - start > min_count and (widest * (end - start) > max_tokens or too_many):
            batches.append(order[start:end - 1])
            start = end - 1
    if start < len(order):
        batches.append(order[start:])
    return batches


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
        pad_shards: bool = True,
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
        self.pad_shards = pad_shards
        self.epoch = 0
        self._cache: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        """Cut size-sorted indices into global batches by count and/or token budget."""
        world = self.num_replicas
        count = None if self.batch_size is None else self.batch_size * world
        if self.max_tokens is None:
            return [order[i:i + count] for i in range(0, len(order), count)]
        return cut_by_tokens(order, self.sizes, self.max_tokens * world, max_count=count, min_count=world)

    def _global_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        order = rng.permutation(len(self.sizes)) if self.shuffle else np.arange(len(self.sizes))
        per_batch = self.batch_size or max(1, self.max_tokens // max(1, int(self.sizes.mean())))
        pool = self.pool_batches * per_batch * self.num_replicas
        batches: list[np.ndarray] = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(self.sizes[chunk], kind="stable")]
            batches.extend(self._cut(chunk))
        if self.drop_last and self.batch_size and self.max_tokens is None:
            batches = [b for b in batches if len(b) == self.batch_size * self.num_replicas]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _batches(self) -> list[np.ndarray]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        batches = self._global_batches(np.random.default_rng(self.seed + self.epoch))
        world = self.num_replicas
        if world > 1:
            if self.pad_shards:  # a too-small last batch borrows molecules so no rank's shard is empty
                batches = [b if len(b) >= world else np.resize(b, world) for b in batches]
            batches = [b[self.rank::world] for b in batches]
            batches = [b for b in batches if len(b)]
        self._cache = (self.epoch, batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches():
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._batches())
