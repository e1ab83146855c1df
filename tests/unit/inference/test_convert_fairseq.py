"""`graphormer convert source=fairseq`: official checkpoint names and shapes, written out here from the
official code's description (spec §2–§8; `graphormer/models/graphormer.py`, `graphormer/modules/*`), mapped
back onto our model; plus the `legacy_drop_node0` flag reaching the data pipeline."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types

import pytest
import torch

from graphormer.chem import smiles_to_graph
from graphormer.data.collate import Collater
from graphormer.inference import Predictor, load_model
from graphormer.inference.convert import (
    ConvertError,
    convert,
    map_state_dict,
    max_spatial_distance_from,
    shift_rows,
)
from graphormer.model.molecule import MoleculeModel
from tests.conftest import nci_rows

ARCH = dict(num_layers=2, embed_dim=16, ffn_dim=24, num_heads=4, num_edge_dis=8, max_hops=5)
# Node 0 is the middle atom of several shortest paths in the first two: the pre-fix bug changes them.
SMILES = ["C(C)(C)C(=O)O", "N(CC)(CC)C", "CCO", "c1ccccc1O"] + [s for s, _ in nci_rows(12)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _random_module(pre_layernorm: bool, embed_layernorm: bool, num_outputs: int = 1, seed: int = 0):
    torch.manual_seed(seed)
    model = dict(ARCH, pre_layernorm=pre_layernorm, embed_layernorm=embed_layernorm, dropout=0.0)
    module = MoleculeModel(model, target_names=[f"t{i}" for i in range(num_outputs)]).eval()
    with torch.no_grad():
        for param in module.model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    return module


def _official_state(module, pre_layernorm: bool) -> dict[str, torch.Tensor]:
    """The state dict the official v2 code would save for this model, names and shapes spelled out."""
    m, d, H, L = module.model, ARCH["embed_dim"], ARCH["num_heads"], ARCH["num_layers"]
    ge = "encoder.graph_encoder."
    state = {
        ge + "graph_node_feature.atom_encoder.weight": (m.node_embedding.atom_encoder.weight, (512 * 9 + 1, d)),
        ge + "graph_node_feature.in_degree_encoder.weight": (m.node_embedding.in_degree_encoder.weight, (512, d)),
        ge + "graph_node_feature.out_degree_encoder.weight": (m.node_embedding.out_degree_encoder.weight, (512, d)),
        ge + "graph_node_feature.graph_token.weight": (m.node_embedding.graph_token.weight, (1, d)),
        ge + "graph_attn_bias.edge_encoder.weight": (m.attn_bias.edge_encoder.weight, (512 * 3 + 1, H)),
        ge + "graph_attn_bias.edge_dis_encoder.weight": (m.attn_bias.edge_dis_encoder.weight,
                                                         (ARCH["num_edge_dis"] * H * H, 1)),
        ge + "graph_attn_bias.spatial_pos_encoder.weight": (m.attn_bias.spatial_pos_encoder.weight, (512, H)),
        ge + "graph_attn_bias.graph_token_virtual_distance.weight": (m.attn_bias.graph_token_virtual_distance.weight,
                                                                     (1, H)),
        "encoder.lm_head_transform_weight.weight": (m.head_transform.weight, (d, d)),
        "encoder.lm_head_transform_weight.bias": (m.head_transform.bias, (d,)),
        "encoder.layer_norm.weight": (m.head_layer_norm.weight, (d,)),
        "encoder.layer_norm.bias": (m.head_layer_norm.bias, (d,)),
        "encoder.embed_out.weight": (m.embed_out.weight, (m.embed_out.weight.shape[0], d)),
        "encoder.lm_output_learned_bias": (m.lm_output_learned_bias, (1,)),
    }
    if m.embed_layer_norm is not None:
        state[ge + "emb_layer_norm.weight"] = (m.embed_layer_norm.weight, (d,))
        state[ge + "emb_layer_norm.bias"] = (m.embed_layer_norm.bias, (d,))
    for i in range(L):
        ours, theirs = m.layers[i], f"{ge}layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear = getattr(ours.self_attn, proj)
            state[f"{theirs}self_attn.{proj}.weight"] = (linear.weight, (d, d))
            state[f"{theirs}self_attn.{proj}.bias"] = (linear.bias, (d,))
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            state[f"{theirs}{norm}.weight"] = (getattr(ours, norm).weight, (d,))
            state[f"{theirs}{norm}.bias"] = (getattr(ours, norm).bias, (d,))
        state[f"{theirs}fc1.weight"] = (ours.fc1.weight, (ARCH["ffn_dim"], d))
        state[f"{theirs}fc1.bias"] = (ours.fc1.bias, (ARCH["ffn_dim"],))
        state[f"{theirs}fc2.weight"] = (ours.fc2.weight, (d, ARCH["ffn_dim"]))
        state[f"{theirs}fc2.bias"] = (ours.fc2.bias, (d,))
    for name, (tensor, shape) in state.items():
        assert tuple(tensor.shape) == shape, f"{name}: our model has {tuple(tensor.shape)}, official {shape}"
    out = {name: tensor.detach().clone() for name, (tensor, _) in state.items()}
    # Created by the official code, never used: the pooler always, the encoder's final LN with --pre-layernorm.
    out["encoder.masked_lm_pooler.weight"] = torch.randn(d, d)
    out["encoder.masked_lm_pooler.bias"] = torch.randn(d)
    if pre_layernorm:
        out[ge + "final_layer_norm.weight"] = torch.randn(d)
        out[ge + "final_layer_norm.bias"] = torch.randn(d)
    return out


def _model_args(pre_layernorm: bool, embed_layernorm: bool, **extra) -> argparse.Namespace:
    return argparse.Namespace(**{**dict(
        arch="graphormer_slim", encoder_layers=ARCH["num_layers"], encoder_embed_dim=ARCH["embed_dim"],
        encoder_ffn_embed_dim=ARCH["ffn_dim"], encoder_attention_heads=ARCH["num_heads"],
        pre_layernorm=pre_layernorm, encoder_normalize_before=embed_layernorm, apply_graphormer_init=True,
        activation_fn="gelu", share_encoder_input_output_embed=False, dropout=0.0, attention_dropout=0.1,
        act_dropout=0.1, num_atoms=512 * 9, num_edges=512 * 3, num_in_degree=512, num_out_degree=512,
        num_spatial=512, num_edge_dis=ARCH["num_edge_dis"], edge_type="multi_hop", multi_hop_max_dist=5,
        max_nodes=128), **extra})


def _save_hydra_style(path, state, pre_layernorm, embed_layernorm, criterion="l1_loss", **task):
    """fairseq >= 0.10: `args` None, `cfg` = {model: Namespace (legacy arch), task: dict, criterion: dict}."""
    task_cfg = dict(_name="graph_prediction", num_classes=1, multi_hop_max_dist=5, spatial_pos_max=1024, **task)
    torch.save({"args": None, "cfg": {"model": _model_args(pre_layernorm, embed_layernorm), "task": task_cfg,
                                      "criterion": {"_name": criterion}},
                "model": state, "optimizer_history": [{"num_updates": 10}], "extra_state": {"epoch": 3}}, path)


def _batch(legacy: bool) -> dict:
    return Collater(max_hops=ARCH["max_hops"], legacy_drop_node0=legacy)([(smiles_to_graph(s), None) for s in SMILES])


# ---------------------------------------------------------------------------------------- mapping
@pytest.mark.parametrize("pre_layernorm,embed_layernorm", [(False, True), (True, True), (True, False)])
def test_every_official_tensor_lands_in_place(tmp_path, pre_layernorm, embed_layernorm):
    original = _random_module(pre_layernorm, embed_layernorm)
    state = _official_state(original, pre_layernorm)
    _save_hydra_style(tmp_path / "checkpoint_best.pt", state, pre_layernorm, embed_layernorm)

    convert("fairseq", tmp_path / "checkpoint_best.pt", tmp_path / "out.ckpt")
    converted = load_model(tmp_path / "out.ckpt")

    want, got = original.model.state_dict(), converted.model.state_dict()
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    hp = converted
    assert hp.arch["pre_layernorm"] is pre_layernorm and hp.arch["embed_layernorm"] is embed_layernorm
    assert hp.task == "regression" and list(hp.target_names) == ["target_0"]
    assert hp.arch["max_spatial_distance"] is None  # official spatial_pos_max 1024: nothing masked
    assert hp.legacy_drop_node0 is True
    assert converted.target_mean.tolist() == [0.0] and converted.target_std.tolist() == [1.0]

    batch = _batch(legacy=True)
    with torch.no_grad():
        assert torch.equal(converted.predict(batch), original.predict(batch))


def test_regression_scaling_when_told(tmp_path):
    original = _random_module(False, True, seed=5)
    _save_hydra_style(tmp_path / "ck.pt", _official_state(original, False), False, True)
    scaled = convert("fairseq", tmp_path / "ck.pt", target_mean=[1.5], target_std=[2.0])
    batch = _batch(legacy=True)
    with torch.no_grad():
        assert torch.allclose(scaled.predict(batch), original.predict(batch) * 2.0 + 1.5)
    with pytest.raises(ConvertError, match="go together"):
        convert("fairseq", tmp_path / "ck.pt", target_mean=[1.5])


def test_dead_parameters_are_dropped_and_unknown_ones_refused():
    state = _official_state(_random_module(True, True), pre_layernorm=True)
    mapped = map_state_dict(state)
    assert not any("pooler" in k or k.startswith("final_layer_norm") for k in mapped)
    with pytest.raises(ConvertError, match="unexpected parameters.*encoder.mystery"):
        map_state_dict({**state, "encoder.mystery.weight": torch.zeros(1)})


def test_legacy_args_checkpoint_with_classification_criterion(tmp_path):
    """Older fairseq: one `args` Namespace with the task and criterion in it."""
    original = _random_module(False, True, num_outputs=3, seed=1)
    args = _model_args(False, True, criterion="binary_logloss", num_classes=3, spatial_pos_max=8)
    torch.save({"args": args, "model": _official_state(original, False)}, tmp_path / "old.pt")
    module = convert("fairseq", tmp_path / "old.pt", target_names=["a", "b", "c"])
    assert module.task == "classification" and list(module.target_names) == ["a", "b", "c"]
    assert module.arch["max_spatial_distance"] == 8  # official collator compares SPD itself
    multiclass = convert("fairseq", tmp_path / "old.pt", task="multiclass", spatial_pos_max=1024)
    assert multiclass.num_classes == 3 and multiclass.arch["max_spatial_distance"] is None


def test_checkpoint_pickling_fairseq_objects_loads_without_fairseq(tmp_path):
    """Objects from packages that are not installed here (fairseq itself) must not block the import."""
    fake = types.ModuleType("fairseq_not_installed_here")

    class Meta:  # stands for any fairseq class pickled into a checkpoint
        __module__ = fake.__name__

        def __init__(self):
            self.value = 3

    Meta.__qualname__ = "Meta"
    fake.Meta = Meta
    sys.modules[fake.__name__] = fake
    try:
        original = _random_module(False, True, seed=2)
        _save_hydra_style(tmp_path / "ck.pt", _official_state(original, False), False, True, extra=Meta())
    finally:
        del sys.modules[fake.__name__]
    with pytest.raises(ModuleNotFoundError):  # a plain load fails: the tolerant path is what works
        torch.load(tmp_path / "ck.pt", weights_only=False)
    module = convert("fairseq", tmp_path / "ck.pt")
    with torch.no_grad():
        batch = _batch(legacy=True)
        assert torch.equal(module.predict(batch), original.predict(batch))


def test_errors_name_the_problem(tmp_path):
    original = _random_module(False, True)
    state = _official_state(original, False)
    headless = {k: v for k, v in state.items() if "embed_out" not in k}
    _save_hydra_style(tmp_path / "headless.pt", headless, False, True)
    with pytest.raises(ConvertError, match="no output layer"):
        convert("fairseq", tmp_path / "headless.pt")
    _save_hydra_style(tmp_path / "ok.pt", state, False, True)
    with pytest.raises(ConvertError, match="2 target names"):
        convert("fairseq", tmp_path / "ok.pt", target_names=["a", "b"])
    with pytest.raises(ConvertError, match="exceeds the 8 hop matrices"):
        convert("fairseq", tmp_path / "ok.pt", max_hops=9)
    with pytest.raises(ConvertError, match="source='onnx'"):
        convert("onnx", tmp_path / "ok.pt")
    torch.save({"model": state, "args": _model_args(True, True)}, tmp_path / "mismatch.pt")
    with pytest.raises(ConvertError, match="pre_layernorm=True in the arguments does not match"):
        convert("fairseq", tmp_path / "mismatch.pt")
    torch.save({"model": state, "args": _model_args(False, True, edge_type="single_hop")}, tmp_path / "edge.pt")
    with pytest.raises(ConvertError, match="edge_type"):
        convert("fairseq", tmp_path / "edge.pt")
    torch.save({"model": state, "args": _model_args(False, True, multi_hop_max_dist=0)}, tmp_path / "hops.pt")
    with pytest.raises(ConvertError, match="unlimited hops"):
        convert("fairseq", tmp_path / "hops.pt")
    assert convert("fairseq", tmp_path / "hops.pt", max_hops=4).arch["max_hops"] == 4
    with pytest.raises(ConvertError, match="checkpoint not found"):  # CheckpointError: one-line CLI error
        convert("fairseq", tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConvertError, match="not a readable checkpoint"):
        convert("fairseq", tmp_path / "junk.pt")


# ------------------------------------------------------------------------------- legacy node-0 paths
def test_predictor_uses_the_legacy_paths_of_a_fairseq_import(tmp_path):
    original = _random_module(False, True, seed=3)
    _save_hydra_style(tmp_path / "ck.pt", _official_state(original, False), False, True)
    convert("fairseq", tmp_path / "ck.pt", tmp_path / "legacy.ckpt")
    predictor = Predictor.from_checkpoints([tmp_path / "legacy.ckpt"])
    assert predictor.collater.legacy_drop_node0 is True

    module = predictor.models[0]
    with torch.no_grad():
        legacy, fixed = module.predict(_batch(legacy=True)), module.predict(_batch(legacy=False))
    assert (legacy[:2] - fixed[:2]).abs().max() > 1e-3  # the flag matters for these molecules
    predicted = predictor.predict_smiles(SMILES).mean
    assert torch.allclose(torch.as_tensor(predicted, dtype=torch.float32), legacy, atol=1e-5)

    convert("fairseq", tmp_path / "ck.pt", tmp_path / "fixed.ckpt", legacy_drop_node0=False)
    assert Predictor.from_checkpoints([tmp_path / "fixed.ckpt"]).collater.legacy_drop_node0 is False


# ------------------------------------------------------------------------------------ conventions
def test_spatial_pos_max_conventions():
    # HF compares SPD + 1: its collator default 20 masks SPD >= 19, and 511 masks only unreachable (510).
    assert max_spatial_distance_from(20, shifted=True) == 19
    assert max_spatial_distance_from(511, shifted=True) == 510
    assert max_spatial_distance_from(512, shifted=True) is None
    assert max_spatial_distance_from(1, shifted=True) == 0
    # The official collator compares SPD itself; its task default 1024 masks nothing.
    assert max_spatial_distance_from(20, shifted=False) == 20
    assert max_spatial_distance_from(510, shifted=False) == 510
    assert max_spatial_distance_from(1024, shifted=False) is None
    with pytest.raises(ConvertError):
        max_spatial_distance_from(0, shifted=True)


def test_hf_atom_rows_move_up_by_one():
    table = torch.arange(10.0)[:, None].repeat(1, 2)
    shifted = shift_rows(table, 1)
    assert shifted[:, 0].tolist() == [0, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_cli_convert_fairseq(tmp_path):
    original = _random_module(True, True, seed=4)
    _save_hydra_style(tmp_path / "ck.pt", _official_state(original, True), True, True)
    proc = subprocess.run(
        [sys.executable, "-m", "graphormer", "convert", "source=fairseq", f"path={tmp_path / 'ck.pt'}",
         f"output={tmp_path / 'out.ckpt'}", "target_names=[homo_lumo_gap]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "legacy_drop_node0: True" in proc.stdout and "pre-LN" in proc.stdout
    module = load_model(tmp_path / "out.ckpt")
    assert list(module.target_names) == ["homo_lumo_gap"]
