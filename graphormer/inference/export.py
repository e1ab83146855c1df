"""`graphormer export`: an inference artifact (ONNX or torch.export) with dynamic batch and atom dimensions.

The artifact maps the padded batch tensors (docs/architecture.md: x, node_mask, degree, spd, path) to
predictions in original units (target scaling baked in; sigmoid/softmax applied for classifiers), so a
service needs only our featurizer + collate (or its own equivalent) in front of it. Metadata needed to use it
(target names, task, scaling, feature-vocabulary version, max_hops, input spec) is stored inside the
artifact and in a `<output>.json` sidecar.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from graphormer import __version__
from graphormer.chem import FEATURIZER_VERSION
from graphormer.train.module import MODEL_INPUTS

FORMATS = ("onnx", "torch_export")


class ExportedPredictor(nn.Module):
    """Model + target scaling + output activation in one graph, on the export-friendly `sdpa` backend."""

    def __init__(self, module):
        super().__init__()
        self.model = module.model
        self.model.attention = "sdpa"
        self.model.pack_tokens = False  # packing has a data-dependent token count: keep the padded grid
        self.task = module.task
        self.register_buffer("target_mean", module.target_mean.clone())
        self.register_buffer("target_std", module.target_std.clone())

    def forward(self, x, node_mask, degree, spd, path):
        out = self.model(x, node_mask, degree, spd, path)
        if self.task == "regression":
            return out * self.target_std + self.target_mean
        if self.task == "classification":
            return torch.sigmoid(out)
        return torch.softmax(out, dim=-1)


def example_inputs(max_hops: int, smiles: tuple[str, ...] = ("CCO", "c1ccccc1C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(O)=O")):
    """A real batch to trace with (its sizes are not baked in: both dimensions are dynamic)."""
    from graphormer.chem import smiles_to_graph
    from graphormer.data.collate import Collater

    batch = Collater(max_hops=max_hops)([(smiles_to_graph(s), None) for s in smiles])
    return tuple(batch[k] for k in MODEL_INPUTS)


def metadata(module) -> dict:
    hp = module.hparams
    return {
        "format_version": 1,
        "package_version": __version__,
        "featurizer_version": FEATURIZER_VERSION,
        "task": hp.task,
        "target_names": list(hp.target_names),
        "target_mean": module.target_mean.tolist(),
        "target_std": module.target_std.tolist(),
        "outputs": "original units" if hp.task == "regression" else "probabilities",
        "max_hops": hp.model["max_hops"],
        "legacy_drop_node0": bool(hp.get("legacy_drop_node0", False)),
        "inputs": {"x": "int64 [batch, nodes, 9] OGB atom features", "node_mask": "bool [batch, nodes]",
                   "degree": "int64 [batch, nodes]", "spd": "int64 [batch, nodes, nodes] (-1 padding, 510 unreachable)",
                   "path": "int64 [batch, nodes, nodes, max_hops] path bond codes"},
    }


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _dynamic_shapes():
    batch, nodes = torch.export.Dim("batch", min=1), torch.export.Dim("nodes", min=2, max=4096)
    return {"x": {0: batch, 1: nodes}, "node_mask": {0: batch, 1: nodes}, "degree": {0: batch, 1: nodes},
            "spd": {0: batch, 1: nodes, 2: nodes}, "path": {0: batch, 1: nodes, 2: nodes}}


def export_module(module, output: str | Path, fmt: str = "onnx") -> dict:
    """Export `module` (a GraphormerModule) to `output`; returns the metadata written beside it."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    output = Path(output)
    wrapper = ExportedPredictor(module).eval().requires_grad_(False)
    inputs = example_inputs(module.hparams.model["max_hops"])
    meta = metadata(module)
    tmp = _atomic_target(output)
    try:
        with torch.no_grad():
            program = torch.export.export(wrapper, inputs, dynamic_shapes=_dynamic_shapes(), strict=False)
        if fmt == "torch_export":
            torch.export.save(program, tmp, extra_files={"graphormer.json": json.dumps(meta)})
        else:
            onnx_program = torch.onnx.export(program, inputs, input_names=list(MODEL_INPUTS),
                                             output_names=["prediction"], dynamo=True, verbose=False)
            onnx_program.model.metadata_props.update({"graphormer": json.dumps(meta)})
            onnx_program.save(str(tmp))
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sidecar = output.with_name(output.name + ".json")
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return meta
