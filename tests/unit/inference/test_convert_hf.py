"""`graphormer convert source=hf` against the real HuggingFace port (transformers 4.57, the `reference` extra).

A small random `GraphormerForGraphClassification` is saved with `save_pretrained`, converted, reloaded with
`load_model`, and must reproduce HF's logits to 1e-5 on real molecules. Each side featurizes with its own
pipeline: ours (smiles_to_graph -> Collater) and HF's (preprocess_item -> GraphormerDataCollator).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from graphormer.chem import smiles_to_graph
from graphormer.data.collate import Collater
from graphormer.inference import load_model
from graphormer.inference.convert import ConvertError, build_module, convert, read_hf
from graphormer.model.molecule import model_inputs
from tests.conftest import import_hf_reference, nci_rows


hf_modeling, hf_collating = import_hf_reference()  # skips locally, fails under CI=true when absent

TOL = 1e-5
BATCH = 8


# ------------------------------------------------------------------------------------------ fixtures
def _molecules() -> list[str]:
    """61 NCI molecules, the first two NCI salts (disconnected) and a one-atom molecule: 64 in all."""
    rows = nci_rows()
    salts = [s for s, _ in rows if "." in s][:2]
    return [s for s, _ in rows[:61]] + salts + ["O"]


def _hf_item(graph) -> dict:
    item = dict(edge_index=graph.edge_index.astype(np.int64), edge_attr=graph.edge_attr.astype(np.int64),
                node_feat=graph.x.astype(np.int64), num_nodes=int(graph.x.shape[0]), labels=[0.0])
    return hf_collating.preprocess_item(item)


def _batches(graphs: list) -> list[list[int]]:
    """Index batches: connected molecules 8 at a time; each disconnected one with one partner only (HF's
    path tensor is 510 hops deep for those). The largest molecule goes first: HF's collator crashes when
    the first item has a single atom (spec §12.1)."""
    disconnected = [i for i, g in enumerate(graphs) if _is_disconnected(g)]
    rest = [i for i in range(len(graphs)) if i not in disconnected]
    batches = [rest[k:k + BATCH] for k in range(0, len(rest), BATCH)]
    partners = iter(rest)
    batches += [[i, next(partners)] for i in disconnected]
    return [sorted(b, key=lambda i: -graphs[i].x.shape[0]) for b in batches]


def _is_disconnected(graph) -> bool:
    n = graph.x.shape[0]
    seen, todo = {0}, [0]
    src, dst = graph.edge_index
    while todo:
        node = todo.pop()
        for nxt in dst[src == node]:
            if int(nxt) not in seen:
                seen.add(int(nxt))
                todo.append(int(nxt))
    return len(seen) < n


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: intra-op threads only add contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def molecules():
    """(graphs, HF-preprocessed items, index batches), computed once."""
    graphs = [smiles_to_graph(s) for s in _molecules()]
    assert sum(_is_disconnected(g) for g in graphs) == 2 and min(g.x.shape[0] for g in graphs) == 1
    return graphs, [_hf_item(g) for g in graphs], _batches(graphs)


def _random_hf_model(seed: int, **config):
    """A random HF model; every parameter is perturbed so that any mix-up shows, and padding rows are
    then zeroed again, which is what HF's own init (both modes) leaves and training keeps."""
    torch.manual_seed(seed)
    base = dict(num_hidden_layers=2, embedding_dim=32, ffn_embedding_dim=32, num_attention_heads=4)
    cfg = hf_modeling.GraphormerConfig(**{**base, **config})
    model = hf_modeling.GraphormerForGraphClassification(cfg).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding) and module.padding_idx is not None:
                module.weight[module.padding_idx].zero_()
    return model


def _max_diff(module, hf_model, molecules, spatial_pos_max: int) -> float:
    graphs, items, batches = molecules
    collate = Collater(max_hops=module.arch["max_hops"])
    hf_collate = hf_collating.GraphormerDataCollator(spatial_pos_max=spatial_pos_max)
    worst = 0.0
    with torch.no_grad():
        for idx in batches:
            ours = module.raw(*model_inputs(collate([(graphs[i], None) for i in idx])))  # logits
            hf_batch = hf_collate([copy.deepcopy(items[i]) for i in idx])  # the collator mutates its input
            hf_batch.pop("labels")
            theirs = hf_model(**hf_batch).logits
            worst = max(worst, (ours - theirs).abs().max().item())
    return worst


# ------------------------------------------------------------------------------------------ parity
CASES = {
    "postLN-regression-spm20": dict(config=dict(num_classes=1, encoder_normalize_before=True),
                                    task=None, spatial_pos_max=None),
    "preLN-classification-spm6": dict(config=dict(num_classes=3, pre_layernorm=True, apply_graphormer_init=True),
                                      task="classification", spatial_pos_max=6),
    "postLN-multiclass-3layers-spm1024": dict(
        config=dict(num_classes=3, num_hidden_layers=3, apply_graphormer_init=True, encoder_normalize_before=True),
        task="multiclass", spatial_pos_max=1024),
    "preLN-regression-embedscale-qnoise-hops3": dict(
        config=dict(num_classes=1, pre_layernorm=True, encoder_normalize_before=True, embed_scale=1.7,
                    q_noise=0.1, multi_hop_max_dist=3), task=None, spatial_pos_max=511),
}


@pytest.mark.parametrize("name", list(CASES))
def test_converted_model_reproduces_hf(name, molecules, tmp_path):
    case = CASES[name]
    hf_model = _random_hf_model(len(name), **case["config"])
    hf_model.save_pretrained(tmp_path / "hf")
    output = tmp_path / "converted.ckpt"
    convert("hf", tmp_path / "hf", output, task=case["task"], spatial_pos_max=case["spatial_pos_max"])
    module = load_model(output)

    hp = module
    num_classes = case["config"]["num_classes"]
    assert hp.task == (case["task"] or "regression")
    assert hp.legacy_drop_node0 is False
    assert hp.arch["pre_layernorm"] == case["config"].get("pre_layernorm", False)
    assert hp.arch["max_hops"] == case["config"].get("multi_hop_max_dist", 5)
    assert module.model.embed_out.weight.shape[0] == num_classes
    spm = case["spatial_pos_max"] or 20
    assert hp.arch["max_spatial_distance"] == (None if spm > 511 else spm - 1)

    diff = _max_diff(module, hf_model, molecules, spm)
    assert diff < TOL, f"{name}: max |ours - HF| = {diff:.3g} over {len(molecules[0])} molecules"


def test_the_checks_are_sensitive_to_each_convention(molecules, tmp_path):
    """Reading HF atom rows unshifted, or taking HF's spatial_pos_max as an SPD threshold, must fail."""
    hf_model = _random_hf_model(7, num_classes=1)
    hf_model.save_pretrained(tmp_path / "hf")
    assert _max_diff(build_module(read_hf(tmp_path / "hf", 6)), hf_model, molecules, 6) < TOL

    unshifted = read_hf(tmp_path / "hf", 6)
    unshifted.atom_row_shift = 0
    assert _max_diff(build_module(unshifted), hf_model, molecules, 6) > 1e-2

    off_by_one = read_hf(tmp_path / "hf", 6)
    off_by_one.max_spatial_distance += 1
    assert _max_diff(build_module(off_by_one), hf_model, molecules, 6) > 1e-2


def test_hf_source_needs_task_when_ambiguous(tmp_path):
    _random_hf_model(1, num_classes=4).save_pretrained(tmp_path / "hf")
    with pytest.raises(ConvertError, match="task=classification .* or task=multiclass"):
        convert("hf", tmp_path / "hf")
    module = convert("hf", tmp_path / "hf", task="multiclass", target_names=["kind"])
    assert module.num_classes == 4 and list(module.target_names) == ["kind"]
    _random_hf_model(1, num_classes=4, problem_type="multi_label_classification").save_pretrained(tmp_path / "ml")
    assert convert("hf", tmp_path / "ml").task == "classification"  # config.problem_type decides


def test_hf_pytorch_bin_weights_load(tmp_path, molecules):
    hf_model = _random_hf_model(3, num_classes=2)
    hf_model.save_pretrained(tmp_path / "hf", safe_serialization=False)
    assert (tmp_path / "hf" / "pytorch_model.bin").is_file()
    module = convert("hf", tmp_path / "hf", task="classification", spatial_pos_max=20)
    assert _max_diff(module, hf_model, molecules, 20) < TOL


def test_hf_sharded_safetensors_without_attention_biases(tmp_path, molecules):
    hf_model = _random_hf_model(5, num_classes=1, bias=False)
    hf_model.save_pretrained(tmp_path / "hf", max_shard_size="100KB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    module = convert("hf", tmp_path / "hf")
    assert module.model.layers[0].self_attn.q_proj.bias.abs().max() == 0
    assert _max_diff(module, hf_model, molecules, 20) < TOL


def test_cli_convert_hf(tmp_path, molecules):
    """As a user types it, in a subprocess; the checkpoint then predicts like HF."""
    hf_model = _random_hf_model(11, num_classes=1, pre_layernorm=True)
    hf_model.save_pretrained(tmp_path / "hf")
    output = tmp_path / "out" / "model.ckpt"
    proc = subprocess.run(
        [sys.executable, "-m", "graphormer", "convert", "source=hf", f"path={tmp_path / 'hf'}", f"output={output}",
         "target_names=[tpsa]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "WANDB_MODE": "disabled"})
    assert proc.returncode == 0, proc.stderr
    assert "max_spatial_distance: 19" in proc.stdout and "pre-LN" in proc.stdout
    module = load_model(output)
    assert list(module.target_names) == ["tpsa"]
    assert _max_diff(module, hf_model, molecules, 20) < TOL
