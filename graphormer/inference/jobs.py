"""The after-training CLI jobs predict and embed as plain functions of a composed config (evaluate, which runs
the training metrics through Lightning, is `graphormer.train.evaluate`)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, ListConfig

from graphormer.files import atomic_write
from graphormer.inference.predictor import Predictor, predict_file
from graphormer.inference.readers import InputReader


def checkpoint_list(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple, ListConfig)) else [str(value)]


def predict(cfg: DictConfig) -> dict:
    predictor = Predictor.from_checkpoints(checkpoint_list(cfg.ckpt_path), max_tokens=cfg.max_tokens,
                                           device=cfg.device)
    stats = predict_file(predictor, cfg.input, cfg.output, smiles_column=cfg.smiles_column,
                         chunk_size=cfg.chunk_size, progress=cfg.progress)
    print(f"predicted {stats['rows'] - stats['failed']} of {stats['rows']} rows in {stats['seconds']:.1f} s "
          f"({stats['rate']:.0f} molecules/s); {stats['failed']} rows without prediction (see the error column); "
          f"output={stats['output']}")
    return stats


def embed(cfg: DictConfig) -> Path:
    predictor = Predictor.from_checkpoints(checkpoint_list(cfg.ckpt_path)[:1], max_tokens=cfg.max_tokens,
                                           device=cfg.device)
    reader = InputReader(cfg.input, cfg.smiles_column)
    records = iter(reader)
    blocks, errors = [], []
    while chunk := list(islice(records, 4096)):
        graphs, where, errs = predictor.featurize_records(chunk)
        block = np.full((len(chunk), predictor.models[0].embed_dim), np.nan, dtype=np.float32)
        if graphs:
            block[where] = predictor.embed_graphs(graphs)
        blocks.append(block)
        errors += errs
    width = predictor.models[0].embed_dim
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, width), np.float32)
    out = Path(cfg.output)
    with atomic_write(out) as handle:
        if out.suffix == ".npy":
            np.save(handle, matrix)
        else:
            header = "row,error," + ",".join(f"e{i}" for i in range(width)) + "\n"
            handle.write(header.encode())
            for i, (vec, err) in enumerate(zip(matrix, errors), start=1):
                values = ",".join("" if np.isnan(v) else f"{v:.6g}" for v in vec)
                handle.write(f"{i},\"{(err or '').replace(chr(34), chr(39))}\",{values}\n".encode())
    print(f"embedded {len(matrix) - sum(e is not None for e in errors)} of {len(matrix)} molecules "
          f"(width {width}) → {out}")
    return out
