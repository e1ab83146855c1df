"""Defect 3: compiled flex compiles once per grid-length bucket, not once per batch shape. Batches of varied
molecule counts and sizes (what the token-budget sampler and the predictor produce) go through the packed
model with flex compiled (forced on the CPU); dynamo's counters give the number of graphs compiled."""

from __future__ import annotations

import random

import pytest
import torch

from graphormer.graph.packing import LENGTH_BUCKETS, bucket_length
from graphormer.model import Graphormer
from tests.unit.gpu.conftest import TINY, collate

INPUTS = ("x", "node_mask", "degree", "spd", "path")


def chain(atoms: int) -> str:
    return "C" * atoms


def batches(count: int, max_atoms: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(count):
        sizes = [rng.randint(1, max_atoms) for _ in range(rng.randint(1, 12))]
        yield collate([chain(n) for n in sizes])


def compiled_flex_model(device="cpu"):
    torch.manual_seed(0)
    model = Graphormer(**TINY, attention="flex", dropout=0.0, attention_dropout=0.0,
                       activation_dropout=0.0).eval().to(device)
    for layer in model.layers:
        layer.self_attn.compile_flex = True
    return model


def run(model, stream, device="cpu") -> tuple[int, set[int], float]:
    """(graphs compiled, grid lengths seen, largest difference to the math backend)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    lengths, worst = set(), 0.0
    for batch in stream:
        inputs = {k: batch[k].to(device) for k in INPUTS}
        lengths |= {bucket_length(g.length) for g in batch["layout"].groups}
        batch["layout"] = batch["layout"].to(device)
        with torch.no_grad():
            model.attention = "flex"
            out = model(**inputs, layout=batch["layout"])
            model.attention = "math"
            worst = max(worst, (out - model(**inputs, layout=batch["layout"])).abs().max().item())
    return counters["stats"]["unique_graphs"], lengths, worst


def test_bucket_lengths():
    assert [bucket_length(n) for n in (1, 16, 17, 33, 100, 129, 512, 513, 1100)] == \
        [16, 16, 32, 64, 128, 256, 512, 1024, 1536]
    assert LENGTH_BUCKETS[0] == 16  # the CUDA flex kernel's smallest block


def test_one_compile_for_batches_of_any_molecule_count():
    """8 batches, 1 to 12 molecules of up to 14 atoms (one length bucket): one compiled graph. Before, every
    new (molecules, width) pair compiled anew until dynamo's limit of 8."""
    graphs, lengths, worst = run(compiled_flex_model(), batches(8, max_atoms=14, seed=1))
    assert lengths == {16}
    assert graphs == 1
    assert worst < 1e-5


@pytest.mark.slow
def test_fifty_batches_compile_at_most_once_per_bucket():
    graphs, lengths, worst = run(compiled_flex_model(), batches(50, max_atoms=60, seed=2))
    assert len(lengths) >= 3  # 16, 32 and 64 seen
    assert graphs <= len(lengths)
    assert worst < 1e-5


def test_flex_inside_a_compiled_model():
    """`compile=true` compiles the whole Graphormer, flex included: marking the molecule count dynamic happens
    outside compiled regions only (torch forbids tracing mark_dynamic), so validation does not crash."""
    model = compiled_flex_model()
    model.pack_tokens = False  # what compile=true sets (train/run.py)
    compiled = torch.compile(model, backend="eager")
    batch = collate(["CCO", "c1ccccc1O"], pad_nodes_to=16)
    inputs = {k: batch[k] for k in INPUTS}
    with torch.no_grad():
        out = compiled(**inputs)
        model.attention = "math"
        torch.testing.assert_close(out, model(**inputs), rtol=1e-5, atol=1e-5)
