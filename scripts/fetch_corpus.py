"""Fetch and check the pretraining corpus (MOSES train split, 1,584,663 molecules, MIT licence).

    python scripts/fetch_corpus.py [--root data]          → <root>/moses/train.csv.gz

The file is a member of the `molsets` 0.3.1 wheel; the wheel is downloaded with `pip download --no-deps`
(no install: molsets pulls old, hard-to-build dependencies) and the member is extracted and checked against
its sha256. An existing file is only checked. Then:

    graphormer train experiment=pretrain_slim data.root=<root>
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from graphormer.files import sha256_of

SHA256 = "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c"
SIZE = 10_238_967
MEMBER = "moses/dataset/data/train.csv.gz"
WHEEL = "molsets==0.3.1"


def check(path: Path) -> bool:
    ok = path.stat().st_size == SIZE and sha256_of(path) == SHA256
    print(f"{path}: {'ok' if ok else 'MISMATCH'} (sha256 {SHA256 if ok else sha256_of(path)})")
    return ok


def fetch(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("molsets-*.whl"))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, open(partial, "wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        partial.replace(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data", help="data root; the file goes to <root>/moses/train.csv.gz")
    args = parser.parse_args()
    target = Path(args.root) / "moses" / "train.csv.gz"
    if not target.is_file():
        fetch(target)
    return 0 if check(target) else 1


if __name__ == "__main__":
    raise SystemExit(main())
