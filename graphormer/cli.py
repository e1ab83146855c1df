"""The `graphormer` command: one verb per job, each a Hydra app over its own config in graphormer/configs."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from graphormer import quiet
from graphormer.configs import rundir  # noqa: F401  (registers ${run_time:...} before Hydra composes)
from graphormer.errors import ConfigError, TrainingInterrupted, UserError

CONFIG_PATH = "pkg://graphormer.configs"
VERB_ENV = "GRAPHORMER_VERB"
VERBOSE_ENV = "GRAPHORMER_VERBOSE"
PREPARED_ENV = "GRAPHORMER_ARGS_PREPARED"  # DDP workers re-run the command line already checked

VERBS = {
    "train": "train a model (default: slim model on the NCI/TPSA molecules shipped with RDKit)",
    "finetune": "fine-tune a checkpoint on new data (new head when the targets differ)",
    "predict": "predict every molecule of a CSV / SMILES / SDF file into a CSV",
    "evaluate": "print a checkpoint's metrics on a labelled dataset",
    "embed": "write graph-token embeddings of molecules",
    "explain": "per-atom attributions and attention maps of predictions, as pictures and CSVs",
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


def _normal_permissions(path) -> None:
    """What open() would have given (0666 less the umask): temporary-file writes leave 0600."""
    mask = os.umask(0)
    os.umask(mask)
    if path is not None and Path(path).is_file():
        os.chmod(path, 0o666 & ~mask)


def _train(cfg: DictConfig) -> float | None:
    from graphormer.configs.checks import check_config
    from graphormer.configs.resume import resumed_config

    cfg = resumed_config(cfg)
    check_config(cfg)  # before the heavy imports: a typo in a value is reported within seconds
    from graphormer.train.run import train

    metrics = train(cfg, _run_dir())
    return next(iter(metrics.values()), None)


def _finetune(cfg: DictConfig) -> float | None:
    from graphormer.configs.checks import check_config
    from graphormer.configs.resume import resumed_config

    cfg = resumed_config(cfg)
    check_config(cfg)
    from graphormer.train.finetune import finetune

    metrics = finetune(cfg, _run_dir())
    return next(iter(metrics.values()), None)


def _predict(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.inference.jobs import predict

    predict(cfg)
    _normal_permissions(cfg.output)


def _evaluate(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.train.evaluate import evaluate

    # evaluate prints the data summary itself; the datamodule's INFO copy of it would be a second line
    logging.getLogger("graphormer.data.datamodule").setLevel(logging.WARNING)
    if not os.environ.get(VERBOSE_ENV):  # "GPU available: ...", twice (Lightning's handler and Hydra's)
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    output = Path(cfg.output_dir) if cfg.get("output_dir") else None
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
    evaluate(cfg, output)


def _embed(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.inference.jobs import embed

    _normal_permissions(embed(cfg))


def _explain(cfg: DictConfig) -> None:
    from graphormer.configs.checks import check_config

    check_config(cfg)
    from graphormer.inference.jobs import explain

    explain(cfg)


def _export(cfg: DictConfig) -> None:
    from graphormer.inference.export import export_module
    from graphormer.model.molecule import MoleculeModel

    if not os.environ.get(VERBOSE_ENV):  # the ONNX optimiser logs every folded node and merged weight
        for name, level in (("onnxscript", logging.ERROR), ("onnx_ir", logging.ERROR),
                            ("torch.onnx", logging.ERROR)):
            logging.getLogger(name).setLevel(level)
    model = MoleculeModel.load(cfg.ckpt_path)
    meta = export_module(model, cfg.output, cfg.format)
    _normal_permissions(cfg.output)
    print(f"exported {cfg.format} → {cfg.output} (targets {meta['target_names']}; metadata in {cfg.output}.json)")
    if cfg.inference_checkpoint:
        path = model.save(cfg.inference_checkpoint)
        _normal_permissions(path)
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
         "explain": _explain, "export": _export, "convert": _convert}


def _to_log_file(message: str, exc_info: bool = False) -> None:
    """An error of the run into graphormer.log only (the console already shows it once)."""
    record = logging.getLogger("graphormer").makeRecord("graphormer", logging.ERROR, __file__, 0, message, None,
                                                        sys.exc_info() if exc_info else None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _hydra_app(verb: str):
    task = TASKS[verb]

    @hydra.main(config_path=CONFIG_PATH, config_name=verb, version_base="1.3")
    def app(cfg: DictConfig):
        quiet.attach()
        try:
            return task(cfg)
        except _user_errors() as err:
            _to_log_file(f"error: {err}", exc_info=True)
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            _to_log_file("interrupted")
            print("\ninterrupted", file=sys.stderr)
            sys.exit(130)
        except _interruptions() as err:  # Ctrl-C or SIGTERM in training: stopped cleanly after a step
            _to_log_file(str(err))
            print(err, file=sys.stderr)
            sys.exit(err.exit_code)
        except Exception as err:
            _to_log_file(f"failed: {type(err).__name__}: {err}", exc_info=True)
            raise

    return app


def _prepare(verb: str, args: list[str]) -> list[str]:
    """The arguments Hydra gets: overrides checked (ConfigError on a wrong one), Trainer arguments made
    addable, and a resume turned into the run folder's own config (see graphormer/configs/resume.py)."""
    from graphormer.configs import resume as resuming
    from graphormer.configs.overrides import check_overrides, parse, split_flags

    flags, overrides = split_flags(args)
    found = resuming.find_resume(verb, overrides)
    if found is None:
        for name in (resuming.RESUME_DIR_ENV, resuming.RESUME_KEYS_ENV, resuming.RESUME_CKPT_ENV):
            os.environ.pop(name, None)
        checked, _ = check_overrides(verb, overrides)
        return [*flags, *checked]
    run_dir, ckpt, rest = found
    keep, keys = resuming.check_resume_overrides(run_dir, parse(rest), rest)
    checked, _ = check_overrides(verb, keep)
    if not os.environ.get("LOCAL_RANK") or os.environ.get("LOCAL_RANK") == "0":
        path = resuming.record(run_dir, keep)
        print(f"resuming {run_dir} with its own config ({path.relative_to(run_dir)} records this command's "
              f"overrides)")
    resuming.set_environment(run_dir, ckpt, keys)
    return [*flags, *checked, f"hydra.run.dir={resuming.hydra_value(run_dir)}", "hydra.output_subdir=null"]


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
    args = argv[1:]
    verbose = any(a in ("-v", "--verbose", "verbose=true") for a in args)
    args = [a for a in args if a not in ("-v", "--verbose", "verbose=true", "verbose=false")]
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    quiet.install(verbose=bool(os.environ.get(VERBOSE_ENV)))
    if os.environ.get(PREPARED_ENV) != "1" or not os.environ.get("LOCAL_RANK"):
        try:
            args = _prepare(verb, args)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    # Hydra reads its overrides from sys.argv[1:]; the verb travels to DDP workers in the environment.
    os.environ[VERB_ENV] = verb
    os.environ[PREPARED_ENV] = "1"
    sys.argv = [sys.argv[0], *args]
    _hydra_app(verb)()
    return 0


if __name__ == "__main__":
    sys.exit(main())
