"""The packages form layers (docs/architecture.md): nothing imports a package downstream of it.

Every package and top-level module of `graphormer` must be listed in ALLOWED, so a new one is placed in the
layers on purpose. Imports inside functions count too (a lazy import is still a dependency).
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "graphormer"
BASE = {"errors", "files"}  # dependency-free modules every layer may use
# package or top-level module -> the graphormer packages/modules it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "files": set(),
    "quiet": set(),  # the CLI's console filters (logging and warnings only)
    "__main__": {"cli"},
    "chem": BASE,
    "pretrained": BASE,  # shipped weights: files and their checksums only
    "graph": BASE | {"chem"},
    "data": BASE | {"chem", "graph"},
    "model": BASE | {"chem", "graph"},
    "configs": BASE | {"model"},  # checks.py builds a Graphormer to validate model settings
    "inference": BASE | {"chem", "graph", "data", "model", "pretrained"},  # never train (nor Lightning)
    "train": BASE | {"chem", "graph", "data", "model", "configs", "pretrained"},
    "cli": BASE | {"chem", "graph", "data", "model", "configs", "inference", "train", "pretrained", "quiet"},  # the top
}


def units() -> set[str]:
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    found |= {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    return found


def _files(unit: str) -> list[Path]:
    folder = PACKAGE / unit
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{unit}.py"]


def _imports(unit: str) -> set[str]:
    """Fully qualified names imported anywhere in `unit` (`from graphormer import x` counts as graphormer.x)."""
    names = set()
    for path in _files(unit):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                if node.module == "graphormer":
                    names |= {f"graphormer.{a.name}" for a in node.names}
    return names


def imported_packages(unit: str) -> set[str]:
    parts = (n.split(".") for n in _imports(unit) if n.startswith("graphormer."))
    return {p[1] for p in parts if p[1] in units()} - {unit}


def test_every_package_is_placed():
    assert units() == set(ALLOWED), "place new packages/modules in ALLOWED"


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_package_imports_only_upstream(unit):
    assert imported_packages(unit) <= ALLOWED[unit]


def test_layers_have_no_cycles():
    for unit, allowed in ALLOWED.items():
        for other in allowed:
            assert unit not in ALLOWED[other], f"{unit} and {other} may import each other"


def test_the_check_sees_imports():
    assert imported_packages("data") >= {"chem", "graph"}  # featurize and collate use both
    assert "train" in imported_packages("cli") and "inference" in imported_packages("cli")  # lazy imports


@pytest.mark.parametrize("unit", ["chem", "graph", "model", "inference", "errors", "files"])
def test_no_lightning_below_training(unit):
    assert not {n for n in _imports(unit) if n.split(".")[0] in ("lightning", "pytorch_lightning")}


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         cwd=PACKAGE.parent, env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    return set(out.stdout.split())


def test_inference_runs_without_lightning_or_training():
    loaded = _loaded_after("import graphormer.inference, graphormer.inference.export, graphormer.inference.convert, "
                           "graphormer.inference.jobs")
    assert "graphormer.inference.predictor" in loaded
    assert not {m for m in loaded if m.split(".")[0] == "lightning" or m.startswith("graphormer.train")}


def test_cli_and_errors_import_light():
    loaded = _loaded_after("import graphormer.cli, graphormer.errors")
    assert not {m for m in loaded if m.split(".")[0] in ("lightning", "torch", "rdkit")}
