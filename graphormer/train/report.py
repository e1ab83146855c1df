"""What a finished run leaves in its folder besides checkpoints: `results.json` (final metrics, baseline, split
sizes, skipped rows, wall time, checkpoint path), `curves.png` (loss and monitored metric per epoch, from
metrics.csv) and a test-set plot: `parity.png` (regression) or `roc.png` (classification).

Plots use matplotlib's headless Agg backend; a plot that cannot be drawn is logged, never fatal.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def rows_and_skipped(summary: str | None, run_dir: Path) -> tuple[int | None, int | None]:
    """(input rows, skipped rows): from the datamodule's summary line, else from skipped_rows.csv."""
    match = re.search(r"skipped (\d[\d,]*) of (\d[\d,]*) rows", summary or "")
    if match:
        return int(match.group(2).replace(",", "")), int(match.group(1).replace(",", ""))
    skipped = run_dir / "skipped_rows.csv"
    if skipped.is_file():
        with open(skipped, newline="") as handle:
            return None, max(0, sum(1 for _ in csv.reader(handle)) - 1)
    return None, None


def write_results(run_dir: Path, results: dict) -> Path:
    path = run_dir / "results.json"
    _atomic_text(path, json.dumps(results, indent=2, default=_plain) + "\n")
    return path


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if torch.is_tensor(value):
        return value.item() if value.numel() == 1 else value.tolist()
    return str(value)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def epoch_curves(metrics_csv: Path) -> dict[str, dict[int, float]]:
    """column -> {epoch: value}: training columns averaged over the epoch's steps, others as logged."""
    sums: dict[str, dict[int, list[float]]] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                epoch = int(float(row.get("epoch") or "nan"))
            except ValueError:
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                try:
                    number = float(value)
                except ValueError:
                    continue
                if math.isfinite(number):
                    sums.setdefault(key, {}).setdefault(epoch, []).append(number)
    return {key: {e: float(np.mean(v)) for e, v in sorted(per.items())} for key, per in sums.items()}


def plot_curves(metrics_csv: Path, out: Path, metric: str) -> Path | None:
    """Train/val loss and the validation metric per epoch."""
    if not metrics_csv.is_file():
        return None
    curves = epoch_curves(metrics_csv)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train/loss", "train loss (epoch mean)"), ("val/loss", "val loss")):
        if key in curves:
            left.plot(list(curves[key]), list(curves[key].values()), marker="o", ms=3, label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    for key in sorted(k for k in curves if k.startswith("val/") and k != "val/loss"):
        right.plot(list(curves[key]), list(curves[key].values()), marker="o", ms=3, label=key,
                   linewidth=2.5 if key == f"val/{metric}" else 1.0)
    right.set_xlabel("epoch")
    right.set_ylabel("validation metric")
    if right.lines:
        right.legend()
    fig.suptitle(str(metrics_csv.parent.name))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


@torch.no_grad()
def test_predictions(module, loader) -> tuple[np.ndarray, np.ndarray]:
    """(targets, predictions) over `loader`: original units for regression, probabilities for classification."""
    was_training = module.training
    module.eval()
    ys, preds = [], []
    for batch in loader:
        batch = {k: v.to(module.device) if hasattr(v, "to") else v for k, v in batch.items()}  # tensors and the layout
        out = module(batch).float()
        if module.task == "classification":
            out = torch.sigmoid(out)
        elif module.task == "multiclass":
            out = torch.softmax(out, dim=-1)
        ys.append(batch["y"].float().cpu().numpy())
        preds.append(out.cpu().numpy())
    module.train(was_training)
    return np.concatenate(ys), np.concatenate(preds)


def plot_parity(y: np.ndarray, pred: np.ndarray, names: list[str], out: Path, title: str = "") -> Path:
    plt = _pyplot()
    n = len(names)
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 4.5), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], names)):
        ok = np.isfinite(y[:, i]) & np.isfinite(pred[:, i])
        t, p = y[ok, i], pred[ok, i]
        ax.scatter(t, p, s=8, alpha=0.6)
        if len(t):
            low, high = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
            ax.plot([low, high], [low, high], color="grey", linewidth=1)
            mae = float(np.abs(t - p).mean())
            ax.set_title(f"{name}: test MAE {mae:.4g} (n={len(t)})")
        ax.set_xlabel(f"true {name}")
        ax.set_ylabel(f"predicted {name}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_roc(y: np.ndarray, prob: np.ndarray, names: list[str], out: Path, title: str = "",
             most: int = 12) -> Path | None:
    """ROC curves of the test set, one per task with both classes present (at most `most` drawn)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    drawn = 0
    for i, name in enumerate(names):
        ok = np.isfinite(y[:, i])
        t, p = y[ok, i], prob[ok, i]
        if len(np.unique(t)) < 2 or drawn >= most:
            continue
        fpr, tpr, _ = roc_curve(t, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(t, p):.3f})")
        drawn += 1
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    if drawn:
        ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out if drawn else None


def write_plots(run_dir: Path, module, loader, metric: str, title: str = "") -> list[Path]:
    """curves.png and the test plot; failures are logged (a run is not failed by its pictures)."""
    written = []
    try:
        curve = plot_curves(run_dir / "metrics.csv", run_dir / "curves.png", metric)
        if curve:
            written.append(curve)
    except Exception as err:  # noqa: BLE001
        log.warning("curves.png not written: %s: %s", type(err).__name__, err)
    try:
        if module.task in ("regression", "classification"):
            y, pred = test_predictions(module, loader)
            names = list(module.hparams.target_names)
            if module.task == "regression":
                written.append(plot_parity(y, pred, names, run_dir / "parity.png", title))
            elif (roc := plot_roc(y, pred, names, run_dir / "roc.png", title)) is not None:
                written.append(roc)
    except Exception as err:  # noqa: BLE001
        log.warning("test plot not written: %s: %s", type(err).__name__, err)
    return written
