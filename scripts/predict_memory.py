"""Peak memory of `graphormer predict` as the input grows: it streams, so the peak must stay flat.

    python scripts/predict_memory.py                          # 100k and 1M rows, slim model, CPU, 1 thread
    python scripts/predict_memory.py --rows 100000 300000 --chunk-size 4096 --threads 1

Builds CSVs of real molecules (the 4,999 NCI molecules inside the RDKit wheel, repeated), a random-init
slim inference checkpoint, then runs `python -m graphormer predict` on each file as a separate process and
reports its peak resident memory (the kernel's ru_maxrss from wait4) and its RSS sampled at 10 %, 50 % and
90 % of the rows. Not part of the test suite: 1M rows take tens of minutes on a small CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def nci_smiles() -> list[str]:
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"
    return [line.rsplit(",", 1)[0] for line in path.read_text().splitlines() if line and not line.startswith("#")]


def write_csv(path: Path, rows: int) -> None:
    """`rows` molecules (the NCI set repeated), streamed to disk."""
    smiles = nci_smiles()
    with open(path, "w") as handle:
        handle.write("id,smiles\n")
        for i in range(rows):
            handle.write(f"m{i},{smiles[i % len(smiles)]}\n")


def slim_checkpoint(path: Path) -> Path:
    from graphormer.model import SLIM, MoleculeModel

    return MoleculeModel(dict(SLIM), target_names=["tpsa"]).save(path)


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rows_done(output: Path) -> int:
    """Rows written so far (the output is a temp file beside `output` until the end)."""
    done = 0
    for tmp in output.parent.glob(output.name + "*.tmp"):
        try:
            done = max(done, tmp.stat().st_size)
        except OSError:
            pass
    return done


def measure(ckpt: Path, data: Path, rows: int, chunk_size: int, threads: int, device: str) -> dict:
    """Run predict on `data`; peak RSS (wait4) and RSS samples by fraction of output bytes written."""
    output = data.with_suffix(".pred.csv")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    argv = [sys.executable, "-m", "graphormer", "predict", f"ckpt_path={ckpt}", f"input={data}", f"output={output}",
            "smiles_column=smiles", f"chunk_size={chunk_size}", f"device={device}", "progress=false"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[int, int]] = []  # (output bytes, rss KiB)

    def sample() -> None:
        while proc.returncode is None:
            rss = _rss_kib(proc.pid)
            if rss is not None:
                samples.append((_rows_done(output), rss))
            time.sleep(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    thread.join()
    out, err = proc.stdout.read(), proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"predict failed ({proc.returncode}):\n{err[-3000:]}")
    seconds = time.perf_counter() - started
    total = output.stat().st_size
    at = {}
    for fraction in (0.1, 0.5, 0.9):
        later = [rss for done, rss in samples if done >= fraction * total]
        at[f"rss_mib_at_{int(fraction * 100)}pct"] = round(later[0] / 1024, 1) if later else None
    output.unlink()
    return {"rows": rows, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), **at, "seconds": round(seconds, 1),
            "rows_per_s": round(rows / seconds), "summary": out.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workdir", type=Path, default=None, help="where the CSVs go (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        folder = Path(folder)
        ckpt = slim_checkpoint(folder / "slim.ckpt")
        results = []
        for rows in args.rows:
            data = folder / f"rows_{rows}.csv"
            write_csv(data, rows)
            result = measure(ckpt, data, rows, args.chunk_size, args.threads, args.device)
            data.unlink()
            print(json.dumps(result), flush=True)
            results.append(result)
        first, last = results[0], results[-1]
        print(f"peak RSS: {first['peak_rss_mib']} MiB at {first['rows']:,} rows, {last['peak_rss_mib']} MiB at "
              f"{last['rows']:,} rows (x{last['peak_rss_mib'] / first['peak_rss_mib']:.2f} for "
              f"x{last['rows'] / first['rows']:.0f} rows)")


if __name__ == "__main__":
    main()
