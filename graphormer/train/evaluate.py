"""`graphormer evaluate`: a checkpoint's metrics on a labelled dataset (the training metrics, through Lightning)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from omegaconf import DictConfig, ListConfig, OmegaConf

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.model.molecule import MoleculeModel
from graphormer.train.module import GraphormerModule


def evaluate(cfg: DictConfig, run_dir: Path | None) -> dict[str, float]:
    """`run_dir` (evaluate's output_dir=) receives skipped_rows.csv and split.csv; None writes nothing."""
    path = cfg.ckpt_path[0] if isinstance(cfg.ckpt_path, (list, tuple, ListConfig)) else cfg.ckpt_path
    model = MoleculeModel.load(str(path))
    datamodule = MoleculeDataModule(**OmegaConf.to_container(cfg.data, resolve=True), max_hops=model.max_hops,
                                    seed=cfg.seed, run_dir=str(run_dir) if run_dir is not None else None,
                                    legacy_drop_node0=model.legacy_drop_node0,
                                    descriptor_scaler=model.descriptors, expect_targets=model.target_names)
    datamodule.setup("test")  # a target mismatch is reported before any featurization
    print(datamodule.summary)
    splits = ["train", "val", "test"] if cfg.split == "all" else [cfg.split]
    trainer = L.Trainer(accelerator=cfg.device, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    loaders = [datamodule._loader(s, shuffle=False) for s in splits]
    results = trainer.test(GraphormerModule.wrapping(model).eval(), dataloaders=loaders, verbose=False)[0]
    metrics = {k.split("/", 1)[1].split("/")[0]: float(v) for k, v in results.items()
               if k.startswith("test/") and not k.startswith("test/loss")}
    n = sum(len(datamodule.datasets[s]) for s in splits)
    print(" ".join(f"{k}={v:.4f}" for k, v in metrics.items()) + f" molecules={n} split={cfg.split}")
    return metrics
