"""Defect 8: every process of a torchrun or SLURM launch resolves the same run folder (rank 0's choice),
not its own `${now}`; so `ckpt_path=last` (<run dir>/checkpoints/last.ckpt) is also the same file for all."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from torch.distributed import TCPStore

from graphormer.configs.rundir import launch_stamp

CONFIGS = Path(__file__).resolve().parents[3] / "graphormer" / "configs"
FMT = "%Y-%m-%d_%H-%M-%S"


@pytest.fixture
def agent_store():
    """What torchrun's agent hosts at MASTER_ADDR:MASTER_PORT for its workers."""
    store = TCPStore("127.0.0.1", 0, is_master=True, timeout=datetime.timedelta(seconds=30))
    yield store


def torchrun_env(store, rank: int, run_id: str = "job") -> dict[str, str]:
    return {"TORCHELASTIC_USE_AGENT_STORE": "True", "TORCHELASTIC_RUN_ID": run_id, "WORLD_SIZE": "4",
            "RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port)}


def test_ranks_started_seconds_apart_agree_on_the_first_ranks_time(agent_store):
    clocks = [1_700_000_000.0, 1_700_000_001.7, 1_700_000_003.2, 1_700_000_059.9]  # different seconds
    stamps = [launch_stamp(FMT, torchrun_env(agent_store, rank), now=lambda t=t: t) for rank, t in enumerate(clocks)]
    assert stamps == [time.strftime(FMT, time.localtime(clocks[0]))] * 4
    # another launch (run id) on the same store decides anew
    other = launch_stamp(FMT, torchrun_env(agent_store, 0, "job2"), now=lambda: clocks[3])
    assert other == time.strftime(FMT, time.localtime(clocks[3]))


def test_slurm_tasks_share_the_job_and_step():
    env = {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "3", "SLURM_NTASKS": "16"}
    assert {launch_stamp(FMT, env, now=lambda t=t: t) for t in (1.0, 99.0)} == {"slurm-4242.3"}


def test_a_single_process_uses_its_clock():
    assert launch_stamp(FMT, {}, now=lambda: 1_700_000_000.0) == time.strftime(FMT, time.localtime(1_700_000_000.0))
    assert launch_stamp(FMT, {"SLURM_JOB_ID": "1", "SLURM_NTASKS": "1"}, now=lambda: 0.0) == \
        time.strftime(FMT, time.localtime(0.0))


@pytest.mark.parametrize("verb", ["train", "finetune"])
def test_the_run_folders_use_the_agreed_time(verb):
    import graphormer.configs  # noqa: F401  (registers the resolver)

    hydra = OmegaConf.to_container(OmegaConf.load(CONFIGS / f"{verb}.yaml").hydra)  # unresolved
    for pattern in (hydra["run"]["dir"], hydra["sweep"]["dir"]):
        assert "${now:" not in pattern and "${run_time:" in pattern
    assert OmegaConf.create({"d": "${run_time:%Y}"}).d == time.strftime("%Y")
