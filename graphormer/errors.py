"""Every error class a user can meet, in one dependency-free module.

The CLI reports these in one line without a traceback (exit code 2), and can name them without importing
the packages that raise them (so handling an error never imports Lightning or RDKit). The packages re-export
the classes where callers already import them (`graphormer.data.table.DataError`, ...).
"""

from __future__ import annotations

import signal


class UserError(Exception):
    """An input problem that is reported in one line, without a traceback."""


class DataError(UserError, ValueError):
    """An input file that cannot be used at all (missing file or column, no usable rows)."""


class ConfigError(DataError):
    """A configuration value of the wrong type or out of range."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, unreadable, truncated or from an incompatible version."""


class ConvertError(CheckpointError):
    """A source checkpoint that cannot be imported faithfully (one-line reason)."""


class MoleculeError(UserError, ValueError):
    """A SMILES string (or molecule) that cannot be parsed or featurised.

    ``smiles`` is the input as given (may be a non-string, e.g. ``None``);
    ``reason`` is a short human-readable explanation such as
    ``"valence error: Explicit valence for atom # 3 N, 4, is greater than permitted"``.
    """

    def __init__(self, smiles: object, reason: str) -> None:
        self.smiles = smiles
        self.reason = reason
        super().__init__(f"{reason} (SMILES: {smiles!r})")

    def __reduce__(self):
        # Keep the two-argument constructor working across pickling (multiprocessing loaders).
        return (type(self), (self.smiles, self.reason))


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM during training: `last.ckpt` holds the state after the last finished step."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.exit_code = 128 + int(signum)  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM
