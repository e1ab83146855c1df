"""The after-training CLI jobs (predict, evaluate, embed) as plain functions of a composed config."""

from __future__ import annotations

import csv
import os
import tempfile
from itertools import islice
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, ListConfig

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
    blocks, errors, cells = [], [], []
    while chunk := list(islice(records, 4096)):
        graphs, where, errs = predictor.featurize_records(chunk)
        block = np.full((len(chunk), predictor.modules[0].model.hparams["embed_dim"]), np.nan, dtype=np.float32)
        if graphs:
            block[where] = predictor.embed_graphs(graphs)
        blocks.append(block)
        errors += errs
        if Path(cfg.output).suffix != ".npy":
            cells += [list(record.cells) for record in chunk]
    width = predictor.modules[0].model.hparams["embed_dim"]
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, width), np.float32)
    out = Path(cfg.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    with os.fdopen(fd, "w" if out.suffix != ".npy" else "wb", **({"newline": ""} if out.suffix != ".npy" else {})) \
            as handle:
        if out.suffix == ".npy":
            np.save(handle, matrix)
        else:  # the input's own columns (identifiers, SMILES) beside each embedding
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["row", *reader.columns, "error", *(f"e{i}" for i in range(width))])
            for i, (vec, err, row) in enumerate(zip(matrix, errors, cells), start=1):
                writer.writerow([i, *row, err or "", *("" if np.isnan(v) else f"{v:.6g}" for v in vec)])
    os.replace(tmp, out)
    print(f"embedded {len(matrix) - sum(e is not None for e in errors)} of {len(matrix)} molecules "
          f"(width {width}) → {out}")
    return out


def evaluate(cfg: DictConfig, run_dir: Path | None) -> dict[str, float]:
    import lightning as L
    from omegaconf import OmegaConf

    from graphormer.data.datamodule import MoleculeDataModule
    from graphormer.inference.checkpoint import load_module

    module = load_module(checkpoint_list(cfg.ckpt_path)[0])
    datamodule = MoleculeDataModule(**OmegaConf.to_container(cfg.data, resolve=True),
                                    max_hops=module.hparams.model["max_hops"], seed=cfg.seed,
                                    run_dir=str(run_dir) if run_dir is not None else None,
                                    legacy_drop_node0=module.hparams.get("legacy_drop_node0", False))
    datamodule.setup("test")
    print(datamodule.summary)
    if list(datamodule.target_names) != list(module.hparams.target_names):
        from graphormer.data.table import DataError

        raise DataError(f"the checkpoint predicts {list(module.hparams.target_names)} but the data has "
                        f"targets {list(datamodule.target_names)}")
    splits = ["train", "val", "test"] if cfg.split == "all" else [cfg.split]
    trainer = L.Trainer(accelerator=cfg.device, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    loaders = [datamodule._loader(s, shuffle=False) for s in splits]
    results = trainer.test(module, dataloaders=loaders, verbose=False)[0]
    metrics = {k.split("/", 1)[1].split("/")[0]: float(v) for k, v in results.items()
               if k.startswith("test/") and not k.startswith("test/loss")}
    n = sum(len(datamodule.datasets[s]) for s in splits)
    print(" ".join(f"{k}={v:.4f}" for k, v in metrics.items()) + f" molecules={n} split={cfg.split}")
    return metrics
