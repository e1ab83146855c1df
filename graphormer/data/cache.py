"""Where caches live, what names them, and how several processes (DDP ranks) share one.

The cache directory defaults to `<root>/cache`; when that cannot be written (a read-only data root),
the first writable of `./data/cache` and `<tmp>/graphormer-cache` is used instead, with a log line.
One file lock per cache file makes exactly one process build it while the others wait and then read it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from graphormer.files import atomic_write

if TYPE_CHECKING:
    from graphormer.data.table import Records

log = logging.getLogger(__name__)

_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, for this process


def _marked_read_only(directory: Path) -> bool:
    """True when the nearest existing folder has no write bit at all (r-x): honoured even for root,
    who could otherwise write into a data folder that was meant to be read-only."""
    folder = directory
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return not folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _writable(directory: Path) -> bool:
    if _marked_read_only(directory):
        return False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


def resolve_cache_dir(cache_dir: str | Path | None, root: str | Path) -> Path:
    """The cache directory to use: `cache_dir`, else `<root>/cache`, else a writable fallback."""
    wanted = Path(cache_dir) if cache_dir else Path(root) / "cache"
    if _writable(wanted):
        return wanted
    for fallback in (Path("data") / "cache", Path(tempfile.gettempdir()) / "graphormer-cache"):
        if fallback.resolve() != wanted.resolve() and _writable(fallback):
            log.warning("cache directory %s is not writable; caching featurized molecules in %s instead",
                        wanted, fallback.resolve())
            return fallback
    raise OSError(f"no writable cache directory ({wanted}, data/cache, {tempfile.gettempdir()})")


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes (memoised per process on path, size and modification time)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


@contextlib.contextmanager
def file_lock(target: Path) -> Iterator[None]:
    """Exclusive lock on `<target>.lock` across processes on this machine (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: single-process use only
        yield
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{target}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish writing %s", target)
            fcntl.flock(handle, fcntl.LOCK_EX)  # blocks until the builder releases it
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_workers(n_items: int, threshold: int = 5000, cap: int = 8) -> int:
    """Featurization processes when the user gave none: in-process for small tables, else up to `cap`."""
    if n_items <= threshold:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    workers = min(cpus, cap)
    return workers if workers > 1 else 0


def materialized(make: "Callable[[], Records]", out: Path, source: str, files: list[str]) -> "Records":
    """Records from an RDKit-heavy reader (SDF, ZINC pickles), converted once and kept as a CSV in the cache.

    `make()` is called only when `out` does not exist yet; it is written atomically under a lock, and every
    later run reads that CSV instead, so it does no RDKit work. Row numbers and per-record problems are kept.
    """
    from graphormer.data.table import Records, csv_records

    with file_lock(out):
        if not out.is_file():
            records = make()
            with atomic_write(out) as raw, gzip.open(raw, "wt", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["__row__", "__problem__", *records.columns])
                blank = [""] * len(records.columns)
                for row, cells, problem in records.read():
                    writer.writerow([row, problem or "", *(cells if cells is not None else blank)])
            log.info("converted %s once into %s", source, out)
    stored = csv_records(out)

    def read():
        for _, cells, _ in stored.read():
            row, problem, *values = cells
            yield int(row), (None if problem else values), (problem or None)

    return Records(source, stored.columns[2:], read, files=list(files))
