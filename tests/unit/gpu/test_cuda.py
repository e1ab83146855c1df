"""The same properties on a CUDA GPU (`-m gpu`; skipped with a reason elsewhere; scripts/gpu_check.sh runs
them): no host sync under `torch.cuda.set_sync_debug_mode("error")`, compiled flex trains and compiles once
per bucket, SDPA returns the bias gradient at slim's head dim in bf16, and the baseline survives NCCL."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import torch

from graphormer.model import Graphormer
from graphormer.model.attention import biased_attention
from graphormer.train.module import GraphormerModule
from tests.unit.gpu.conftest import SMILES, collate
from tests.unit.gpu.test_flex_recompiles import batches, compiled_flex_model, run

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
SLIM = dict(num_layers=12, embed_dim=80, ffn_dim=80, num_heads=8)
INPUTS = ("x", "node_mask", "degree", "spd", "path")


def on_cuda(batch: dict) -> dict:
    return {k: v.to("cuda") for k, v in batch.items()}


@pytest.mark.parametrize("attention, training", [("auto", True), ("auto", False), ("math", True), ("sdpa", False)])
def test_no_host_sync_in_a_packed_step(attention, training):
    torch.manual_seed(0)
    module = GraphormerModule(model=dict(SLIM, attention=attention), target_names=["a", "b"]).cuda().train(training)
    batch = on_cuda(collate(SMILES))
    y = torch.randn(len(SMILES), 2, device="cuda")
    y[::3, 1] = float("nan")
    with torch.set_grad_enabled(training):
        module(batch)  # warm-up: compilation and first allocations may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.set_grad_enabled(training), torch.autocast("cuda", dtype=torch.bfloat16):
            raw = module(batch)
            loss = module._loss(raw, y)
            if training:
                loss.backward()
            module.metrics["val"].update(raw.detach().float(), y)
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_compiled_flex_trains_like_math():
    torch.manual_seed(0)
    model = Graphormer(**SLIM, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0).cuda()
    batch = on_cuda(collate(SMILES))
    results = {}
    for backend in ("math", "flex"):
        model.attention = backend
        model.zero_grad(set_to_none=True)
        out = model(**{k: batch[k] for k in INPUTS}, layout=batch["layout"])
        out.square().sum().backward()
        results[backend] = (out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None])
    torch.testing.assert_close(results["flex"][0], results["math"][0], rtol=1e-4, atol=1e-4)
    for a, b in zip(results["flex"][1], results["math"][1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_compiled_flex_compiles_once_per_bucket_on_cuda():
    graphs, lengths, worst = run(compiled_flex_model("cuda"), batches(50, max_atoms=60, seed=2), device="cuda")
    assert graphs <= len(lengths) and worst < 1e-4


@pytest.mark.parametrize("dropout", [0.0, 0.0625])  # 1/16: where torch may pick the cuDNN kernel
def test_sdpa_returns_the_bias_gradient_in_bf16_at_head_dim_10(dropout):
    torch.manual_seed(0)
    q, k, v = (torch.randn(4, 8, 33, 10, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    bias = torch.randn(4, 8, 33, 33, device="cuda", requires_grad=True)
    out = biased_attention(q, k, v, bias, dropout_p=dropout, training=True, backend="sdpa")
    out.float().square().sum().backward()
    assert bias.grad is not None and torch.isfinite(bias.grad).all() and bias.grad.abs().sum() > 0
    if dropout == 0.0:
        want = bias.grad.clone()
        bias.grad = None
        biased_attention(q.float(), k.float(), v.float(), bias, backend="math").square().sum().backward()
        torch.testing.assert_close(want, bias.grad, rtol=0.1, atol=0.05)


def test_baseline_and_metrics_under_an_nccl_group(tmp_path):
    import torch.distributed as dist

    from graphormer.train.run import baseline_metrics

    dist.init_process_group("nccl", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=60), device_id=torch.device("cuda", 0))
    try:
        y = np.array([[1.0], [3.0], [2.0]], dtype=np.float32)
        assert baseline_metrics("regression", np.array([2.0]), y, 2)["mae"] == pytest.approx(2 / 3)
        module = GraphormerModule(model=dict(num_layers=1, embed_dim=8, ffn_dim=8, num_heads=2)).cuda()
        module.metrics["val"].update(torch.ones(3, 1, device="cuda"), torch.from_numpy(y).cuda())
        assert module.metrics["val"].compute()["mae"].item() == pytest.approx(1.0)
    finally:
        dist.destroy_process_group()
