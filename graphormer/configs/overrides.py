"""Check the command line's `key=value` overrides before Hydra sees them, and say what to type instead.

Hydra's own refusal of an unknown key is several lines that advise `+key=value`, which then fails later with a
traceback. Here every override is checked against the composed config of its verb (with the config groups the
command line picks) and a wrong one is one line naming the nearest valid key: `unknown key trainer.max_epoch
(did you mean trainer.max_epochs?)`.

Every argument of `lightning.Trainer` is accepted under `trainer.` without `+`: the names are read from the
installed Lightning's `Trainer.__init__` signature (from its source, so a typo is reported without importing
Lightning), and an override of one that the trainer config does not list is passed to Hydra as `++trainer.X`.
Keys under an empty mapping (`finetune.model.dropout=0.1`) are added the same way.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from graphormer.configs.checks import ConfigError

CONFIG_MODULE = "graphormer.configs"
# Trainer arguments that graphormer sets itself (from its own options or callbacks).
TRAINER_OWNED = {"callbacks": "set by graphormer (early_stopping_patience, checkpoint_every_n_steps)",
                 "logger": "chosen with logger=csv|tensorboard|wandb|none",
                 "default_root_dir": "the run folder (hydra.run.dir)", "plugins": "set by graphormer",
                 "use_distributed_sampler": "set by graphormer (the size-bucketed sampler shards itself)"}
# Command-line flags of Hydra that take a value (the value is not an override).
FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                    "--config-dir", "-cd", "--info", "-i", "--experimental-rerun"}
_ABSENT = object()


def split_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """(flags with their values, overrides)."""
    flags, overrides, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            flags.append(arg)
            if arg in FLAGS_WITH_VALUE and i + 1 < len(args) and not args[i + 1].startswith("-") \
                    and (arg not in ("--info", "-i") or "=" not in args[i + 1]):
                flags.append(args[i + 1])
                i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


@lru_cache(maxsize=None)
def trainer_arguments() -> tuple[str, ...]:
    """Keyword arguments of the installed `lightning.Trainer.__init__`, read from its source file."""
    spec = importlib.util.find_spec("lightning")
    source = Path(spec.origin).parent / "pytorch" / "trainer" / "trainer.py" if spec and spec.origin else None
    if source is not None and source.is_file():
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ClassDef) and node.name == "Trainer":
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        args = item.args
                        return tuple(a.arg for a in [*args.args, *args.kwonlyargs] if a.arg != "self")
    import inspect

    from lightning.pytorch import Trainer

    return tuple(p for p in inspect.signature(Trainer.__init__).parameters if p != "self")


def check_trainer_keys(trainer: DictConfig | dict) -> None:
    """Every key of the trainer config must be a Trainer argument graphormer leaves to the user."""
    valid = trainer_arguments()
    for key in trainer:
        if key in TRAINER_OWNED:
            raise ConfigError(f"trainer.{key} cannot be set: {TRAINER_OWNED[key]}")
        if key not in valid:
            raise ConfigError(f"trainer.{key} is not a lightning.Trainer argument{_suggest(f'trainer.{key}', [f'trainer.{a}' for a in valid])}")


def nearest(key: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not close:  # a misspelt last part under the right parent: trainer.max_epoch → trainer.max_epochs
        parent, _, leaf = key.rpartition(".")
        siblings = [c.rpartition(".")[2] for c in candidates if c.rpartition(".")[0] == parent]
        close = [f"{parent}.{m}" if parent else m for m in difflib.get_close_matches(leaf, siblings, n=1, cutoff=0.5)]
    return close[0] if close else None


def _suggest(key: str, candidates: list[str]) -> str:
    close = nearest(key, candidates)
    return f" (did you mean {close}?)" if close else ""


def config_groups() -> dict[str, list[str]]:
    """group -> its options (the yaml files of graphormer/configs/<group>/)."""
    root = resources.files(CONFIG_MODULE)
    groups = {}
    for entry in root.iterdir():
        if entry.is_dir() and entry.name not in ("hydra", "__pycache__"):
            groups[entry.name] = sorted(f.name[:-5] for f in entry.iterdir() if f.name.endswith(".yaml"))
    return groups


def compose(verb: str, overrides: list[str]) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        return hydra_compose(config_name=verb, overrides=overrides)


def _keys(node: Any, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, DictConfig):
        for key in node.keys():
            path = f"{prefix}{key}"
            out.append(path)
            out += _keys(node._get_node(key), path + ".")
    return out


def lookup(cfg: Any, key: str) -> Any:
    """The node at dotted `key` (a `???` value counts as present), or _ABSENT."""
    node = cfg
    for part in key.split("."):
        if isinstance(node, DictConfig) and part in node.keys():
            node = node._get_node(part)
        elif isinstance(node, ListConfig) and part.isdigit() and int(part) < len(node):
            node = node._get_node(int(part))
        else:
            return _ABSENT
    return node


def _first_line(err: BaseException) -> str:
    lines = [l.strip() for l in str(err).strip().splitlines() if l.strip()]
    return lines[0] if lines else type(err).__name__


def parse(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as err:
        raise ConfigError(f"cannot read the override: {_first_line(err)}") from None


def _choices(override) -> list[str]:
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    value = override.value()
    return [str(value) if value is not None else "null"]


def check_overrides(verb: str, overrides: list[str]) -> tuple[list[str], DictConfig]:
    """Validate `overrides` for `verb`; return them as Hydra should get them, and the composed base config.

    Raises ConfigError (one line, with the nearest valid key or option) for an unknown key or group option.
    """
    parsed = parse(overrides)
    groups = config_groups()
    group_choices: list[str] = []
    for override in parsed:
        group = override.key_or_group
        if group in groups and override.package is None and not override.is_delete():
            for choice in _choices(override):
                if choice != "null" and choice not in groups[group]:
                    close = nearest(choice, groups[group])
                    hint = f" (did you mean {group}={close}? choices: " if close else " (choices: "
                    raise ConfigError(f"unknown {group}={choice}{hint}{', '.join(groups[group])})")
            group_choices.append(f"{override.get_key_element()}={_choices(override)[0]}")
    try:
        base = compose(verb, group_choices)
    except Exception as err:  # a group this verb does not have (e.g. model= for finetune)
        raise ConfigError(_first_line(err)) from None
    known = _keys(base)
    trainer_args = None
    result = []
    for override, text in zip(parsed, overrides):
        key = override.key_or_group
        if key in groups or key.startswith("hydra.") or key == "hydra" or override.package is not None:
            result.append(text)
            continue
        if key.startswith("trainer."):
            leaf = key.split(".", 2)[1]
            trainer_args = trainer_args or trainer_arguments()
            if leaf in TRAINER_OWNED:
                raise ConfigError(f"trainer.{leaf} cannot be set: {TRAINER_OWNED[leaf]}")
            if leaf not in trainer_args:
                raise ConfigError(f"unknown key {key}: not a lightning.Trainer argument"
                                  f"{_suggest(key, [f'trainer.{a}' for a in trainer_args])}")
            if override.is_add() or override.is_force_add() or override.is_delete():
                result.append(text)
            elif lookup(base, key) is _ABSENT:
                result.append("++" + text)
            else:
                result.append(text)
            continue
        if override.is_add() or override.is_force_add():
            result.append(text)
            continue
        if lookup(base, key) is _ABSENT:
            parent = lookup(base, key.rpartition(".")[0]) if "." in key else _ABSENT
            if isinstance(parent, DictConfig) and len(parent) == 0 and not override.is_delete():
                result.append("++" + text)  # an open mapping such as finetune.model
                continue
            candidates = known + ([f"trainer.{a}" for a in trainer_arguments()] if "trainer" in base else [])
            raise ConfigError(f"unknown key {key}{_suggest(key, candidates)}")
        result.append(text)
    return result, base
