import numpy as np
import pytest

from graphormer.data.sampler import SizeBucketBatchSampler


@pytest.fixture
def sizes():
    return np.random.default_rng(0).integers(1, 60, size=1000)


def test_every_index_once_per_epoch(sizes):
    sampler = SizeBucketBatchSampler(sizes, batch_size=32, seed=1)
    seen = np.concatenate([np.array(b) for b in sampler])
    assert sorted(seen.tolist()) == list(range(len(sizes)))


def test_token_budget_respected_and_padding_small(sizes):
    sampler = SizeBucketBatchSampler(sizes, batch_size=None, max_tokens=2048, seed=0)
    padded = real = 0
    for batch in sampler:
        widest = sizes[batch].max()
        assert len(batch) == 1 or widest * len(batch) <= 2048
        padded += widest * len(batch)
        real += sizes[batch].sum()
    assert 1 - real / padded < 0.10


def test_deterministic_per_seed_and_epoch(sizes):
    a = SizeBucketBatchSampler(sizes, batch_size=16, seed=3)
    b = SizeBucketBatchSampler(sizes, batch_size=16, seed=3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_ddp_shards_disjoint_and_equal_length(sizes):
    shards = [SizeBucketBatchSampler(sizes[:999], batch_size=32, seed=0, num_replicas=2, rank=r) for r in (0, 1)]
    batches = [list(s) for s in shards]
    assert len(batches[0]) == len(batches[1])
    flat = [set(i for b in bs for i in b) for bs in batches]
    # Only the batch repeated to even out the step count may appear on both ranks.
    assert len(flat[0] & flat[1]) <= 32
    assert flat[0] | flat[1] == set(range(999))


def test_no_shuffle_keeps_all(sizes):
    sampler = SizeBucketBatchSampler(sizes, batch_size=100, shuffle=False)
    assert sum(len(b) for b in sampler) == len(sizes)
