# GPU image. torch: 2.13.0 from the public package index, which on Linux x86_64 is the CUDA 13.0 build (the
# NVIDIA CUDA 13 libraries come with it as pip packages). It needs an NVIDIA driver 580 or newer on the host
# and the NVIDIA container toolkit. For an older driver build the CUDA 12.6 torch instead (drivers 525+):
#   docker build --build-arg TORCH_INDEX_URL=<PyTorch cu126 wheel index, from PyTorch's installation page> .
# Run with shared memory for the loader workers (Docker's default /dev/shm is 64 MB):
#   docker run --gpus all --ipc=host -v $PWD:/work graphormer train trainer=ddp ...   (or --shm-size=16g)
# build-essential (gcc, libc headers): Triton compiles a small C launcher per kernel at run time, which flex
# attention and compile=true need; python:*-slim has no compiler. Versions pinned to pyproject.toml's ranges.
FROM python:3.11.11-slim-bookworm

ARG TORCH_VERSION=2.13.0
# empty: the public index (CUDA 13.0); otherwise a PyTorch wheel index URL (e.g. its cu126 one)
ARG TORCH_INDEX_URL=

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 WANDB_MODE=offline
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libxrender1 libxext6 \
    && rm -rf /var/lib/apt/lists/*

# torch first, deliberately a CUDA build (the build fails on a CPU-only wheel)
RUN pip install "torch==${TORCH_VERSION}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
    && python -c "import torch, sys; print('torch', torch.__version__, 'CUDA', torch.version.cuda); sys.exit(0 if torch.version.cuda else 'not a CUDA build of torch')" \
    && gcc --version | head -n 1

WORKDIR /opt/graphormer
COPY pyproject.toml README.md ./
COPY graphormer ./graphormer
# Non-editable install: the Hydra configs ship inside the package (graphormer/configs).
RUN pip install . && python -c "import graphormer.cli"

WORKDIR /work
ENTRYPOINT ["graphormer"]
CMD ["train"]
