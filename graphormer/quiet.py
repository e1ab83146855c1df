"""Quiet by default: library tips and deprecation notices stay off the console but still reach the log file.

`install()` is called by the CLI before any work. Python warnings whose text matches `NOISE` are logged at
INFO to the `graphormer.noise` logger instead of printed (the run's `graphormer.log` keeps them; the console
handler shows warnings only); log records that match are kept from console handlers by a filter. With
`-v` / `verbose=true` nothing is filtered.
"""

from __future__ import annotations

import logging
import re
import warnings

# Text of messages that tell the user nothing about their run.
NOISE = (
    r"Tip: For seamless cloud logging",  # Lightning: litlogger advertisement on every Trainer
    r"LeafSpec\)` is deprecated",  # Lightning's use of a deprecated torch pytree API
    r"Replaced initializer '",
    r"Checkpoint directory .* exists and is not empty",  # a resumed run writes into its own checkpoints/  # onnx_ir: one line per deduplicated weight (hundreds on export)
)
_PATTERN = re.compile("|".join(NOISE))
_log = logging.getLogger("graphormer.noise")
_installed = False


def is_noise(text: str) -> bool:
    return bool(_PATTERN.search(text))


class ConsoleFilter(logging.Filter):
    """Keeps noise off a console handler (file handlers still get it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            return not is_noise(record.getMessage())
        except Exception:  # a record whose arguments do not format: let logging report it as usual
            return True


_FILTER = ConsoleFilter()
_show_warning = warnings.showwarning


def _showwarning(message, category, filename, lineno, file=None, line=None):
    if is_noise(str(message)):
        _log.info("%s:%s: %s: %s", filename, lineno, category.__name__, message)
        return
    _show_warning(message, category, filename, lineno, file, line)


def attach() -> None:
    """Add the console filter to every console handler now installed (root and library loggers)."""
    if not _installed:
        return
    loggers = [logging.getLogger()] + [l for l in logging.Logger.manager.loggerDict.values()
                                       if isinstance(l, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler) \
                    and _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


class _AttachOnNewHandler(logging.Filter):
    """On a logger record: attach the filter to handlers created since (e.g. Lightning's own at import)."""

    def filter(self, record: logging.LogRecord) -> bool:
        attach()
        return True


def install(verbose: bool = False) -> None:
    global _installed
    if verbose or _installed:
        return
    _installed = True
    warnings.showwarning = _showwarning
    # Library loggers that log noise at INFO; their records pass these filters first.
    for name in ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
                 "lightning.fabric.utilities.rank_zero", "onnx_ir", "onnx_ir.passes.common.initializer_deduplication"):
        logging.getLogger(name).addFilter(_AttachOnNewHandler())
    attach()
