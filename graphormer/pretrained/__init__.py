"""Weights that ship inside the package (docs/pretrained.md is their model card).

`pretrained_path("slim")` returns the file after checking its sha256, so a damaged or replaced file is an
error before any weight is used. The files are self-describing inference checkpoints.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from graphormer.data.table import DataError

# name -> (file in this package, sha256 of its bytes)
PRETRAINED = {
    "slim": ("slim_descriptors.pt", None),
}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained_path(name: str) -> Path:
    """The shipped checkpoint `name`, its checksum verified."""
    if name not in PRETRAINED:
        raise DataError(f"pretrained={name!r}: unknown (shipped: {', '.join(sorted(PRETRAINED))})")
    filename, expected = PRETRAINED[name]
    path = Path(str(resources.files(__name__).joinpath(filename)))
    if not path.is_file():
        raise DataError(f"pretrained={name}: {filename} is missing from the installed package")
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        raise DataError(f"pretrained={name}: {path} has sha256 {actual}, expected {expected} (damaged file)")
    return path
