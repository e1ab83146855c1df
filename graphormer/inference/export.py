"""`graphormer export`: an inference artifact (ONNX or torch.export) with dynamic batch and atom dimensions.

The artifact is the MoleculeModel itself: it maps the padded batch tensors (docs/architecture.md: x,
node_mask, degree, spd, path) to predictions in original units (target scaling baked in; sigmoid/softmax
applied for classifiers), so a
service needs only our featurizer + collate (or its own equivalent) in front of it. Metadata needed to use it
(target names, task, scaling, feature-vocabulary version, max_hops, input spec) is stored inside the
artifact and in a `<output>.json` sidecar.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from graphormer import __version__
from graphormer.chem import FEATURIZER_VERSION
from graphormer.files import atomic_path, atomic_write
from graphormer.errors import CheckpointError
from graphormer.model.molecule import MODEL_INPUTS, MoleculeModel, model_inputs

FORMATS = ("onnx", "torch_export")


def exportable(model: MoleculeModel) -> MoleculeModel:
    """A copy of `model` (eval, no gradients) on the export-friendly `sdpa` backend and the padded grid
    (token packing has a data-dependent token count, which cannot be traced)."""
    model = copy.deepcopy(model).eval().requires_grad_(False)
    model.model.attention = "sdpa"
    model.model.pack_tokens = False
    return model


def example_inputs(max_hops: int, smiles: tuple[str, ...] = ("CCO", "c1ccccc1C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(O)=O")):
    """A real batch to trace with (its sizes are not baked in: both dimensions are dynamic)."""
    from graphormer.chem import smiles_to_graph
    from graphormer.data.collate import Collater

    batch = Collater(max_hops=max_hops, layout=False)([(smiles_to_graph(s), None) for s in smiles])
    return model_inputs(batch)  # the collater's dtypes (spd int16, path uint8) are the artifact's


def metadata(model: MoleculeModel) -> dict:
    return {
        "format_version": 1,
        "package_version": __version__,
        "featurizer_version": FEATURIZER_VERSION,
        "task": model.task,
        "target_names": list(model.target_names),
        "target_mean": model.target_mean.tolist(),
        "target_std": model.target_std.tolist(),
        "outputs": "original units" if model.task == "regression" else "probabilities",
        "max_hops": model.max_hops,
        "legacy_drop_node0": model.legacy_drop_node0,
        "inputs": {"x": "int64 [batch, nodes, 9] OGB atom features", "node_mask": "bool [batch, nodes]",
                   "degree": "int64 [batch, nodes]", "spd": "int16 [batch, nodes, nodes] (-1 padding, 510 unreachable)",
                   "path": "uint8 [batch, nodes, nodes, max_hops] path bond codes"},
    }


def _dynamic_shapes():
    batch, nodes = torch.export.Dim("batch", min=1), torch.export.Dim("nodes", min=2, max=4096)
    return {"x": {0: batch, 1: nodes}, "node_mask": {0: batch, 1: nodes}, "degree": {0: batch, 1: nodes},
            "spd": {0: batch, 1: nodes, 2: nodes}, "path": {0: batch, 1: nodes, 2: nodes}}


def export_module(model: MoleculeModel, output: str | Path, fmt: str = "onnx") -> dict:
    """Export `model` to `output`; returns the metadata written beside it."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if model.descriptors is not None:
        raise CheckpointError("export: this model reads RDKit descriptors at its head (model.extra_features=rdkit2d), "
                              "which an exported graph cannot compute; predict with the checkpoint, or export a "
                              "model trained without extra_features")
    output = Path(output)
    program_model = exportable(model)
    inputs = example_inputs(model.max_hops)
    meta = metadata(model)
    with atomic_path(output) as tmp:
        with torch.no_grad():
            program = torch.export.export(program_model, inputs, dynamic_shapes=_dynamic_shapes(), strict=False)
        if fmt == "torch_export":
            torch.export.save(program, tmp, extra_files={"graphormer.json": json.dumps(meta)})
        else:
            onnx_program = torch.onnx.export(program, inputs, input_names=list(MODEL_INPUTS),
                                             output_names=["prediction"], dynamo=True, verbose=False)
            onnx_program.model.metadata_props.update({"graphormer": json.dumps(meta)})
            onnx_program.save(str(tmp))
    with atomic_write(output.with_name(output.name + ".json"), "w") as sidecar:
        sidecar.write(json.dumps(meta, indent=2) + "\n")
    return meta
