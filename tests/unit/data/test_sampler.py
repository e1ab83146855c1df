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
    flat = [[i for b in bs for i in b] for bs in batches]
    assert not set(flat[0]) & set(flat[1])
    assert sorted(flat[0] + flat[1]) == list(range(999))


def test_ddp_steps_are_the_single_process_batches(sizes):
    """N ranks with batch B see, step by step, exactly what one process with batch N·B sees."""
    single = list(SizeBucketBatchSampler(sizes, batch_size=64, seed=7))
    ranks = [list(SizeBucketBatchSampler(sizes, batch_size=32, seed=7, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for step, batch in enumerate(single):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)


def test_eval_shards_never_repeat(sizes):
    shards = [list(SizeBucketBatchSampler(sizes[:101], batch_size=50, shuffle=False, num_replicas=3, rank=r,
                                          pad_shards=False)) for r in range(3)]
    flat = [i for shard in shards for b in shard for i in b]
    assert sorted(flat) == list(range(101))


def test_no_shuffle_keeps_all(sizes):
    sampler = SizeBucketBatchSampler(sizes, batch_size=100, shuffle=False)
    assert sum(len(b) for b in sampler) == len(sizes)
