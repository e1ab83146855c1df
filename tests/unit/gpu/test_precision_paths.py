"""Defect 7: precision and kernel choice. The head runs in float32 under bf16 autocast; FLAG's ascent
gradient comes from the loss as the 16-mixed GradScaler scales it; SDPA is pinned to the kernels that return a
bias gradient (with the head dim padded to what the memory-efficient kernel accepts); the torch floor is the
first version whose flex takes a bias that needs gradients."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import torch

from graphormer.model import Graphormer
from graphormer.train.module import GraphormerModule
from tests.unit.gpu.conftest import TINY, collate

INPUTS = ("x", "node_mask", "degree", "spd", "path")
REPO = Path(__file__).resolve().parents[3]


def test_head_is_float32_under_bf16_autocast(batch):
    torch.manual_seed(0)
    model = Graphormer(**TINY).eval()
    h = torch.randn(5, TINY["embed_dim"]) * 3 + 40  # large values: bf16 keeps ~3 significant digits
    want = model.head(h)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = model.head(h)
        out = model(**{k: batch[k] for k in INPUTS}, layout=batch["layout"])
    assert got.dtype == torch.float32 and out.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=0, atol=0)


class _Trainer:
    """What `_scaled` reads of a Lightning trainer under precision=16-mixed: the plugin's GradScaler."""

    def __init__(self, scale: float):
        self.precision_plugin = type("Plugin", (), {})()
        self.precision_plugin.scaler = torch.amp.GradScaler("cpu", init_scale=scale)


def test_flag_ascent_differentiates_the_scaled_loss(monkeypatch):
    torch.manual_seed(0)
    module = GraphormerModule(model=dict(TINY, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0),
                              flag_steps=3, flag_step_size=1e-3)
    module._trainer = _Trainer(2.0 ** 16)
    batch = collate(["CCO", "c1ccccc1O"], targets=[[1.0], [2.0]])
    seen = []
    grad = torch.autograd.grad

    def recording(outputs, inputs, **kwargs):
        seen.append(outputs.detach().clone())
        return grad(outputs, inputs, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", recording)
    total = module._flag_loss(batch)
    assert len(seen) == 2  # m - 1 ascent steps
    # each ascent gradient is taken of loss × 65536; the returned loss itself stays unscaled
    assert all(s.item() > 1000 * total.item() for s in seen)
    module._trainer = None
    seen.clear()
    torch.manual_seed(0)
    module._flag_loss(batch)
    assert all(s.item() < 10 * total.item() for s in seen)


def test_float16_ascent_gradient_underflows_unless_scaled():
    """Why: a float16 gradient of 1e-8 is 0 (FLAG's sign then never moves) unless the loss is scaled."""
    x = torch.full((4,), 1e-4, dtype=torch.float16, requires_grad=True)
    (plain,) = torch.autograd.grad((x * x * 1e-4).sum(), x)  # 2e-8: below float16's smallest subnormal
    (scaled,) = torch.autograd.grad((x * x * 1e-4).sum() * 2 ** 16, x)
    assert torch.all(plain == 0) and torch.all(scaled != 0)


def test_sdpa_plan_pins_bias_gradient_kernels_on_cuda():
    from torch.nn.attention import SDPBackend

    from graphormer.model.attention import sdpa_plan

    pinned = [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    assert sdpa_plan("cuda", torch.bfloat16, 10, True) == (pinned, 16)
    assert sdpa_plan("cuda", torch.float16, 24, True) == (pinned, 24)
    assert sdpa_plan("cuda", torch.float32, 10, True) == (pinned, 12)
    assert sdpa_plan("cuda", torch.bfloat16, 10, False) == (None, 10)  # inference: torch's choice
    assert sdpa_plan("cpu", torch.float32, 10, True) == (None, 10)


def test_padded_head_dim_gives_the_same_output_and_bias_gradient():
    from torch.nn.attention import SDPBackend

    from graphormer.model.attention import _sdpa

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 10, dtype=torch.float64) for _ in range(3))
    bias = torch.randn(2, 3, 7, 7, dtype=torch.float64, requires_grad=True)
    grads = []
    for plan in (None, ([SDPBackend.MATH], 16)):
        bias.grad = None
        out = _sdpa(q, k, v, bias, 0.0, 10 ** -0.5, plan)
        (out * torch.linspace(-1, 1, 10, dtype=torch.float64)).sum().backward()
        grads.append((out.detach(), bias.grad.clone()))
    assert grads[1][0].shape == (2, 3, 7, 10)
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-12, atol=1e-12)


def test_torch_floor_is_the_first_flex_with_bias_gradients():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch_dep,) = [d for d in deps if re.match(r"torch\b", d) and not d.startswith("torch-")]
    floor = re.search(r">=\s*([\d.]+)", torch_dep).group(1)
    assert tuple(int(p) for p in floor.split(".")[:2]) >= (2, 6), torch_dep
