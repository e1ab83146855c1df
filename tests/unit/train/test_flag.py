"""FLAG: the single returned loss gives exactly the parameter gradients of FLAG's m accumulated backward passes."""

import torch

from graphormer.chem import smiles_to_graph
from graphormer.data.collate import Collater
from graphormer.train.module import MODEL_INPUTS, GraphormerModule

TINY = dict(num_layers=2, embed_dim=8, ffn_dim=8, num_heads=2, dropout=0.0, attention_dropout=0.0,
            activation_dropout=0.0)


def _batch():
    smiles = ["CCO", "c1ccccc1O", "CC(=O)N"]
    return Collater(5)([(smiles_to_graph(s), [float(i)]) for i, s in enumerate(smiles)])


def _reference_flag_grads(module, batch, steps, step_size, mag, seed):
    """FLAG as published: backward after every ascent step, gradients accumulated, loss divided by m."""
    torch.manual_seed(seed)
    inputs = [batch[k] for k in MODEL_INPUTS]
    mask = batch["node_mask"].unsqueeze(-1).float()
    shape = (*batch["node_mask"].shape, 8)
    if mag > 0:
        delta = (torch.rand(shape) * 2 - 1) * mag / 8 ** 0.5
    else:
        delta = (torch.rand(shape) * 2 - 1) * step_size
    module.zero_grad()
    for step in range(steps):
        delta = (delta * mask).detach().requires_grad_(True)
        loss = module._loss(module.model(*inputs, perturb=delta), batch["y"]) / steps
        loss.backward()
        if step + 1 < steps:
            delta = delta.detach() + step_size * delta.grad.sign()
            if mag > 0:
                norm = delta.norm(dim=-1, keepdim=True)
                delta = torch.where(norm > mag, delta * mag / norm, delta)
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def test_flag_gradients_equal_the_accumulated_reference():
    for steps, mag in ((3, 0.0), (2, 0.05)):
        torch.manual_seed(0)
        module = GraphormerModule(model=TINY, target_names=["y"], flag_steps=steps, flag_step_size=0.01,
                                  flag_mag=mag)
        batch = _batch()
        want = _reference_flag_grads(module, batch, steps, 0.01, mag, seed=1)
        module.zero_grad()
        torch.manual_seed(1)
        module._flag_loss(batch).backward()
        for name, grad in want.items():
            torch.testing.assert_close(dict(module.named_parameters())[name].grad, grad, rtol=1e-5, atol=1e-7)


def test_perturbation_changes_the_output_only_through_nodes():
    torch.manual_seed(0)
    module = GraphormerModule(model=TINY, target_names=["y"])
    batch = _batch()
    inputs = [batch[k] for k in MODEL_INPUTS]
    plain = module.model(*inputs)
    zero = module.model(*inputs, perturb=torch.zeros(*batch["node_mask"].shape, 8))
    torch.testing.assert_close(plain, zero)
    bumped = module.model(*inputs, perturb=torch.randn(*batch["node_mask"].shape, 8))
    assert (plain - bumped).abs().max() > 1e-6
