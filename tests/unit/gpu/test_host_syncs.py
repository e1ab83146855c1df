"""Defect 4: no host sync in the packed forward, the loss or the metric update (the layout comes from the
collater, on the CPU). On a GPU each of these calls would stall the launch queue once per batch; here they
are counted by patching the tensor methods that read device values back (conftest.count_host_syncs)."""

from __future__ import annotations

import pytest
import torch

from graphormer.train.module import GraphormerModule
from tests.unit.gpu.conftest import TINY, collate, count_host_syncs, SMILES

INPUTS = ("x", "node_mask", "degree", "spd", "path")
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def test_the_counter_sees_what_the_old_packing_did(batch):
    """The counter is not blind: building the layout from the mask in the forward (what the model did, and
    still does for a batch without a layout) reads the mask back."""
    from graphormer.graph.packing import TokenLayout

    with count_host_syncs() as calls:
        TokenLayout.is_prefix(batch["node_mask"])
        TokenLayout.of(batch["node_mask"])
    assert calls.get("__bool__") and calls.get("numpy")
    with count_host_syncs() as calls:
        batch["node_mask"][batch["node_mask"]].nonzero().tolist()
    assert calls == {"boolean index": 1, "nonzero": 1, "tolist": 1}


@pytest.mark.parametrize("backend", ["math", "sdpa", "flex"])
@pytest.mark.parametrize("training", [True, False])
def test_packed_forward_makes_no_host_sync(batch, backend, training):
    """The training module's forward on a collated batch (what training_step and the eval steps run)."""
    if backend == "flex" and training:
        pytest.skip("flex has no backward on the CPU")
    torch.manual_seed(0)
    module = GraphormerModule(model=dict(TINY, attention=backend)).train(training)
    with torch.set_grad_enabled(training), count_host_syncs() as calls:
        out = module(batch)
        if training:
            out.sum().backward()
    assert calls == {}
    # several size groups, so the per-group path ran; and it is the same function as the padded grid
    assert len(batch["layout"].groups) > 1
    module.eval()
    with torch.no_grad():
        packed = module(batch)
        module.model.pack_tokens = False
        padded = module(batch)
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("task, targets, y", [
    ("regression", ("a", "b"), [[1.0, float("nan")], [2.0, 3.0]]),
    ("classification", ("a", "b"), [[1.0, float("nan")], [0.0, 1.0]]),
    ("multiclass", ("c",), [[2.0], [float("nan")]]),
])
def test_loss_and_metric_update_make_no_host_sync(task, targets, y):
    torch.manual_seed(0)
    module = GraphormerModule(model=TINY, task=task, target_names=list(targets), num_classes=3)
    batch = collate(SMILES[:2])
    raw = module.net.raw(*(batch[k] for k in INPUTS))  # outside the count: only the loss and metrics are checked
    y = torch.tensor(y)
    with count_host_syncs() as calls:
        loss = module._loss(raw, y, torch.tensor([1.0, 2.0]))
        loss = loss + module._loss(raw, y)
        loss.backward()
        module.metrics["val"].update(module.net.unscale(raw).float().detach(), y)
    assert calls == {}
    assert torch.isfinite(loss)
