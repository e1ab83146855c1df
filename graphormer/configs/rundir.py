"""One run folder for every process of a launch: the `${run_time:FORMAT}` resolver of `hydra.run.dir`.

Hydra's `${now:...}` is read by each process when it starts. Lightning's own DDP launch hands rank 0's folder
to the processes it starts, but torchrun and SLURM start every rank themselves, and ranks starting a second
apart wrote to different folders (checkpoints in one, logs in others; `ckpt_path=last` looked in each rank's
own). Here the launch time is agreed on once:

* torchrun (its agent hosts the rendezvous store at MASTER_ADDR:MASTER_PORT): the first rank to ask stores its
  clock under a key of the run id, every rank reads that value (an elastic restart finds the same value,
  so it continues in the same folder);
* SLURM with several tasks: the job and step id (`slurm-<job>.<step>`) instead of a time, the same for
  every task without any exchange;
* otherwise (one process, or Lightning's DDP launch, which passes `hydra.run.dir` itself): this clock.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Callable, Mapping

AGREE_TIMEOUT_S = 300
_KEY = "graphormer/run_time/"


def _world(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ.get(name, "1"))
    except ValueError:
        return 1


def launch_stamp(fmt: str, environ: Mapping[str, str] = os.environ, now: Callable[[], float] = time.time) -> str:
    """The run folder's time stamp in `fmt` (strftime), the same in every process of one launch."""
    if environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True" and _world(environ, "WORLD_SIZE") > 1:
        from torch.distributed import TCPStore

        store = TCPStore(environ["MASTER_ADDR"], int(environ["MASTER_PORT"]), is_master=False,
                         timeout=datetime.timedelta(seconds=AGREE_TIMEOUT_S))
        # first writer wins; the others get its value back
        agreed = store.compare_set(_KEY + environ.get("TORCHELASTIC_RUN_ID", ""), "", repr(now()))
        return time.strftime(fmt, time.localtime(float(agreed)))
    if environ.get("SLURM_JOB_ID") and _world(environ, "SLURM_NTASKS") > 1:
        return f"slurm-{environ['SLURM_JOB_ID']}.{environ.get('SLURM_STEP_ID', '0')}"
    return time.strftime(fmt, time.localtime(now()))


def register_resolver() -> None:
    """`${run_time:%Y-%m-%d_%H-%M-%S}` for the configs (cached: one value per process)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("run_time"):
        OmegaConf.register_new_resolver("run_time", lambda fmt: launch_stamp(fmt), use_cache=True)
