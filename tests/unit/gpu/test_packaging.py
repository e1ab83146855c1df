"""Defect 1, read from the files (no Docker engine here): the image installs a C compiler for Triton and a
deliberate CUDA torch within pyproject's range, the run example gives the loader workers shared memory, and
the README says how a CPU-only machine gets the CPU build without naming a host."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = (REPO / "Dockerfile").read_text()
README = (REPO / "README.md").read_text()


def _run_lines() -> list[str]:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[4:] for line in text.splitlines() if line.startswith("RUN ")]


def test_image_installs_a_c_compiler_by_name():
    apt = [line for line in _run_lines() if "apt-get install" in line]
    assert apt and re.search(r"\b(build-essential|gcc)\b", apt[0]), apt


def test_image_installs_a_cuda_torch_in_the_supported_range():
    version = re.search(r"ARG TORCH_VERSION=([\d.]+)", DOCKERFILE).group(1)
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d[len("torch"):] for d in deps if re.match(r"torch[<>=!~]", d)]
    assert version in SpecifierSet(spec)
    torch_line = next(line for line in _run_lines() if "pip install" in line and "torch==" in line)
    assert "torch.version.cuda" in torch_line  # the build refuses a CPU-only wheel
    assert "driver 580" in DOCKERFILE  # what the host needs for the default (CUDA 13) build


def test_docker_run_examples_give_shared_memory():
    runs = [line for line in (DOCKERFILE + README).splitlines() if "docker run" in line]
    assert runs and all("--ipc=host" in line or "--shm-size" in line for line in runs), runs


def test_readme_install_text_names_the_cpu_index_but_no_host():
    assert "--index-url <PyTorch CPU wheel index>" in README
    assert "CUDA 13" in README and "driver 580" in README
    for text in (README, DOCKERFILE):
        assert not re.search(r"https?://[^\s)]*pytorch", text)
