"""Weights that ship inside the package (docs/pretrained.md is their model card).

`pretrained_path("slim")` returns the file after checking its sha256 (recorded in `manifest.json`, written by
`scripts/ship_pretrained.py`), so a damaged or replaced file is an error before any weight is used. The files
are self-describing inference checkpoints (`MoleculeModel.save`).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from graphormer.errors import DataError
from graphormer.files import sha256_of


def manifest() -> dict:
    """name -> {file, sha256, bytes, embeddings of fixed molecules, training facts}."""
    return json.loads(resources.files(__name__).joinpath("manifest.json").read_text())


def pretrained_path(name: str) -> Path:
    """The shipped checkpoint `name`, its checksum verified."""
    shipped = manifest()
    if name not in shipped:
        raise DataError(f"pretrained={name!r}: unknown (shipped: {', '.join(sorted(shipped))})")
    filename, expected = shipped[name]["file"], shipped[name]["sha256"]
    path = Path(str(resources.files(__name__).joinpath(filename)))
    if not path.is_file():
        raise DataError(f"pretrained={name}: {filename} is missing from the installed package")
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(f"pretrained={name}: {path} has sha256 {actual}, expected {expected} (damaged file)")
    return path
