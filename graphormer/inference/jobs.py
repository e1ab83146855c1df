"""The after-training CLI jobs predict and embed as plain functions of a composed config (evaluate, which runs
the training metrics through Lightning, is `graphormer.train.evaluate`)."""

from __future__ import annotations

import csv
from itertools import islice
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, ListConfig

from graphormer.errors import DataError
from graphormer.files import atomic_write
from graphormer.inference.predictor import Predictor, predict_file
from graphormer.inference.readers import InputReader
from graphormer.pretrained import pretrained_path


def checkpoint_list(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple, ListConfig)) else [str(value)]


def model_paths(cfg: DictConfig) -> list[str]:
    """ckpt_path=<file or [files]> or pretrained=<name> (weights shipped in the package); exactly one."""
    if bool(cfg.get("pretrained")) == bool(cfg.get("ckpt_path")):
        raise DataError("give exactly one of ckpt_path=<checkpoint> or pretrained=slim")
    if cfg.get("pretrained"):
        return [str(pretrained_path(cfg.pretrained))]
    return checkpoint_list(cfg.ckpt_path)


def predict(cfg: DictConfig) -> dict:
    predictor = Predictor.from_checkpoints(model_paths(cfg), max_tokens=cfg.max_tokens,
                                           device=cfg.device)
    stats = predict_file(predictor, cfg.input, cfg.output, smiles_column=cfg.smiles_column,
                         chunk_size=cfg.chunk_size, progress=cfg.progress)
    print(f"predicted {stats['rows'] - stats['failed']} of {stats['rows']} rows in {stats['seconds']:.1f} s "
          f"({stats['rate']:.0f} molecules/s); {stats['failed']} rows without prediction (see the error column); "
          f"output={stats['output']}")
    return stats


def explain(cfg: DictConfig) -> dict:
    from graphormer.inference.explain_files import explain_file

    predictor = Predictor.from_checkpoints(model_paths(cfg), device=cfg.device)
    stats = explain_file(predictor, cfg.input, cfg.output, smiles_column=cfg.smiles_column,
                         label_column=cfg.label_column, steps=cfg.steps, chunk_size=cfg.chunk_size,
                         progress=cfg.progress, targets=cfg.targets)
    print(f"explained {stats['explained']} of {stats['rows']} rows in {stats['seconds']:.1f} s "
          f"({stats['per_molecule']:.3f} s per molecule, {cfg.steps} integration steps); completeness gap "
          f"median {stats['gap_median']:.2g}, max {stats['gap_max']:.2g}; {stats['failed']} rows not explained "
          f"(see the error column of molecules.csv); open {Path(stats['output']) / 'index.html'}")
    return stats


def embed(cfg: DictConfig) -> Path:
    predictor = Predictor.from_checkpoints(model_paths(cfg)[:1], max_tokens=cfg.max_tokens,
                                           device=cfg.device)
    reader = InputReader(cfg.input, cfg.smiles_column)
    records = iter(reader)
    blocks, errors, cells = [], [], []
    while chunk := list(islice(records, 4096)):
        graphs, where, errs = predictor.featurize_records(chunk)
        block = np.full((len(chunk), predictor.models[0].embed_dim), np.nan, dtype=np.float32)
        if graphs:
            block[where] = predictor.embed_graphs(graphs)
        blocks.append(block)
        errors += errs
        if Path(cfg.output).suffix != ".npy":
            cells += [list(record.cells) for record in chunk]
    width = predictor.models[0].embed_dim
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, width), np.float32)
    out = Path(cfg.output)
    if out.suffix == ".npy":
        with atomic_write(out) as handle:
            np.save(handle, matrix)
    else:  # the input's own columns (identifiers, SMILES) beside each embedding
        with atomic_write(out, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["row", *reader.columns, "error", *(f"e{i}" for i in range(width))])
            for i, (vec, err, row) in enumerate(zip(matrix, errors, cells), start=1):
                writer.writerow([i, *row, err or "", *("" if np.isnan(v) else f"{v:.6g}" for v in vec)])
    print(f"embedded {len(matrix) - sum(e is not None for e in errors)} of {len(matrix)} molecules "
          f"(width {width}) → {out}")
    return out
