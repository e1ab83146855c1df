"""What a training run needs to survive a crash and continue exactly where it stopped.

* `SafeCheckpointIO`: checkpoints are written to a temporary file beside the target, fsynced and renamed
  (a crash never leaves a half-written `last.ckpt`); a truncated, corrupted or foreign checkpoint is
  reported with its path instead of being loaded.
* `SaveLast`: `last.ckpt` after every epoch and every `checkpoint_every_n_steps` steps.
* `ResumableLoader`: the training loader knows how many batches of the epoch it handed out and can skip
  them on resume. It also lets Lightning set the sampler's epoch (the size-bucketed batch sampler has no
  `.sampler` of its own, so Lightning never reshuffled it).
* `ResumeState`: torch, numpy and Python random states and the loader position travel in the checkpoint.
* `ResumableCSVLogger`: metrics.csv survives a resume (Lightning's writer deletes it); rows reach the disk
  as they are logged, and rows the resumed run logs again are dropped first, so no step is missing or doubled.
* `ResumableTensorBoardLogger`: the same rule for TensorBoard's event files.
* `StopOnInterrupt`: the first Ctrl-C or SIGTERM finishes the current step, saves `last.ckpt`, stops the run.
"""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import sys
import threading
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, Checkpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Sampler

from graphormer.data.datamodule import MoleculeDataModule
from graphormer.errors import CheckpointError, TrainingInterrupted  # noqa: F401  (re-exported)
from graphormer.files import atomic_write


# ------------------------------------------------------------------------------------------ checkpoints
def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def check_resumable(ckpt: Any, path: str, module: L.LightningModule | None) -> None:
    """A training checkpoint of this very model and task, or a CheckpointError naming `path`."""
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a graphormer checkpoint (no state_dict)")
    if "loops" not in ckpt or "optimizer_states" not in ckpt:
        raise CheckpointError(f"{path}: not a training checkpoint (an inference checkpoint cannot resume training; "
                              f"fine-tune from it instead)")
    if module is None:
        return
    saved = ckpt.get("hyper_parameters") or {}
    for key in ("task", "target_names", "num_classes"):
        mine, theirs = module.hparams.get(key), saved.get(key)
        if isinstance(mine, (list, tuple)) or isinstance(theirs, (list, tuple)):
            mine, theirs = list(mine or []), list(theirs or [])
        if mine != theirs:
            raise CheckpointError(f"{path}: checkpoint of another task ({key} {theirs!r}; this run: {mine!r})")
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items() if torch.is_tensor(v)}
    if shapes != stored:
        key = next(k for k in sorted(set(shapes) | set(stored)) if shapes.get(k) != stored.get(k))
        raise CheckpointError(f"{path}: checkpoint of another model ({key}: {stored.get(key)} in the file, "
                              f"{shapes.get(key)} in this run's model)")


class SafeCheckpointIO(TorchCheckpointIO):
    """Atomic checkpoint writes; clear, path-naming errors for unusable checkpoints."""

    def __init__(self, module: L.LightningModule | None = None):
        super().__init__()
        self.module = module

    def save_checkpoint(self, checkpoint: dict, path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("SafeCheckpointIO takes no storage_options")
        with atomic_write(path) as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(self, path, map_location: Any = lambda storage, loc: storage,
                        weights_only: bool | None = None) -> dict:
        if not Path(path).is_file():
            raise CheckpointError(f"{path}: checkpoint not found")
        try:
            ckpt = super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except Exception as err:  # truncated zip, random bytes, pickle errors...
            raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(err)})") from None
        check_resumable(ckpt, str(path), self.module)
        return ckpt


# ----------------------------------------------------------------------------------------- the loader
class _SkipBatches(Sampler[list[int]]):
    """Wraps a batch sampler; its next pass starts `skip` batches in (the part of a resumed epoch already done)."""

    def __init__(self, batches: Sampler):
        self.sampler = batches  # Lightning calls `batch_sampler.sampler.set_epoch(epoch)` every epoch
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[list[int]]:
        skip, self.skip = self.skip, 0
        return islice(iter(self.sampler), skip, None)


class ResumableLoader(DataLoader):
    """The training DataLoader with a position (`state_dict` / `load_state_dict`): ResumeState saves it in
    every checkpoint and restores it before a part-done epoch continues.

    It has its own random generator (for worker seeds) so that creating an epoch's iterator does not draw
    from torch's global RNG, which must continue in a resumed run exactly as in an uninterrupted one.
    """

    def __init__(self, loader: DataLoader, seed: int = 0):
        workers = loader.num_workers
        super().__init__(loader.dataset, batch_sampler=_SkipBatches(loader.batch_sampler),
                         collate_fn=loader.collate_fn, num_workers=workers, pin_memory=loader.pin_memory,
                         timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
                         multiprocessing_context=loader.multiprocessing_context,
                         generator=torch.Generator().manual_seed(seed),
                         prefetch_factor=loader.prefetch_factor if workers else None,
                         persistent_workers=loader.persistent_workers)
        self.position = 0  # batches of the current epoch handed to the training loop

    def __iter__(self):
        self.position = self.batch_sampler.skip
        for batch in super().__iter__():
            self.position += 1
            yield batch

    @property
    def epoch(self) -> int:
        return getattr(self.batch_sampler.sampler, "epoch", 0)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.set_epoch(int(state.get("epoch", self.epoch)))
        position = int(state.get("position", 0))
        self.batch_sampler.skip = position if position < len(self) else 0


class ResumableDataModule(MoleculeDataModule):
    """MoleculeDataModule whose training loader is a ResumableLoader."""

    def train_dataloader(self) -> ResumableLoader:
        return ResumableLoader(super().train_dataloader(), seed=self.seed)


# ---------------------------------------------------------------------------------------- RNG states
def rng_states() -> dict:
    """Global random states, as types `torch.load(weights_only=True)` accepts."""
    numpy_state = np.random.get_state(legacy=False)
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": {**numpy_state, "state": {"key": numpy_state["state"]["key"].tolist(),
                                                 "pos": int(numpy_state["state"]["pos"])}}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(_as_tuples(states["python"]))
    numpy_state = dict(states["numpy"])
    numpy_state["state"] = {"key": np.asarray(numpy_state["state"]["key"], dtype=np.uint32),
                            "pos": numpy_state["state"]["pos"]}
    np.random.set_state(numpy_state)
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuples(value):
    """random.setstate wants tuples; a checkpoint round trip may hand back lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class ResumeState(Callback):
    """Saves the global random states and the training loader's position in every checkpoint; restores
    both when training resumes.

    Lightning restores a stateful loader itself only when the loader is first built after the checkpoint
    is loaded; here `configure_optimizers` builds it earlier (estimated_stepping_batches), so the position
    is applied at train start, before the first batch is drawn.
    """

    def __init__(self):
        self._loader_state: dict | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["rng_states"] = rng_states()
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            checkpoint["train_loader"] = loader.state_dict()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return
        if "rng_states" in checkpoint:
            set_rng_states(checkpoint["rng_states"])
        self._loader_state = checkpoint.get("train_loader")

    def on_train_start(self, trainer, pl_module) -> None:
        loader, state = trainer.train_dataloader, self._loader_state
        # Only a part-done epoch resumes mid-way (an epoch cut by limit_train_batches is done).
        if state is not None and isinstance(loader, ResumableLoader) \
                and state.get("position", 0) < trainer.num_training_batches:
            loader.load_state_dict(state)
        self._loader_state = None


# ---------------------------------------------------------------------------------------- metrics.csv
def _step_of(line: str, column: int) -> int | None:
    try:
        return int(float(next(csv.reader([line]))[column]))
    except (StopIteration, IndexError, ValueError):
        return None


class _ResumableWriter(ExperimentWriter):
    """Writes each logged row at once; when resuming, keeps the earlier rows and drops those logged again."""

    def __init__(self, log_dir: str, resume: bool):
        self.resume = resume
        super().__init__(log_dir)
        if resume and os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = next(csv.reader(handle), [])
        self._trim_pending = resume

    def _check_log_dir_exists(self) -> None:
        if not self.resume and os.path.isfile(self.metrics_file_path):
            os.remove(self.metrics_file_path)  # a fresh run in a used directory starts a fresh file

    def log_metrics(self, metrics_dict: dict, step: int | None = None) -> None:
        super().log_metrics(metrics_dict, step)
        if self._trim_pending:
            self._drop_rows_from(self.metrics[-1]["step"])
            self._trim_pending = False
        self.save()

    def _drop_rows_from(self, step: int) -> None:
        """Remove rows of `step` and later (the resumed run logs them again) and any row cut short by a crash."""
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with open(path, newline="") as handle:  # keep the csv module's \r\n line ends as they are
            lines = handle.read().splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines.pop()
        if not lines:
            path.unlink()
            return
        header = next(csv.reader(lines[:1]))
        column = header.index("step") if "step" in header else -1
        keep = lines[:1] + [l for l in lines[1:] if (s := _step_of(l, column)) is not None and s < step]
        with atomic_write(path) as handle:
            handle.write("".join(keep).encode())

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
        with atomic_write(self.metrics_file_path) as handle:
            handle.write(text.getvalue().encode())


class ResumableCSVLogger(CSVLogger):
    def __init__(self, save_dir, resume: bool = False):
        super().__init__(save_dir=save_dir, name="", version="")
        self.resume = resume

    @property
    @rank_zero_experiment
    def experiment(self) -> _ResumableWriter:
        if self._experiment is None:
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(log_dir=self.log_dir, resume=self.resume)
        return self._experiment


# ----------------------------------------------------------------------------------------- TensorBoard
class ResumableTensorBoardLogger(TensorBoardLogger):
    """Event files in the run directory; events of the steps a resumed run logs again are hidden, as their rows
    are dropped from metrics.csv (else readers show the steps between the last checkpoint and a crash twice).

    `SummaryWriter(purge_step=s)` starts its event file with a SessionLog.START marker at step s, and
    TensorBoard then ignores the events at steps >= s of the earlier files. s is the first step this run
    logs, known only at the first `log_metrics`, after Lightning has created the writer (it touches
    `experiment` at setup), so the same marker is written then. A fresh run (first step 0) in a used
    directory hides the earlier events, as the CSV logger starts a fresh file. No `hp_metric` placeholder:
    every run, resumed ones too, would log it again at step 0 (and create the writer in log_hyperparams).
    """

    def __init__(self, save_dir):
        super().__init__(save_dir=save_dir, name="", version="", default_hp_metric=False)
        self._purged = False

    @rank_zero_only
    def log_metrics(self, metrics, step: int | None = None) -> None:
        if not self._purged and step is not None:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            start = Event(step=step, session_log=SessionLog(status=SessionLog.START))
            self.experiment._get_file_writer().add_event(start)  # what purge_step writes
            self._purged = True
        super().log_metrics(metrics, step)


# ------------------------------------------------------------------------------------------ last.ckpt
class SaveLast(Checkpoint):  # a Checkpoint: Lightning runs it after the best-model ModelCheckpoint
    """`last.ckpt` always holds the latest state: at the end of every epoch (after its validation), and every
    `every_n_steps` training steps (mid-epoch). Lightning's ModelCheckpoint(save_last=True) refreshes it only
    in epochs whose monitored metric improved, so `ckpt_path=last` would lose the epochs after the best one.

    The epoch-end save comes after the best-model callback has seen the validation (both act at train epoch
    end), so its best score travels in the checkpoint. An epoch's last batch gets no step checkpoint: a
    checkpoint between that batch and the epoch end would make Lightning repeat the epoch on resume.
    """

    def __init__(self, path: Path, every_n_steps: int | None = None):
        self.path = Path(path)
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        every = self.every_n_steps
        if every and trainer.global_step % every == 0 and batch_idx + 1 < trainer.num_training_batches \
                and not trainer.fast_dev_run:
            trainer.save_checkpoint(self.path, weights_only=False)  # a full, resumable state

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.fast_dev_run:
            trainer.save_checkpoint(self.path, weights_only=False)  # a full, resumable state


# ------------------------------------------------------------------------------------------- Ctrl-C
class StopOnInterrupt(Checkpoint):
    """First Ctrl-C or SIGTERM (a scheduler's preemption): finish the running step, save `path`, stop.
    A second one aborts at once.

    Single-process runs only (under DDP every rank would have to agree on the step; Lightning's own
    handling applies there).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, path: Path, command: str | None = None):
        self.path = Path(path)
        self.command = command or f"graphormer train resume={self.path.parent.parent}"
        self.requested: int | None = None  # the signal received
        self.saved_step: int | None = None
        self._previous: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signum
        print(f"\n{signal.Signals(signum).name}: stopping after the current training step (again to abort now)",
              file=sys.stderr, flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.world_size == 1 and threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handler) for s in self.SIGNALS}

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _save(self, trainer) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)  # a full, resumable state
        self.saved_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # After an epoch's last batch, wait for the epoch's end (validation, best model): a checkpoint
        # saved in between would make Lightning repeat the epoch on resume.
        if self.requested and self.saved_step is None and batch_idx + 1 < trainer.num_training_batches:
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.requested and self.saved_step is None:
            self._save(trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.saved_step is not None:  # the previous step's metrics are logged by now
            raise self.error()

    def error(self) -> TrainingInterrupted:
        where = f"step {self.saved_step}" if self.saved_step is not None else "the last checkpoint"
        return TrainingInterrupted(f"interrupted: training stopped; {self.path} holds {where}; "
                                   f"continue with: {self.command}", self.requested or signal.SIGINT)

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._restore()
