import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graphormer.train.metrics import TaskMetrics
from graphormer.train.module import GraphormerModule
from graphormer.train.run import baseline_metrics
from graphormer.train.schedule import warmup_linear_decay

TINY = dict(num_layers=1, embed_dim=8, ffn_dim=8, num_heads=2)


def module(task="regression", targets=("a", "b"), **kw):
    return GraphormerModule(model=TINY, task=task, target_names=list(targets), **kw)


def test_regression_loss_masks_missing_and_uses_scaling():
    m = module(target_mean=[1.0, 10.0], target_std=[2.0, 5.0])
    raw = torch.tensor([[0.5, 1.0], [0.0, -1.0]])
    y = torch.tensor([[2.0, float("nan")], [1.0, 0.0]])
    # standardised targets: (2-1)/2=0.5, (1-1)/2=0, (0-10)/5=-2 → |0.5-0.5|, |0-0|, |-1+2|
    assert m._loss(raw, y).item() == pytest.approx((0 + 0 + 1) / 3)
    w = torch.tensor([3.0, 1.0])
    assert m._loss(raw, y, w).item() == pytest.approx((3 * 0 + 1 * 0 + 1 * 1) / (3 + 1 + 1))


def test_classification_loss_with_pos_weight_matches_torch():
    m = module("classification", pos_weight=[2.0, 0.5])
    raw = torch.randn(5, 2)
    y = torch.tensor([[1, 0], [0, float("nan")], [1, 1], [0, 0], [float("nan"), 1]], dtype=torch.float32)
    keep = ~torch.isnan(y)
    pos = torch.tensor([2.0, 0.5]).expand_as(y)[keep]
    want = F.binary_cross_entropy_with_logits(raw[keep], y[keep], pos_weight=pos)
    assert m._loss(raw, y).item() == pytest.approx(want.item(), rel=1e-6)


def test_multiclass_loss_and_metric():
    m = module("multiclass", targets=("cls",), num_classes=3)
    raw = torch.randn(4, 3)
    y = torch.tensor([[0.0], [2.0], [float("nan")], [1.0]])
    want = F.cross_entropy(raw[[0, 1, 3]], torch.tensor([0, 2, 1]))
    assert m._loss(raw, y).item() == pytest.approx(want.item(), rel=1e-6)
    metrics = TaskMetrics("multiclass", 1, 3)
    metrics.update(torch.tensor([[5.0, 0, 0], [0, 0, 5.0], [0, 5.0, 0]]), torch.tensor([[0.0], [2.0], [0.0]]))
    assert metrics.compute()["accuracy"].item() == pytest.approx(2 / 3)


def test_metrics_mask_per_target_and_average_over_targets():
    metrics = TaskMetrics("regression", 2)
    pred = torch.tensor([[1.0, 0.0], [2.0, 5.0]])
    y = torch.tensor([[2.0, float("nan")], [2.0, 1.0]])
    metrics.update(pred, y)
    out = metrics.compute()
    assert out["mae"].item() == pytest.approx(((1 + 0) / 2 + 4) / 2)


def test_baseline_predicts_the_training_mean():
    y = np.array([[1.0], [3.0], [5.0]])
    assert baseline_metrics("regression", np.array([2.0]), y, 2)["mae"] == pytest.approx((1 + 1 + 3) / 3)
    auc = baseline_metrics("classification", np.array([0.3]), np.array([[0.0], [1.0], [1.0]]), 2)["rocauc"]
    assert auc == pytest.approx(0.5)


def test_schedule_warms_up_then_decays_linearly_to_end_lr():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = warmup_linear_decay(opt, total_steps=110, warmup=10, peak_lr=1.0, end_lr=0.0)
    lrs = []
    for _ in range(110):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[60] == pytest.approx(0.5) and lrs[-1] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))


def test_checkpoint_hparams_rebuild_the_module(tmp_path):
    from graphormer.inference.checkpoint import load_model, save_inference_checkpoint

    m = module(target_mean=[1.0, 2.0], target_std=[3.0, 4.0])
    path = save_inference_checkpoint(m.net, tmp_path / "m.pt")
    again = load_model(path)
    for key, value in m.net.state_dict().items():
        assert torch.equal(again.state_dict()[key], value)
    assert again.target_names == ["a", "b"] and again.target_mean.tolist() == [1.0, 2.0]


def test_state_dict_keeps_the_checkpoint_layout():
    """The MoleculeModel inside is invisible in the state dict: `model.*` (the Graphormer), `target_mean`,
    `target_std` and `pos_weight` at the top level, as in checkpoints written before it existed."""
    m = module("classification", pos_weight=[2.0, 0.5])
    keys = list(m.state_dict())
    assert {k for k in keys if not k.startswith("model.")} == {"target_mean", "target_std", "pos_weight"}
    assert {k[len("model."):] for k in keys if k.startswith("model.")} == set(m.net.model.state_dict())
    # an old-layout state dict (and a torch.compile'd Graphormer's) loads strictly into a fresh module
    torch.manual_seed(3)
    other = module("classification", pos_weight=[1.0, 1.0])
    assert not torch.equal(other.model.embed_out.weight, m.model.embed_out.weight)
    other.load_state_dict(m.state_dict())
    assert torch.equal(other.model.embed_out.weight, m.model.embed_out.weight)
    assert other.pos_weight.tolist() == [2.0, 0.5]


def test_training_module_and_model_agree(tmp_path):
    """The Lightning forward (metrics: original units / logits) and the model's outputs differ only by the
    activation; `wrapping` copies a model's weights and metadata."""
    from graphormer.chem import smiles_to_graph
    from graphormer.data.collate import Collater

    batch = Collater(5)([(smiles_to_graph(s), None) for s in ["CCO", "c1ccccc1O"]])
    m = module("classification").eval()
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(m(batch)), m.net.predict(batch))
    wrapped = GraphormerModule.wrapping(m.net, lr=1e-3).eval()
    assert wrapped.hparams.lr == 1e-3 and wrapped.task == "classification"
    with torch.no_grad():
        assert torch.equal(wrapped(batch), m(batch))


def test_time_capped_schedule_follows_the_clock_when_it_runs_out_first():
    from graphormer.train.schedule import warmup_linear_decay

    clock = {"used": 0.0}
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    factor = warmup_linear_decay(opt, 1000, 0.1, 1.0, 0.0, time_fraction=lambda: clock["used"]).lr_lambdas[0]
    assert [factor(0), factor(50), factor(100), factor(550)] == pytest.approx([0.01, 0.5, 1.0, 0.5])
    clock["used"] = 0.55  # step 10, but 55 % of the time budget gone: half-way down the decay
    assert factor(10) == pytest.approx(0.5)
    clock["used"] = 1.0
    assert factor(10) == pytest.approx(0.0)
    # without a time budget the schedule is the step schedule, unchanged
    plain = warmup_linear_decay(opt, 1000, 0.1, 1.0, 0.0).lr_lambdas[0]
    assert [plain(0), plain(99), plain(550)] == pytest.approx([0.01, 1.0, 0.5])
