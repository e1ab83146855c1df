"""Check the values a user can set on the command line before any work starts.

A wrong type or range (`optim.lr=fast`, `data.batch_size=0`, `model.num_heads=3` with width 16) is reported
as one line naming the key, seconds after the start, instead of a traceback after featurization.
"""

from __future__ import annotations

from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from graphormer.errors import ConfigError, DataError  # noqa: F401  (re-exported)

_ABSENT = object()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= low


def _number_in(low: float, high: float | None = None, open_low: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if not _is_number(v) or v != v:  # NaN
            return False
        above = v > low if open_low else v >= low
        return above and (high is None or v < high)
    return ok


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _numbers(count: int, each: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, (list, tuple)) and len(v) == count and all(each(x) for x in v)


def _limit(v: Any) -> bool:  # Lightning's limit_*_batches: a count or a fraction
    return v is None or (_is_int(v) and v >= 0) or _number_in(0.0, 1.0000001)(v)


PROBABILITY = _number_in(0.0, 1.0)
# key -> (check, what the value must be)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (_is_int, "an integer"),
    "threads": (_optional(_int_at_least(1)), "a positive integer or null"),
    "resume": (lambda v: isinstance(v, bool), "true or false"),
    "compile": (lambda v: isinstance(v, bool), "true or false"),
    "checkpoint_every_n_steps": (_optional(_int_at_least(1)), "a positive integer or null"),
    "early_stopping_patience": (_optional(_int_at_least(1)), "a positive integer or null"),
    "optim.lr": (_number_in(0.0, open_low=True), "a positive number"),
    "optim.end_lr": (_number_in(0.0), "a number >= 0"),
    "optim.weight_decay": (_number_in(0.0), "a number >= 0"),
    "optim.eps": (_number_in(0.0, open_low=True), "a positive number"),
    "optim.warmup": (_number_in(0.0), "a number >= 0 (a fraction of all steps, or a step count)"),
    "optim.betas": (_numbers(2, PROBABILITY), "two numbers in [0, 1)"),
    "data.batch_size": (_optional(_int_at_least(1)), "a positive integer or null"),
    "data.max_tokens": (_optional(_int_at_least(1)), "a positive integer or null"),
    "data.max_atoms": (_optional(_int_at_least(1)), "a positive integer or null"),
    "data.num_workers": (_int_at_least(0), "an integer >= 0"),
    "data.featurize_workers": (_optional(_int_at_least(0)), "an integer >= 0 or null"),
    "data.pad_nodes_to": (_int_at_least(1), "a positive integer"),
    "data.split_seed": (_is_int, "an integer"),
    "data.split_sizes": (_numbers(3, _number_in(0.0)), "three numbers >= 0 (train, val, test)"),
    "trainer.max_epochs": (_optional(_int_at_least(-1)), "an integer >= -1 or null"),
    "trainer.max_steps": (_int_at_least(-1), "an integer >= -1"),
    "trainer.log_every_n_steps": (_int_at_least(1), "a positive integer"),
    "trainer.accumulate_grad_batches": (_int_at_least(1), "a positive integer"),
    "trainer.gradient_clip_val": (_optional(_number_in(0.0)), "a number >= 0 or null"),
    "trainer.enable_progress_bar": (lambda v: isinstance(v, bool), "true or false"),
    "trainer.limit_train_batches": (_limit, "a batch count, a fraction in [0, 1], or null"),
    "trainer.limit_val_batches": (_limit, "a batch count, a fraction in [0, 1], or null"),
    "trainer.limit_test_batches": (_limit, "a batch count, a fraction in [0, 1], or null"),
    # predict / embed / evaluate
    "chunk_size": (_int_at_least(1), "a positive integer"),
    "max_tokens": (_int_at_least(1), "a positive integer"),
    "steps": (_int_at_least(1), "a positive integer"),  # explain's integration steps
    "split": (lambda v: v in ("train", "val", "test", "all"), "one of train, val, test, all"),
    "model.num_layers": (_int_at_least(1), "a positive integer"),
    "model.embed_dim": (_int_at_least(1), "a positive integer"),
    "model.ffn_dim": (_int_at_least(1), "a positive integer"),
    "model.num_heads": (_int_at_least(1), "a positive integer"),
    "model.max_hops": (_int_at_least(0), "an integer >= 0"),
    "model.dropout": (PROBABILITY, "a number in [0, 1)"),
    "model.attention_dropout": (PROBABILITY, "a number in [0, 1)"),
    "model.activation_dropout": (PROBABILITY, "a number in [0, 1)"),
}


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first key whose value has the wrong type or range."""
    for key, (ok, wanted) in RULES.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is _ABSENT:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        if not ok(value):
            raise ConfigError(f"{key} must be {wanted}; got {value!r}")
    data = cfg.get("data")
    if data is not None and data.get("batch_size") is None and data.get("max_tokens") is None:
        raise ConfigError("give data.batch_size or data.max_tokens (both are null)")
    if cfg.get("model") is not None:
        _check_model(OmegaConf.to_container(cfg.model, resolve=True))
    if cfg.get("device") is not None:
        _check_device(cfg.device)


def _check_device(device: Any) -> None:
    import torch

    try:
        kind = torch.device(device).type if isinstance(device, str) else None
    except RuntimeError:
        kind = None
    if kind is None:
        raise ConfigError(f"device must be cpu, cuda, cuda:N or mps; got {device!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device}: no CUDA device is available here (use device=cpu)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={device}: MPS is not available here (use device=cpu)")


def _check_model(hparams: dict) -> None:
    """Build the model on the meta device (no memory): its own checks name the inconsistent values."""
    import torch

    from graphormer.model import Graphormer

    try:
        with torch.device("meta"):
            Graphormer(**{**hparams, "num_outputs": 1, "extra_features": 0})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model: {err}") from None
