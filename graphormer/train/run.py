"""`graphormer train`: a plain function from a composed config to fitted checkpoints and test metrics."""

from __future__ import annotations

import inspect
import logging
import os
import shlex
import time
from importlib import resources
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.data.table import DataError
from graphormer.model.presets import count_parameters
from graphormer.chem.descriptors import DescriptorScaler, shipped_scaler
from graphormer.configs.checks import ConfigError, check_config
from graphormer.configs.overrides import CONFIG_MODULE, check_trainer_keys, config_groups
from graphormer.train.metrics import TaskMetrics
from graphormer.train.module import GraphormerModule
from graphormer.train.report import rows_and_skipped, write_plots, write_results
from graphormer.train.resume import ResumableDataModule, ResumeState, SafeCheckpointIO, SaveLast, StopOnInterrupt

log = logging.getLogger(__name__)

MONITOR = {"regression": ("mae", "min"), "classification": ("rocauc", "max"), "multiclass": ("accuracy", "max")}


def _named_logger(spec: DictConfig) -> DictConfig:
    """A run folder from before `logger._target_` stored `logger: {name: csv, ...}`: what configs/logger/<name>.yaml
    selects now, with the stored settings."""
    name = spec.name or "none"
    if name not in config_groups()["logger"]:
        raise ConfigError(f"logger.name={name}: unknown (choices: {', '.join(config_groups()['logger'])})")
    chosen = OmegaConf.create(resources.files(CONFIG_MODULE).joinpath("logger", f"{name}.yaml").read_text())
    return OmegaConf.merge(chosen, {k: v for k, v in spec.items() if k != "name"})


def make_logger(cfg: DictConfig, run_dir: Path, resume: bool = False):
    """The Lightning logger `logger._target_` names (any Lightning logger class), writing into the run directory.

    Each gets `save_dir`; loggers that continue a run (`resume` argument) learn whether this one does; WandbLogger
    gets the composed config.
    """
    spec = cfg.get("logger")
    if spec is not None and "_target_" not in spec and "name" in spec:
        spec = _named_logger(spec)
    if spec is None or spec.get("_target_") is None:
        return False
    try:
        target = hydra.utils.get_class(spec._target_)
    except Exception as err:  # an unknown module or class name
        cause = err.__cause__ or err
        raise ConfigError(f"logger._target_={spec._target_}: cannot import it ({type(cause).__name__}: "
                          f"{str(cause).splitlines()[0]})") from None
    run_args: dict = {"save_dir": str(run_dir)}
    if "resume" in inspect.signature(target).parameters:
        run_args["resume"] = resume
    if issubclass(target, L.pytorch.loggers.WandbLogger):
        run_args["config"] = OmegaConf.to_container(cfg, resolve=True)
    return hydra.utils.instantiate(spec, _partial_=True)(**run_args)  # `config` is also instantiate's own name


def resolve_checkpoint(ckpt_path: str | None, resume: bool, run_dir: Path) -> str | None:
    """'last' → <run dir>/checkpoints/last.ckpt; resume=true picks it up automatically when present."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if ckpt_path == "last" or (ckpt_path is None and resume):
        if last.exists():
            return str(last)
        if ckpt_path == "last":
            raise DataError(f"ckpt_path=last: no checkpoint at {last} (to continue a run: "
                            f"graphormer train resume=<its run folder>)")
        return None
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise DataError(f"ckpt_path={ckpt_path}: file not found")
    return ckpt_path


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in `run_dir` (printed when it is interrupted)."""
    verb = os.environ.get("GRAPHORMER_VERB", "train")
    return f"graphormer {verb if verb in ('train', 'finetune') else 'train'} resume={shlex.quote(str(run_dir))}"


def baseline_metrics(task: str, target_mean: np.ndarray, y_test: np.ndarray, num_classes: int) -> dict[str, float]:
    """Metrics of a model that always predicts the training mean (a constant score for classification).
    Local arithmetic on the whole test set, with no collective call: under DDP every rank computes the same
    numbers on its own (a CPU all-gather on an NCCL process group would fail the run)."""
    metrics = TaskMetrics(task, y_test.shape[1], num_classes, sync=False)
    y = torch.from_numpy(y_test).float()
    if task == "multiclass":
        pred = torch.zeros(len(y), num_classes)
    else:
        pred = torch.from_numpy(np.broadcast_to(target_mean, y_test.shape).copy()).float()
    metrics.update(pred, y)
    return {k: float(v) for k, v in metrics.compute().items()}


EXTRA_FEATURES = ("rdkit2d",)


def extra_features(model_hparams: dict, inherited: dict | None = None) -> tuple[dict, dict | None]:
    """`model.extra_features`: null / 0 (none) or `rdkit2d` (the scaled RDKit descriptors of
    graphormer.chem.descriptors at the head) → (Graphormer arguments, the descriptor scaling to store).
    `inherited`: the scaling of the checkpoint a fine-tuning run starts from, kept when it has one."""
    spec = model_hparams.get("extra_features") or 0
    if spec in ("none", "null"):
        spec = 0
    if spec == "rdkit2d" or (isinstance(spec, int) and spec > 0 and inherited):
        scaling = inherited or shipped_scaler().to_dict()
        return {**model_hparams, "extra_features": len(scaling["names"])}, scaling
    if spec:
        raise ConfigError(f"model.extra_features={spec!r}: choose null or one of {', '.join(EXTRA_FEATURES)}")
    return {**model_hparams, "extra_features": 0}, None


def build_module(cfg: DictConfig, datamodule: MoleculeDataModule, model_hparams: dict | None = None,
                 legacy_drop_node0: bool = False, target_stats=None,
                 descriptors: dict | None = None) -> GraphormerModule:
    """`target_stats` (mean, std) overrides the training labels' own scaling (a fine-tuned head kept as is);
    `descriptors`: the descriptor scaling of model.extra_features (see `extra_features`)."""
    mean, std = target_stats if target_stats is not None else datamodule.target_stats()
    model = model_hparams if model_hparams is not None else OmegaConf.to_container(cfg.model, resolve=True)
    return GraphormerModule(model=model, task=datamodule.task, target_names=datamodule.target_names,
                            target_mean=mean.tolist(), target_std=std.tolist(), loss=cfg.loss,
                            pos_weight=datamodule.pos_weight, num_classes=datamodule.num_classes,
                            legacy_drop_node0=legacy_drop_node0, descriptors=descriptors,
                            **OmegaConf.to_container(cfg.optim),
                            **{f"flag_{k}": v for k, v in OmegaConf.to_container(cfg.get("flag") or {}).items()})


def fit_and_test(cfg: DictConfig, run_dir: Path, module: GraphormerModule, datamodule: MoleculeDataModule,
                 ckpt_path: str | None) -> dict[str, float]:
    """Fit (resuming from ckpt_path if given), test the best checkpoint, print the summary line."""
    hp = module.hparams.model
    print(f"model: {count_parameters(module.model):,} parameters "
          f"({hp['num_layers']} layers, width {hp['embed_dim']}, {hp['num_heads']} heads)")
    if cfg.compile:
        module.model.pack_tokens = False  # compiled graphs keep static shapes (see data.pad_nodes_to)
        module.model = torch.compile(module.model, dynamic=False)
    task = module.task
    metric, mode = MONITOR[task]
    checkpoint = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor=f"val/{metric}", mode=mode,
                                 save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)
    last = run_dir / "checkpoints" / "last.ckpt"
    interrupt = StopOnInterrupt(last, resume_command(run_dir))
    # last.ckpt: after every validation, and every checkpoint_every_n_steps steps (resuming long epochs)
    logger = make_logger(cfg, run_dir, ckpt_path is not None)
    callbacks = [checkpoint, SaveLast(last, cfg.get("checkpoint_every_n_steps")), ResumeState(), interrupt]
    if logger:  # the learning rate goes to the logger
        callbacks.insert(2, LearningRateMonitor(logging_interval="step"))
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStopping(monitor=f"val/{metric}", mode=mode, patience=cfg.early_stopping_patience))
    check_trainer_keys(cfg.trainer)
    trainer_args = {k: v for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items() if v is not None}
    trainer = L.Trainer(**trainer_args, callbacks=callbacks, logger=logger,
                        default_root_dir=str(run_dir), use_distributed_sampler=False,
                        plugins=[SafeCheckpointIO(module)])
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if interrupt.requested:  # Ctrl-C in the last step or in validation: no test on a cut-short run
        raise interrupt.error()

    best = checkpoint.best_model_path or (str(last) if last.is_file() else None)
    results = trainer.test(module, datamodule=datamodule, ckpt_path=best or None, verbose=False)[0]
    test = {k.split("/", 1)[1]: float(v) for k, v in results.items() if k.startswith("test/") and k != "test/loss"}
    # The baseline predicts the training labels' mean, whatever scaling the model's head uses.
    mean = datamodule.target_stats()[0].astype(np.float64)
    baseline = baseline_metrics(task, mean, datamodule.tables["test"].targets, module.hparams.num_classes)
    parts = [f"test_{k}={v:.4f}" for k, v in test.items()]
    parts += [f"baseline_{k}={v:.4f}" for k, v in baseline.items()]
    if trainer.is_global_zero:
        record_run(cfg, run_dir, module, datamodule, trainer, test, baseline, best, ckpt_path)
        print(" ".join(parts + [f"checkpoint={best}"]))
    return test


def record_run(cfg: DictConfig, run_dir: Path, module: GraphormerModule, datamodule: MoleculeDataModule,
               trainer: L.Trainer, test: dict, baseline: dict, best: str | None, resumed_from: str | None) -> None:
    """results.json, curves.png and the test plot in the run folder (rank 0)."""
    rows, skipped = rows_and_skipped(getattr(datamodule, "summary", None), run_dir)
    started = getattr(datamodule, "started", None)
    metric, _ = MONITOR[module.task]
    plots = write_plots(run_dir, module, datamodule.test_dataloader(), metric,
                        title=f"{cfg.data.name}: test set" + (" (rank 0's share)" if trainer.world_size > 1 else ""))
    results = {
        "task": module.task, "target_names": list(module.hparams.target_names),
        "test": test, "baseline": baseline, "monitor": f"val/{metric}",
        "best_val": float(trainer.checkpoint_callback.best_model_score)
        if trainer.checkpoint_callback is not None and trainer.checkpoint_callback.best_model_score is not None
        else None,
        "checkpoint": best, "last_checkpoint": str(run_dir / "checkpoints" / "last.ckpt"),
        "split_sizes": {name: len(ds) for name, ds in datamodule.datasets.items()},
        "rows": rows, "skipped": skipped,
        "epochs": trainer.current_epoch, "steps": trainer.global_step,
        "wall_time_s": round(time.time() - started, 3) if started else None,
        "resumed_from": resumed_from, "plots": [p.name for p in plots],
    }
    write_results(run_dir, results)


def prepare_data(cfg: DictConfig, run_dir: Path, legacy_drop_node0: bool = False,
                 max_hops: int | None = None, descriptors: dict | None = None) -> MoleculeDataModule:
    started = time.time()
    check_config(cfg)  # wrong types or ranges: one line now, not a traceback after featurization
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    datamodule = ResumableDataModule(**data, max_hops=max_hops or cfg.model.max_hops, seed=cfg.seed,
                                     run_dir=str(run_dir), progress=cfg.trainer.enable_progress_bar,
                                     legacy_drop_node0=legacy_drop_node0,
                                     descriptor_scaler=DescriptorScaler.from_dict(descriptors) if descriptors else None)
    datamodule.setup("fit")
    datamodule.started = started  # results.json's wall time counts from here
    print(datamodule.summary)
    return datamodule


def train(cfg: DictConfig, run_dir: Path) -> dict[str, float]:
    """`graphormer train`: returns the test metrics of the best checkpoint."""
    model, descriptors = extra_features(OmegaConf.to_container(cfg.model, resolve=True))
    datamodule = prepare_data(cfg, run_dir, descriptors=descriptors)
    module = build_module(cfg, datamodule, model_hparams=model, descriptors=descriptors)
    return fit_and_test(cfg, run_dir, module, datamodule, resolve_checkpoint(cfg.ckpt_path, cfg.resume, run_dir))
