"""A run a user can leave overnight: interrupted (Ctrl-C, then SIGKILL) and resumed, it ends with exactly the
weights and metrics of an uninterrupted run; two runs with the same seed give identical loss curves;
checkpoint writes are atomic. (Damaged checkpoints, named and never loaded: tests/data/bad_inputs.csv.)

The CLI runs are real `python -m graphormer` processes (fresh interpreters, as a user starts them), shared
by the tests of this file and tests/integration/test_golden.py.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
# Tiny, deterministic and with dropout (so the random states matter): 300 molecules, 8 batches an epoch,
# 3 epochs, a step checkpoint every 5 steps (mid-epoch).
TINY_RUN = ["model.num_layers=2", "model.embed_dim=16", "model.ffn_dim=16", "model.num_heads=2",
            "model.attention_dropout=0.1", "model.activation_dropout=0.1", "model.dropout=0.1",
            "trainer.max_epochs=3", "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
            "trainer.deterministic=true", "data.batch_size=32", "threads=1", "seed=0", "checkpoint_every_n_steps=5",
            # pinned so that a change of defaults does not move the golden trace (test_golden.py)
            "optim.lr=5e-4", "optim.end_lr=1e-9", "optim.warmup=0.06", "optim.weight_decay=0.0", "loss=l1",
            "trainer.gradient_clip_val=5.0", "data.split=random", "data.split_sizes=[0.8,0.1,0.1]", "data.split_seed=0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}


class Run:
    """One `graphormer train` process writing into `folder / name`."""

    def __init__(self, folder: Path, name: str, data: Path | None, *extra: str):
        """data=None: continue the run folder `folder / name` with only `extra` on the command line."""
        self.dir = folder / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = folder / f"{name}.log"
        argv = [sys.executable, "-m", "graphormer", "train", *extra]
        if data is not None:
            argv[4:4] = ["data=csv", f"data.path={data}", *TINY_RUN, f"data.cache_dir={folder / 'cache'}",
                         f"hydra.run.dir={self.dir}"]
        self.err_path = folder / f"{name}.err"
        self.proc = subprocess.Popen(argv, cwd=folder, env=ENV, stdout=open(self.log, "w"),
                                     stderr=open(self.err_path, "w"))

    def last_step(self) -> int:
        """The highest step with a train/loss row in metrics.csv (rows are written as they are logged)."""
        try:
            with open(self.dir / "metrics.csv", newline="") as handle:
                return max((int(r["step"]) for r in csv.DictReader(handle) if r.get("train/loss")), default=-1)
        except (OSError, ValueError, KeyError):
            return -1

    def signal_at(self, step: int, sig: int, timeout: float = 300) -> None:
        """Send `sig` once metrics.csv shows `step`; fails if the run ends first."""
        deadline = time.monotonic() + timeout
        while self.last_step() < step:
            assert self.proc.poll() is None, f"run ended before step {step}:\n{self.stderr[-3000:]}"
            assert time.monotonic() < deadline, "timed out waiting for the run"
            time.sleep(0.01)
        self.proc.send_signal(sig)

    def wait(self) -> int:
        return self.proc.wait(timeout=600)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def checkpoint(self, name: str = "last.ckpt") -> dict:
        return torch.load(self.dir / "checkpoints" / name, map_location="cpu", weights_only=False)

    def metrics(self) -> list[dict]:
        with open(self.dir / "metrics.csv", newline="") as handle:
            return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def training_runs(request, tmp_path_factory, nci_csv) -> dict:
    """reference and repeat: uninterrupted, same seed. resumed: Ctrl-C at ~step 6, resumed with only
    `resume=<run dir>` and SIGKILLed at ~step 12 (after the step-10 checkpoint), resumed again to the end with
    only `ckpt_path=<run dir>/checkpoints/last.ckpt`. The run's settings differ from the defaults (3 epochs,
    not 12; 2 layers of width 16; dropout; batches of 32; a step checkpoint every 5 steps), so a resume that
    forgot them would train something else.

    test_golden.py imports this fixture, which makes it a second fixture (and this file may be imported
    twice, under two names): the runs are kept on the session's config so they happen once."""
    config = request.config
    if not hasattr(config, "_graphormer_training_runs"):
        config._graphormer_training_runs = _run_all(tmp_path_factory.mktemp("reliability"), nci_csv)
    return config._graphormer_training_runs


def _run_all(folder: Path, nci_csv: Path) -> dict:
    reference = Run(folder, "reference", nci_csv)
    repeat = Run(folder, "repeat", nci_csv)
    first = Run(folder, "resumed", nci_csv)
    first.signal_at(6, signal.SIGINT)
    info = {"sigint": (first.wait(), first.stderr)}
    info["after_sigint"] = first.checkpoint()
    info["overrides_before"] = (first.dir / ".hydra" / "overrides.yaml").read_text()
    second = Run(folder, "resumed", None, f"resume={first.dir}")
    second.signal_at(12, signal.SIGKILL)
    info["sigkill"] = (second.wait(), second.stderr)
    info["after_sigkill"] = second.checkpoint()
    third = Run(folder, "resumed", None, f"ckpt_path={first.dir / 'checkpoints' / 'last.ckpt'}")
    info["final"] = (third.wait(), third.stderr)
    for run in (reference, repeat):
        assert run.wait() == 0, run.stderr[-3000:]
    assert info["final"][0] == 0, info["final"][1][-3000:]
    return {"reference": reference, "repeat": repeat, "resumed": third, "folder": folder, "data": nci_csv, **info}


def _weights(run: Run) -> dict[str, torch.Tensor]:
    return run.checkpoint()["state_dict"]


def _rows_per_step(rows: list[dict]) -> dict[tuple[str, str], int]:
    """How often each (step, metric) was logged."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        for key, value in row.items():
            if value != "" and key not in ("step", "epoch"):
                counts[(row["step"], key)] = counts.get((row["step"], key), 0) + 1
    return counts


# --------------------------------------------------------------------------------------------- resume
def test_interrupted_and_killed_run_resumes_to_the_uninterrupted_weights(training_runs):
    reference, resumed = training_runs["reference"], training_runs["resumed"]
    killed_at = training_runs["after_sigkill"]
    # The SIGKILL left a mid-epoch step checkpoint: the resumed run had to skip the batches already done.
    position = killed_at["train_loader"]["position"]
    assert killed_at["global_step"] % 5 == 0 and 0 < position < 8, (killed_at["global_step"], position)
    want, got = _weights(reference), _weights(resumed)
    assert want.keys() == got.keys()
    different = [k for k in want if not torch.equal(want[k], got[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert resumed.checkpoint()["global_step"] == reference.checkpoint()["global_step"] == 24


def test_resumed_metrics_have_every_step_once(training_runs):
    reference, resumed = training_runs["reference"].metrics(), training_runs["resumed"].metrics()
    counts = _rows_per_step(resumed)
    assert counts == _rows_per_step(reference)
    assert set(counts.values()) == {1}, "a metric was logged twice for one step"
    train_steps = sorted(int(r["step"]) for r in resumed if r["train/loss"])
    assert train_steps == list(range(24))
    assert resumed == reference  # same rows, same order, same values


def test_ctrl_c_stops_after_a_step_with_a_usable_checkpoint(training_runs):
    code, err = training_runs["sigint"]
    assert code == 130 and "Traceback" not in err
    line = [l for l in err.splitlines() if l.startswith("interrupted:")][-1]
    last = training_runs["resumed"].dir / "checkpoints" / "last.ckpt"
    assert str(last) in line and line.endswith(f"continue with: graphormer train resume={last.parent.parent}")
    saved = training_runs["after_sigint"]
    assert f"step {saved['global_step']}" in line and saved["global_step"] >= 7
    assert "rng_states" in saved and "train_loader" in saved  # what an exact resume needs


def test_resume_keeps_the_original_record_and_adds_its_own(training_runs):
    """The resumes used the run folder's own config; .hydra/ keeps the original files and one record per resume."""
    hydra = training_runs["resumed"].dir / ".hydra"
    assert (hydra / "overrides.yaml").read_text() == training_runs["overrides_before"]
    assert "trainer.max_epochs=3" in training_runs["overrides_before"]
    assert sorted(p.name for p in hydra.glob("resume-*")) == ["resume-1-overrides.yaml", "resume-2-overrides.yaml"]
    assert (hydra / "resume-1-overrides.yaml").read_text() == "[]\n"
    final_code, final_err = training_runs["final"]
    assert final_code == 0 and "max_epochs=3` reached" in (training_runs["resumed"].dir / "graphormer.log").read_text()


def test_resume_refuses_a_change_of_what_was_trained(training_runs, tmp_path):
    run = training_runs["resumed"].dir
    for change in ("trainer.max_epochs=30", "optim.lr=1e-3", "model=base", f"data.path={tmp_path / 'x.csv'}",
                   "seed=1"):
        proc = subprocess.run([sys.executable, "-m", "graphormer", "train", f"resume={run}", change], cwd=tmp_path,
                              env=ENV, capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and "would change what" in lines[0], (change, proc.stderr)
    assert sorted(p.name for p in (run / ".hydra").glob("resume-*")) == ["resume-1-overrides.yaml",
                                                                         "resume-2-overrides.yaml"]


def test_sigkill_exit_code(training_runs):
    code, _ = training_runs["sigkill"]
    assert code == -signal.SIGKILL


# ---------------------------------------------------------------------------------- reproducibility
def test_same_seed_same_loss_curve(training_runs):
    """Two runs, same seed, config and thread count: the loss curves are bit-identical."""
    first, second = training_runs["reference"].metrics(), training_runs["repeat"].metrics()
    losses = lambda rows: [(r["step"], r["train/loss"]) for r in rows if r["train/loss"]]  # noqa: E731
    assert len(losses(first)) == 24 and losses(first) == losses(second)
    assert first == second
    want, got = _weights(training_runs["reference"]), _weights(training_runs["repeat"])
    assert all(torch.equal(want[k], got[k]) for k in want)


# -------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A save that dies half-way leaves the previous checkpoint intact and no stray file."""
    from graphormer.train.resume import SafeCheckpointIO

    io = SafeCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()

    def dies_half_way(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(3))


def test_trainer_uses_the_atomic_writer():
    """Lightning's default writer goes through fsspec's temp file in /tmp and a copy when /tmp is another
    file system, so a crash can leave a partial file; the train run installs SafeCheckpointIO instead."""
    source = (REPO / "graphormer" / "train" / "run.py").read_text()
    assert "plugins=[SafeCheckpointIO(module)]" in source


def test_metrics_rows_cut_short_by_a_crash_are_dropped(tmp_path):
    """Resuming drops rows of the steps it logs again and a last row the crash cut in half."""
    from graphormer.train.resume import _ResumableWriter

    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train/loss\n0,0,1.5\n0,1,1.4\n0,2,1.3\n0,3,1.")
    writer = _ResumableWriter(str(tmp_path), resume=True)
    writer.log_metrics({"train/loss": 1.25, "epoch": 0}, step=2)
    assert path.read_text().splitlines() == ["epoch,step,train/loss", "0,0,1.5", "0,1,1.4", "0,2,1.25"]


def test_sigterm_stops_like_ctrl_c(tmp_path):
    """A scheduler's SIGTERM takes the Ctrl-C path (save after the step, stop); exit status 128 + 15."""
    from graphormer.train.resume import StopOnInterrupt

    stop = StopOnInterrupt(tmp_path / "last.ckpt")
    stop._handler(signal.SIGTERM, None)
    assert stop.requested == signal.SIGTERM
    error = stop.error()
    assert error.exit_code == 143 and str(tmp_path / "last.ckpt") in str(error)
    with pytest.raises(KeyboardInterrupt):  # a second signal aborts at once
        stop._handler(signal.SIGTERM, None)


def test_loader_resumes_at_its_position_and_gets_each_epoch():
    """The training loader: a fresh loader given the saved state yields exactly the rest of that epoch;
    Lightning's per-epoch hook reaches the size-bucketed sampler (else every epoch repeats epoch 0's order)."""
    import numpy as np
    from lightning.fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    from graphormer.data.sampler import SizeBucketBatchSampler
    from graphormer.train.resume import ResumableLoader

    sizes = np.random.default_rng(0).integers(5, 40, size=100)

    def loader() -> ResumableLoader:
        sampler = SizeBucketBatchSampler(sizes, batch_size=8, shuffle=True, seed=1)
        return ResumableLoader(DataLoader(list(range(100)), batch_sampler=sampler, collate_fn=list), seed=1)

    first = loader()
    _set_sampler_epoch(first, 2)
    assert first.epoch == 2
    epoch2 = list(first)
    _set_sampler_epoch(first, 3)
    assert list(first) != epoch2  # a new order each epoch
    _set_sampler_epoch(first, 2)
    it = iter(first)
    done = [next(it) for _ in range(5)]
    state = first.state_dict()
    assert state == {"epoch": 2, "position": 5} and done == epoch2[:5]
    second = loader()
    second.load_state_dict(state)
    assert list(second) == epoch2[5:]
    assert list(second) == epoch2  # the skip applies to one pass only


# -------------------------------------------------------------------------------------------- TensorBoard
class TensorBoardRun(Run):
    """A Run with logger=tensorboard; its progress is read from the event files (flushed at every log)."""

    def __init__(self, folder: Path, name: str, data: Path, *extra: str):
        super().__init__(folder, name, data, "logger=tensorboard", *extra)
        self._progress = None  # an accumulator that reads on where it stopped, for last_step

    @staticmethod
    def _accumulator(folder: Path, purge: bool = True):
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        return EventAccumulator(str(folder), size_guidance={"scalars": 0}, purge_orphaned_data=purge)

    def scalars(self, purge: bool = True) -> dict[str, list[tuple[int, float]]]:
        """tag -> [(step, value)] as TensorBoard reads the run directory (purge=False: every event on disk)."""
        events = self._accumulator(self.dir, purge).Reload()
        return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}

    def last_step(self) -> int:
        self._progress = self._progress or self._accumulator(self.dir)
        scalars = self._progress.Reload()
        return max((e.step for e in scalars.Scalars("train/loss")), default=-1) \
            if "train/loss" in scalars.Tags()["scalars"] else -1


def _series(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """metrics.csv rows as TensorBoard's scalar series (float32 values, as TensorBoard stores them)."""
    import numpy as np

    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if value != "" and key != "step":
                series.setdefault(key, []).append((int(row["step"]), float(np.float32(float(value)))))
    return series


def test_tensorboard_resume_replaces_the_replayed_steps(training_runs):
    """logger=tensorboard, SIGKILLed after the step-10 checkpoint and resumed: TensorBoard reads the scalars of
    the uninterrupted run (metrics.csv of `reference`), each step once; the killed run's events of the steps
    logged again are still in its file but hidden by the resumed run's purge marker."""
    folder, data = training_runs["folder"], training_runs["data"]
    killed = TensorBoardRun(folder, "tensorboard", data)
    killed.signal_at(12, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    resumed_from = killed.checkpoint()["global_step"]
    resumed = TensorBoardRun(folder, "tensorboard", data, "ckpt_path=last")
    assert resumed.wait() == 0, resumed.stderr[-3000:]

    on_disk = [step for step, _ in resumed.scalars(purge=False)["train/loss"]]
    assert len(on_disk) > len(set(on_disk)), f"nothing logged twice (resumed from step {resumed_from})"
    got = resumed.scalars()
    for tag, points in got.items():  # epoch: one value per row, and a step may have a train and a val row
        steps = [step for step, _ in points]
        assert tag == "epoch" or len(steps) == len(set(steps)), f"{tag}: a step twice: {steps}"
    assert sorted(step for step, _ in got["train/loss"]) == list(range(24))
    assert got == _series(training_runs["reference"].metrics())
