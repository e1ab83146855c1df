"""The packages form layers (docs/architecture.md): nothing imports a package downstream of it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "graphormer"
# package -> the graphormer packages it may import (besides itself)
ALLOWED = {
    "chem": set(),
    "graph": {"chem"},
    "data": {"chem", "graph"},
    "model": {"graph"},
}


def imported_packages(package: str) -> set[str]:
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found |= {n.split(".")[1] for n in names if n.startswith("graphormer.") and n.count(".") >= 1}
    return found - {package}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_upstream(package):
    assert imported_packages(package) <= ALLOWED[package]


def test_the_check_sees_imports():
    assert imported_packages("data") == {"chem", "graph"}  # featurize and collate use both
