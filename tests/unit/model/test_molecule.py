"""MoleculeModel: output activation in numbers, save/load round trips, both checkpoint formats."""

from __future__ import annotations

import pytest
import torch

from graphormer.chem import smiles_to_graph
from graphormer.data.collate import Collater
from graphormer.errors import CheckpointError
from graphormer.model.molecule import INFERENCE_FORMAT, MoleculeModel, model_inputs, read_checkpoint

TINY = dict(num_layers=1, embed_dim=8, ffn_dim=8, num_heads=2, dropout=0.0, attention_dropout=0.0,
            activation_dropout=0.0)
SMILES = ["CCO", "c1ccccc1O", "CC(=O)N", "C"]


def _batch(max_hops=5):
    return Collater(max_hops)([(smiles_to_graph(s), None) for s in SMILES])


def test_activation_in_numbers():
    raw = torch.tensor([[0.0, 1.0], [-2.0, 0.5]])
    reg = MoleculeModel(TINY, target_names=["a", "b"], target_mean=[1.0, 10.0], target_std=[2.0, 5.0])
    assert reg.activate(raw).tolist() == [[1.0, 15.0], [-3.0, 12.5]]
    assert reg.scale(torch.tensor([[1.0, 15.0]])).tolist() == [[0.0, 1.0]]
    cls = MoleculeModel(TINY, task="classification", target_names=["a", "b"],
                        target_mean=[1.0, 10.0], target_std=[2.0, 5.0])  # scaling ignored for classifiers
    assert torch.allclose(cls.activate(raw), 1 / (1 + torch.exp(-raw)))
    assert torch.equal(cls.unscale(raw), raw)  # what the training metrics read: logits
    multi = MoleculeModel(TINY, task="multiclass", target_names=["kind"], num_classes=2)
    probs = multi.activate(raw)
    assert torch.allclose(probs.sum(-1), torch.ones(2))
    assert probs[0, 1].item() == pytest.approx(1 / (1 + torch.exp(torch.tensor(-1.0))).item())
    assert multi.output_names == ["kind_class_0", "kind_class_1"]


def test_forward_is_the_graphormer_then_activation():
    torch.manual_seed(0)
    model = MoleculeModel(TINY, target_names=["a"], target_mean=[3.0], target_std=[0.5]).eval()
    batch = _batch()
    with torch.no_grad():
        direct = model.model(*model_inputs(batch)) * 0.5 + 3.0
        assert torch.equal(model.predict(batch), direct)
        assert torch.equal(model(*model_inputs(batch)), direct)
        assert model.encode(*model_inputs(batch)).shape == (len(SMILES), 8)


@pytest.mark.parametrize("task,names,kw", [("regression", ["a", "b"], dict(target_mean=[1.0, 2.0], target_std=[3.0, 4.0])),
                                           ("classification", ["a", "b", "c"], {}),
                                           ("multiclass", ["kind"], dict(num_classes=4))])
def test_save_load_round_trip(tmp_path, task, names, kw):
    torch.manual_seed(1)
    model = MoleculeModel(dict(TINY, max_hops=3), task=task, target_names=names, legacy_drop_node0=True, **kw)
    with torch.no_grad():
        model.model.lm_output_learned_bias.fill_(0.25)
    path = model.save(tmp_path / "sub" / "m.ckpt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.ckpt"]  # no temporary file left behind
    again = MoleculeModel.load(path)
    assert again.hparams == model.hparams
    assert again.legacy_drop_node0 is True and again.max_hops == 3 and again.task == task
    for key, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
    batch = _batch(max_hops=3)
    with torch.no_grad():
        assert torch.equal(again.eval().predict(batch), model.eval().predict(batch))
    assert torch.load(path, weights_only=False)["format"] == INFERENCE_FORMAT


def test_lightning_layout_checkpoint_loads(tmp_path):
    """A training checkpoint's state dict: the model's keys at the top level plus the training module's own
    (pos_weight), a torch.compile prefix on the Graphormer, and optimiser state: the model is read out."""
    torch.manual_seed(2)
    model = MoleculeModel(TINY, task="classification", target_names=["a", "b"])
    state = {k.replace("model.", "model._orig_mod.", 1) if k.startswith("model.") else k: v
             for k, v in model.state_dict().items()}
    state["pos_weight"] = torch.tensor([2.0, 1.0])
    hparams = {**model.hparams, "loss": "bce", "pos_weight": [2.0, 1.0], "lr": 1e-3, "flag_steps": 0}
    torch.save({"state_dict": state, "hyper_parameters": hparams, "epoch": 3, "optimizer_states": []},
               tmp_path / "last.ckpt")
    again = MoleculeModel.load(tmp_path / "last.ckpt")
    batch = _batch()
    with torch.no_grad():
        assert torch.equal(again.predict(batch), model.eval().predict(batch))


def test_unusable_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        MoleculeModel.load(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.ckpt: not a readable checkpoint"):
        read_checkpoint(tmp_path / "junk.ckpt")
    model = MoleculeModel(TINY)
    payload = {"format": INFERENCE_FORMAT, "hparams": {**model.hparams, "featurizer_version": "ogb-0"},
               "state_dict": model.state_dict()}
    torch.save(payload, tmp_path / "old.ckpt")
    with pytest.raises(CheckpointError, match="featurizer 'ogb-0'"):
        MoleculeModel.load(tmp_path / "old.ckpt")
    payload["hparams"] = {**model.hparams, "model": dict(TINY, embed_dim=16)}
    torch.save(payload, tmp_path / "shape.ckpt")
    with pytest.raises(CheckpointError, match="do not fit"):
        MoleculeModel.load(tmp_path / "shape.ckpt")
