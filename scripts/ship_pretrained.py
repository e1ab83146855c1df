"""Turn a pretraining run into the weights the package ships (`pretrained=slim`), with its records.

    python scripts/ship_pretrained.py outputs/pretrain_slim [--name slim]

Writes, from <run>/checkpoints/best.ckpt:
  graphormer/pretrained/<file>            compact inference checkpoint (MoleculeModel.save)
  graphormer/pretrained/manifest.json     file, sha256, bytes, the embeddings of three fixed molecules
                                          (checked by the tests), corpus and training facts
  graphormer/chem/descriptor_scaling.json the descriptor scaling fitted on the corpus (model.extra_features)
  docs/pretrained_curve.png               train / validation loss per step, from <run>/metrics.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXED_MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]


def curve(metrics: Path, out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics, newline="") as handle:
        rows = list(csv.DictReader(handle))
    train = [(int(r["step"]), float(r["train/loss"])) for r in rows if r.get("train/loss")]
    val = [(int(r["step"]), float(r["val/loss"])) for r in rows if r.get("val/loss")]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if train:
        steps, loss = zip(*train)
        window = 20
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid") if len(loss) > window else loss
        ax.plot(steps[len(steps) - len(smooth):], smooth, label="train loss (moving mean of 20 logs)", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss", color="C3")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE on standardised descriptors")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return {"final_val_loss": val[-1][1] if val else None, "val_curve": val, "steps": train[-1][0] if train else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--name", default="slim")
    parser.add_argument("--file", default="slim_descriptors.pt")
    args = parser.parse_args()

    from graphormer.chem import smiles_to_graph
    from graphormer.chem.descriptors import DescriptorScaler
    from graphormer.inference import Predictor
    from graphormer.model.molecule import MoleculeModel
    from graphormer.pretrained import sha256_of

    model = MoleculeModel.load(args.run / "checkpoints" / "best.ckpt")
    target = REPO / "graphormer" / "pretrained" / args.file
    model.save(target)
    scaling = sorted((REPO / "data" / "cache" / "descriptors").glob("scaling-*.json"))
    scaler = DescriptorScaler.load(max(scaling, key=lambda p: p.stat().st_mtime))
    assert scaler.names == model.target_names, "the scaling does not belong to this run's targets"
    scaler.save(REPO / "graphormer" / "chem" / "descriptor_scaling.json")
    facts = curve(args.run / "metrics.csv", REPO / "docs" / "pretrained_curve.png")
    embeddings = Predictor([model]).embed_graphs([smiles_to_graph(s) for s in FIXED_MOLECULES])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    manifest_path = REPO / "graphormer" / "pretrained" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[args.name] = {
        "file": args.file, "sha256": sha256_of(target), "bytes": target.stat().st_size,
        "fixed_molecules": FIXED_MOLECULES, "embeddings": np.round(embeddings.astype(np.float64), 6).tolist(),
        "targets": len(model.target_names), "descriptor_scaling_fitted_on": scaler.fitted_on,
        "steps": facts["steps"], "final_val_loss": facts["final_val_loss"], "commit": commit,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps({k: v for k, v in manifest[args.name].items() if k != "embeddings"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
