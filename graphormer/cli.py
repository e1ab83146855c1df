"""The `graphormer` command: one verb per job, each a Hydra app over its own config in graphormer/configs."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from graphormer.errors import TrainingInterrupted, UserError

CONFIG_PATH = "pkg://graphormer.configs"
VERB_ENV = "GRAPHORMER_VERB"

VERBS = {
    "train": "train a model (default: slim model on the NCI/TPSA molecules shipped with RDKit)",
    "finetune": "fine-tune a checkpoint on new data (new head when the targets differ)",
    "predict": "predict every molecule of a CSV / SMILES / SDF file into a CSV",
    "evaluate": "print a checkpoint's metrics on a labelled dataset",
    "embed": "write graph-token embeddings of molecules",
    "export": "write an ONNX or torch.export inference artifact (dynamic batch and atom dimensions)",
    "convert": "import published Graphormer weights (HuggingFace folder or official fairseq .pt)",
}

USAGE = "usage: graphormer <verb> [key=value ...] [--help]\n\nverbs:\n" + "\n".join(
    f"  {verb:<10} {text}" for verb, text in VERBS.items()) + "\n\n`graphormer <verb> --help` shows its options."


def _user_errors() -> tuple[type[BaseException], ...]:
    return (UserError, FileNotFoundError)  # every error class in graphormer.errors is a UserError


def _interruptions() -> tuple[type[BaseException], ...]:
    return (TrainingInterrupted,)


def _run_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def _train(cfg: DictConfig) -> float | None:
    from graphormer.configs.checks import check_config

    check_config(cfg)  # before the heavy imports: a typo in a value is reported within seconds
    from graphormer.train.run import train

    metrics = train(cfg, _run_dir())
    return next(iter(metrics.values()), None)


def _finetune(cfg: DictConfig) -> float | None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.train.finetune import finetune

    metrics = finetune(cfg, _run_dir())
    return next(iter(metrics.values()), None)


def _predict(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.inference.jobs import predict

    predict(cfg)


def _evaluate(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.train.evaluate import evaluate

    evaluate(cfg, _run_dir())


def _embed(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.inference.jobs import embed

    embed(cfg)


def _export(cfg: DictConfig) -> None:
    from graphormer.inference.export import export_module
    from graphormer.model.molecule import MoleculeModel

    model = MoleculeModel.load(cfg.ckpt_path)
    meta = export_module(model, cfg.output, cfg.format)
    print(f"exported {cfg.format} → {cfg.output} (targets {meta['target_names']}; metadata in {cfg.output}.json)")
    if cfg.inference_checkpoint:
        path = model.save(cfg.inference_checkpoint)
        print(f"inference checkpoint → {path}")


def _convert(cfg: DictConfig) -> None:
    from omegaconf import OmegaConf

    from graphormer.inference.convert import convert, describe

    def plain(value):  # ListConfig -> list for the converter
        return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value

    module = convert(cfg.source, cfg.path, cfg.output, task=cfg.task, target_names=plain(cfg.target_names),
                     max_hops=cfg.max_hops, spatial_pos_max=cfg.spatial_pos_max,
                     legacy_drop_node0=cfg.legacy_drop_node0, target_mean=plain(cfg.target_mean),
                     target_std=plain(cfg.target_std))
    print(f"converted {cfg.source} {cfg.path} → {cfg.output}\n{describe(module)}")


TASKS = {"train": _train, "finetune": _finetune, "predict": _predict, "evaluate": _evaluate, "embed": _embed,
         "export": _export, "convert": _convert}


def _hydra_app(verb: str):
    task = TASKS[verb]

    @hydra.main(config_path=CONFIG_PATH, config_name=verb, version_base="1.3")
    def app(cfg: DictConfig):
        try:
            return task(cfg)
        except _user_errors() as err:
            logging.getLogger("graphormer").debug("input error", exc_info=True)
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            sys.exit(130)
        except _interruptions() as err:  # Ctrl-C or SIGTERM in training: stopped cleanly after a step
            print(err, file=sys.stderr)
            sys.exit(err.exit_code)

    return app


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if argv[0] not in TASKS and os.environ.get("LOCAL_RANK") and os.environ.get(VERB_ENV) in TASKS:
        # A DDP worker that Lightning launched by re-running our command line without the verb.
        argv = [os.environ[VERB_ENV], *argv]
    verb = argv[0]
    if verb not in TASKS:
        print(f"error: unknown verb {verb!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    # Hydra reads its overrides from sys.argv[1:]; the verb travels to DDP workers in the environment.
    os.environ[VERB_ENV] = verb
    sys.argv = [sys.argv[0], *argv[1:]]
    _hydra_app(verb)()
    return 0


if __name__ == "__main__":
    sys.exit(main())
