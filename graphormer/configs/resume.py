"""`graphormer train resume=<run dir>`: continue a run with the config it was started with.

The run folder keeps its composed config (`.hydra/config.yaml`); a resumed run uses it as it is, so the data,
model, epochs and learning-rate schedule are the original ones whatever the command line of the resume says.
Overrides given on resume that change what is trained are refused; those that only change how it runs
(devices, logger, threads, progress bar...) are applied and recorded in `.hydra/resume-<n>-overrides.yaml`
beside the original files, which are never rewritten. `ckpt_path=<run dir>/checkpoints/last.ckpt` alone
means the same.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from graphormer.configs.checks import ConfigError

RESUME_DIR_ENV = "GRAPHORMER_RESUME_DIR"
RESUME_KEYS_ENV = "GRAPHORMER_RESUME_KEYS"
RESUME_CKPT_ENV = "GRAPHORMER_RESUME_CKPT"
# What may differ on resume: where and how the run executes, not what it computes.
HARMLESS = ("trainer.devices", "trainer.accelerator", "trainer.num_nodes", "trainer.strategy",
            "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
            "logger", "threads", "data.num_workers", "data.featurize_workers", "data.cache_dir", "data.root",
            "checkpoint_every_n_steps", "trainer.max_time")
_ABSENT = object()


def is_run_dir(path: Path) -> bool:
    return (path / ".hydra" / "config.yaml").is_file()


def _made_by(run_dir: Path) -> str:
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    return "finetune" if "finetune" in config else "train"


def find_resume(verb: str, overrides: list[str]) -> tuple[Path, str | None, list[str]] | None:
    """(run dir, checkpoint file or None, the other overrides) when the command line continues a run."""
    if verb not in ("train", "finetune"):
        return None
    rest = list(overrides)
    for i, arg in enumerate(overrides):
        key, _, value = arg.partition("=")
        if key == "resume" and value.lower() not in ("true", "false", "null", ""):
            run = Path(value).expanduser()
            if not run.is_dir():
                raise ConfigError(f"resume={value}: no such run folder")
            if not is_run_dir(run):
                raise ConfigError(f"resume={value}: not a run folder (no .hydra/config.yaml in it)")
            if _made_by(run) != verb:
                raise ConfigError(f"resume={value}: a `graphormer {_made_by(run)}` run; continue it with "
                                  f"graphormer {_made_by(run)} resume={value}")
            del rest[i]
            return run.resolve(), None, rest
    if any(a.split("=", 1)[0] in ("hydra.run.dir", "resume") for a in overrides):
        return None  # the older form: ckpt_path=last hydra.run.dir=<run dir> with every original override
    for i, arg in enumerate(overrides):
        key, _, value = arg.partition("=")
        if key != "ckpt_path" or not value:
            continue
        ckpt = Path(value).expanduser()
        run = ckpt.parent.parent
        if ckpt.is_file() and ckpt.parent.name == "checkpoints" and is_run_dir(run) and _made_by(run) == verb \
                and (verb == "train" or ckpt.name == "last.ckpt"):
            del rest[i]
            return run.resolve(), str(ckpt.resolve()) if verb == "train" else None, rest
    return None


def _stored_choices(run_dir: Path) -> dict:
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return {}
    return dict(OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.choices", default={}) or {})


def _harmless(key: str) -> bool:
    return any(key == h or key.startswith(h + ".") for h in HARMLESS)


def check_resume_overrides(run_dir: Path, parsed, texts: list[str]) -> tuple[list[str], list[str]]:
    """(overrides to pass on, the keys they set). Raises ConfigError for one that changes what was trained."""
    stored = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    choices = _stored_choices(run_dir)
    keep, keys = [], []
    for override, text in zip(parsed, texts):
        key = override.key_or_group.lstrip("+~")
        if key.startswith("hydra.") or key == "hydra":
            if key in ("hydra.run.dir", "hydra.output_subdir", "hydra.sweep.dir"):
                raise ConfigError(f"{key} cannot be given with resume: the run continues in {run_dir}")
            keep.append(text)
            continue
        if _harmless(key):
            keep.append(text)
            keys.append(key)
            continue
        if override.is_sweep_override():
            raise ConfigError(f"{key}: no sweeps on resume")
        value = override.value()
        if key in choices:  # a config group
            old = choices[key]
            if str(value) == str(old):
                continue
        else:
            old = OmegaConf.select(stored, key, default=_ABSENT)
            if old is not _ABSENT:
                old = OmegaConf.to_container(old, resolve=True) if OmegaConf.is_config(old) else old
                if old == value or (isinstance(old, (int, float)) and isinstance(value, (int, float))
                                    and float(old) == float(value)):
                    continue
        was = "not set" if old is _ABSENT else f"{old}"
        raise ConfigError(f"{key}={value} would change what {run_dir} trained (it was {was}); a resumed run keeps "
                          f"its config and may change only devices, logger, threads, workers, progress bar and "
                          f"max_time; start a new run instead")
    return keep, keys


def record(run_dir: Path, texts: list[str]) -> Path:
    """`.hydra/resume-<n>-overrides.yaml`: the overrides of the n-th resume (empty list if none)."""
    folder = run_dir / ".hydra"
    n = 1 + sum(1 for p in folder.glob("resume-*-overrides.yaml"))
    path = folder / f"resume-{n}-overrides.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(list(texts))) if texts else "[]\n")
    return path


def hydra_value(path: Path) -> str:
    """A path as a Hydra override value (quoted when it holds characters the grammar would read)."""
    text = str(path)
    if re.fullmatch(r"[\w/.\-+~]+", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def set_environment(run_dir: Path, ckpt: str | None, keys: list[str]) -> None:
    """For the Hydra app (and DDP workers, which inherit the environment)."""
    os.environ[RESUME_DIR_ENV] = str(run_dir)
    os.environ[RESUME_KEYS_ENV] = json.dumps(keys)
    os.environ[RESUME_CKPT_ENV] = ckpt or ""


def _paths_from_the_original_folder(cfg: DictConfig, run_dir: Path) -> None:
    """Relative data paths were relative to where the run started (hydra.runtime.cwd): keep them so when the
    resume is typed elsewhere."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if "data" not in cfg or not hydra_yaml.is_file():
        return
    started_in = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.cwd", default=None)
    if not started_in:
        return
    nodes = [(cfg.data, key) for key in ("path", "val_path", "test_path", "split_file")]
    if "finetune" in cfg:
        nodes.append((cfg, "ckpt_path"))  # the pretrained weights
    for node, key in nodes:
        value = node.get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute() and not Path(value).exists() \
                and (Path(started_in) / value).exists():
            node[key] = str(Path(started_in) / value)


def resumed_config(cfg: DictConfig) -> DictConfig:
    """The run folder's stored config with the harmless overrides of this command applied (or `cfg` as it
    is when this is not a resume)."""
    run_dir = os.environ.get(RESUME_DIR_ENV)
    if not run_dir:
        return cfg
    stored = OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml")
    OmegaConf.set_struct(stored, False)
    for key in json.loads(os.environ.get(RESUME_KEYS_ENV, "[]")):
        OmegaConf.update(stored, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
    _paths_from_the_original_folder(stored, Path(run_dir))
    stored.resume = True
    if "finetune" not in stored:  # train: the given checkpoint, else last.ckpt when there is one
        stored.ckpt_path = os.environ.get(RESUME_CKPT_ENV) or None
    return stored
