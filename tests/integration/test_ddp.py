"""DDP on CPU (gloo), through the real command line: Lightning relaunches `graphormer train` per rank."""

from __future__ import annotations

import pytest
import torch

from tests.integration.test_cli import graphormer

NO_DROPOUT = ["model.dropout=0", "model.attention_dropout=0", "model.activation_dropout=0"]
TINY = ["model.num_layers=2", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2",
        "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu",
        "seed=3"]


def _summary(stdout: str) -> dict[str, str]:
    line = [l for l in stdout.splitlines() if l.startswith("test_mae=")][-1]
    return dict(part.split("=", 1) for part in line.split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, nci_csv):
    work = tmp_path_factory.mktemp("ddp")
    common = ["data=csv", f"data.path={nci_csv}", *TINY, *NO_DROPOUT]
    two = graphormer("train", *common, "trainer=ddp", "trainer.devices=2", "trainer.precision=32-true",
                     "data.batch_size=16", f"hydra.run.dir={work / 'two'}", cwd=work, fresh=True)  # workers re-run argv
    one = graphormer("train", *common, "trainer.devices=1", "data.batch_size=32", f"hydra.run.dir={work / 'one'}",
                     cwd=work)
    return work, two.stdout, one.stdout


def test_two_processes_reach_the_weights_of_one_with_the_same_effective_batch(runs):
    work, _, _ = runs
    load = lambda run: torch.load(work / run / "checkpoints" / "last.ckpt", map_location="cpu",  # noqa: E731
                                  weights_only=False)
    two, one = load("two"), load("one")
    assert two["global_step"] == one["global_step"] > 0
    for key, value in one["state_dict"].items():
        torch.testing.assert_close(two["state_dict"][key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_gathered_metrics_equal_a_single_process_evaluation(runs, nci_csv):
    work, two_out, _ = runs
    summary = _summary(two_out)
    proc = graphormer("evaluate", f"ckpt_path={summary['checkpoint']}", "data=csv", f"data.path={nci_csv}",
                      "split=test", f"hydra.run.dir={work / 'eval'}", cwd=work)
    line = [l for l in proc.stdout.splitlines() if l.startswith("mae=")][-1]
    single = dict(part.split("=", 1) for part in line.split())
    assert abs(float(single["mae"]) - float(summary["test_mae"])) < 1e-4
    assert abs(float(single["rmse"]) - float(summary["test_rmse"])) < 1e-4


def test_the_ddp_config_as_shipped_ends_with_one_summary_line(tmp_path, nci_csv):
    """`trainer=ddp` with its own precision (bf16-mixed) and loader defaults, on two CPU processes: exit 0 and
    exactly one summary line (rank 0's). The baseline after `trainer.test` makes no collective call (on NCCL a
    CPU all-gather there failed every GPU run; tests/unit/gpu/test_ddp_metrics.py counts the calls)."""
    proc = graphormer("train", "data=csv", f"data.path={nci_csv}", *TINY[:4], "trainer=ddp", "trainer.accelerator=cpu",
                      "trainer.devices=2", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                      f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, fresh=True)
    lines = [line for line in proc.stdout.splitlines() if "baseline_" in line]
    assert len(lines) == 1, proc.stdout
    summary = dict(part.split("=", 1) for part in lines[0].split())
    assert float(summary["test_mae"]) > 0 and float(summary["baseline_mae"]) > 0
    assert (tmp_path / "run" / "results.json").is_file()
