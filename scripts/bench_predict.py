"""Predict throughput: molecules/s of `graphormer predict` (streaming CSV → CSV) with the slim model.

    python scripts/bench_predict.py                       # random-init slim model, 4,999 NCI molecules
    python scripts/bench_predict.py --ckpt run/checkpoints/best.ckpt --repeats 5 --threads 1 2

Reports the median over repeats of the end-to-end rate (read, featurize, batch, model, write) and, split
out, the model-only rate on the same batches, so it is clear which part bounds throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def nci_csv(path: Path, copies: int) -> int:
    from rdkit import RDConfig

    lines = [line for line in (Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv").read_text().splitlines()
             if line and not line.startswith("#")]
    with open(path, "w") as handle:
        handle.write("smiles,tpsa\n")
        for _ in range(copies):
            handle.write("\n".join(lines) + "\n")
    return len(lines) * copies


def slim_checkpoint(path: Path) -> Path:
    from graphormer.model import SLIM, MoleculeModel

    return MoleculeModel(dict(SLIM), target_names=["tpsa"]).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", help="checkpoint to use (default: a random-init slim model)")
    parser.add_argument("--copies", type=int, default=1, help="repeat the 4,999 NCI molecules this many times")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from graphormer.inference import Predictor, predict_file

    work = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    rows = nci_csv(work / "input.csv", args.copies)
    ckpt = Path(args.ckpt) if args.ckpt else slim_checkpoint(work / "slim.pt")
    predictor = Predictor.from_checkpoints([ckpt])
    results = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        end_to_end, model_only = [], []
        for _ in range(args.repeats):
            stats = predict_file(predictor, work / "input.csv", work / "out.csv", progress=False)
            end_to_end.append(stats["rate"])
            # Model only: same molecules, already featurized.
            from graphormer.inference.readers import InputReader

            graphs, _, _ = predictor.featurize_records(list(InputReader(work / "input.csv")))
            start = time.perf_counter()
            predictor.predict_graphs(graphs)
            model_only.append(len(graphs) / (time.perf_counter() - start))
        results[threads] = (statistics.median(end_to_end), statistics.median(model_only))
        print(f"threads={threads}: end-to-end {results[threads][0]:,.0f} molecules/s, "
              f"model+collate only {results[threads][1]:,.0f} molecules/s ({rows:,} rows, median of {args.repeats})")
    print(json.dumps({"rows": rows, **{f"predict_rate_{t}t": round(r[0], 1) for t, r in results.items()},
                      **{f"model_rate_{t}t": round(r[1], 1) for t, r in results.items()}}))


if __name__ == "__main__":
    main()
