# GPU image: PyPI's Linux torch wheels bundle CUDA, so a plain Python base is enough on a host with the
# NVIDIA container toolkit (docker run --gpus all ...). Versions pinned to pyproject.toml's ranges.
FROM python:3.11.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 WANDB_MODE=offline
RUN apt-get update && apt-get install -y --no-install-recommends libxrender1 libxext6 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/graphormer
COPY pyproject.toml README.md ./
COPY graphormer ./graphormer
# Non-editable install: the Hydra configs ship inside the package (graphormer/configs).
RUN pip install torch==2.13.0 . && python -c "import graphormer.cli"

WORKDIR /work
ENTRYPOINT ["graphormer"]
CMD ["train"]
