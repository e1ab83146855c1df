"""Prediction from checkpoints: a small Python API and the streaming `graphormer predict` job.

    from graphormer.inference import Predictor
    predictor = Predictor.from_checkpoints(["run/checkpoints/best.ckpt"])
    result = predictor.predict_smiles(["CCO", "c1ccccc1O", "not a smiles"])
    result.mean      # [3, targets], NaN where the molecule could not be used
    result.errors    # [None, None, "unparsable SMILES: ..."]
"""

from __future__ import annotations

import csv
import ctypes
import sys
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphormer.chem import MolGraph, MoleculeError, smiles_to_graph
from graphormer.data.collate import Collater
from graphormer.data.pyg import pyg_to_graphs
from graphormer.data.sampler import cut_by_tokens
from graphormer.errors import CheckpointError
from graphormer.files import atomic_write
from graphormer.graph import MAX_ATOMS
from graphormer.inference.readers import InputReader, Record
from graphormer.model.molecule import MoleculeModel, model_inputs


@dataclass
class Predictions:
    mean: np.ndarray  # [n, outputs]; probabilities for classification; NaN for unusable molecules
    std: np.ndarray | None  # [n, outputs] across an ensemble (None for one model)
    errors: list[str | None]



def graph_of(smiles: str) -> MolGraph:
    """Featurize one input molecule; MoleculeError says why it cannot be used."""
    graph = smiles_to_graph(smiles)
    if graph.num_nodes > MAX_ATOMS:
        raise MoleculeError(smiles, f"too large: {graph.num_nodes} heavy atoms (the model encodes at most {MAX_ATOMS})")
    return graph


class Predictor:
    """One model or an ensemble of models (MoleculeModels) with the same task and targets."""

    def __init__(self, models: Sequence[MoleculeModel], max_tokens: int = 8192, device: str = "cpu"):
        first = models[0]
        for model in models[1:]:
            if model.task != first.task or model.target_names != first.target_names:
                raise CheckpointError("ensemble members must share task and target names")
        self.models = [m.to(device).eval() for m in models]
        self.task = first.task
        self.target_names = list(first.target_names)
        self.num_classes = first.num_classes
        self.device = device
        self.max_tokens = max_tokens
        self.collater = Collater(max_hops=first.max_hops, legacy_drop_node0=first.legacy_drop_node0)

    @classmethod
    def from_checkpoints(cls, paths: Sequence[str | Path], **kwargs) -> "Predictor":
        return cls([MoleculeModel.load(p) for p in paths], **kwargs)

    @classmethod
    def from_pretrained(cls, name: str = "slim", **kwargs) -> "Predictor":
        """The weights shipped in the package (docs/pretrained.md), checksum verified: its outputs are the
        scaled RDKit descriptors it was pretrained on, its `embed_graphs` descriptor-aware fingerprints."""
        from graphormer.pretrained import pretrained_path

        return cls.from_checkpoints([pretrained_path(name)], **kwargs)

    @property
    def output_names(self) -> list[str]:
        return self.models[0].output_names

    def _batches(self, graphs: list[MolGraph]) -> Iterable[np.ndarray]:
        """Index batches of similar size within a token budget (less padding, bounded memory)."""
        sizes = np.array([g.num_nodes for g in graphs])
        return cut_by_tokens(np.argsort(sizes, kind="stable"), sizes, self.max_tokens)

    @torch.inference_mode()
    def _run(self, graphs: list[MolGraph], fn, width: int, models: Sequence[MoleculeModel],
             smiles: Sequence[str] | None = None, descriptors: bool = True) -> np.ndarray:
        """fn(model, batch) for every model over size-sorted batches → [models, graphs, width]. Models that
        read RDKit descriptors (model.extra_features) get them computed from `smiles`, one per graph."""
        extras = [None] * len(models)
        if descriptors and any(m.descriptors is not None for m in models):
            if smiles is None or len(smiles) != len(graphs):
                raise ValueError("this model reads RDKit descriptors: give the SMILES of the graphs")
            extras = [m.descriptor_features(smiles) for m in models]
        out = np.zeros((len(models), len(graphs), width), dtype=np.float64)
        for idx in self._batches(graphs):
            trim_heap()  # the last batch's tensors are freed: keep the resident size to one batch's
            batch = self.collater([(graphs[i], None) for i in idx])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            for m, model in enumerate(models):
                inputs = batch if extras[m] is None else {**batch, "extra": torch.from_numpy(extras[m][idx]).to(self.device)}
                out[m, idx] = fn(model, inputs).float().cpu().numpy()
        return out

    def predict_graphs(self, graphs: list[MolGraph], smiles: Sequence[str] | None = None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
        """`smiles` (one per graph) is needed only by models that read RDKit descriptors."""
        per_model = self._run(graphs, MoleculeModel.predict, len(self.output_names), self.models, smiles)
        std = per_model.std(axis=0) if len(self.models) > 1 else None
        return per_model.mean(axis=0), std

    def predict_pyg(self, data, smiles: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (mean, std) for PyG graphs with OGB features: a `Batch`, a `Data` or a list of `Data`
        (see `graphormer.data.pyg`); `smiles` only for models that read RDKit descriptors."""
        return self.predict_graphs(pyg_to_graphs(data), smiles)

    def embed_graphs(self, graphs: list[MolGraph]) -> np.ndarray:
        """Graph-token embeddings of the first model, [graphs, width]."""
        model = self.models[0]
        encode = lambda m, b: m.encode(*model_inputs(b), layout=b.get("layout"))  # noqa: E731
        # the graph-token state: descriptor inputs (model.extra_features) only reach the head
        return self._run(graphs, encode, model.embed_dim, [model], descriptors=False)[0]

    def featurize_records(self, records: list[Record]) -> tuple[list[MolGraph], list[int], list[str | None]]:
        """Graphs of the usable records, their positions, and an error (or None) per record."""
        graphs, where, errors = [], [], [None] * len(records)
        for i, record in enumerate(records):
            if record.error is not None:
                errors[i] = record.error
                continue
            try:
                graphs.append(graph_of(record.smiles))
                where.append(i)
            except MoleculeError as err:
                errors[i] = err.reason
        return graphs, where, errors

    def predict_records(self, records: list[Record]) -> Predictions:
        graphs, where, errors = self.featurize_records(records)
        width = len(self.output_names)
        mean = np.full((len(records), width), np.nan)
        std = np.full((len(records), width), np.nan) if len(self.models) > 1 else None
        if graphs:
            smiles = None
            if any(m.descriptors is not None for m in self.models):
                smiles = [records[i].smiles for i in where]
            m, s = self.predict_graphs(graphs, smiles)
            mean[where] = m
            if std is not None:
                std[where] = s
        return Predictions(mean, std, errors)

    def predict_smiles(self, smiles: Sequence[str]) -> Predictions:
        return self.predict_records([Record(i + 1, [s], s) for i, s in enumerate(smiles)])

    def explain(self, smiles: str | Sequence[str], steps: int | None = None,
                targets: str | Sequence[str] | None = None):
        """Per-atom explanations (graphormer.inference.explain.Explanation): integrated-gradients attributions
        [atoms, outputs] and the graph token's attention [layers, atoms]. One for a SMILES string, a list for
        a list; MoleculeError for a SMILES that cannot be used. `targets`: the output names to explain
        (default all: one backward pass each). Draw one with
        `graphormer.inference.explain_draw.draw_explanation`."""
        from graphormer.inference.explain import DEFAULT_STEPS, explain_smiles

        return explain_smiles(self, smiles, steps or DEFAULT_STEPS, targets)


def _libc():
    try:
        return ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
    except OSError:  # not glibc
        return None


_LIBC = _libc()


def trim_heap() -> None:
    """Hand freed memory back to the OS (about 1 ms). glibc keeps it otherwise, and with batches of ever
    different shapes the resident size creeps up (measured: +50% over 40k rows) and its peak with it."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def format_value(value: float | None) -> str:
    """A number as the output CSVs write it; empty for a missing one."""
    return "" if value is None or np.isnan(value) else f"{value:.6g}"


def prediction_header(columns: Sequence[str], names: Sequence[str], ensemble: bool) -> list[str]:
    """The input's columns, then pred_<target> (and std_<target> for an ensemble)."""
    return [*columns, *(f"pred_{n}" for n in names), *((f"std_{n}" for n in names) if ensemble else ())]


def predict_file(predictor: Predictor, input_path: str | Path, output_path: str | Path,
                 smiles_column: str | int | None = None, chunk_size: int = 4096, progress: bool = True) -> dict:
    """Stream `input_path` through the model into `output_path` (written atomically), in input order.

    Output: the input's columns, then pred_<target> (and std_<target> for an ensemble), then `error`.
    """
    reader = InputReader(input_path, smiles_column)
    output_path = Path(output_path)
    names = predictor.output_names
    ensemble = len(predictor.models) > 1
    started = time.perf_counter()
    total = failed = 0
    records = iter(reader)
    with atomic_write(output_path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(prediction_header(reader.columns, names, ensemble) + ["error"])
        bar = tqdm(desc="predicting", unit="mol", disable=not progress)
        while chunk := list(islice(records, chunk_size)):
            result = predictor.predict_records(chunk)
            for i, record in enumerate(chunk):
                row = list(record.cells) + [format_value(v) for v in result.mean[i]]
                if ensemble:
                    row += [format_value(v) for v in result.std[i]]
                writer.writerow(row + [result.errors[i] or ""])
            total += len(chunk)
            failed += sum(e is not None for e in result.errors)
            bar.update(len(chunk))
            del result
        bar.close()
    seconds = time.perf_counter() - started
    return {"rows": total, "failed": failed, "seconds": seconds, "rate": total / seconds if seconds else 0.0,
            "output": str(output_path)}
