"""RDKit descriptors for a list of SMILES: parallel, cached in chunks (an interrupted run resumes), with a rate.

Each chunk of CHUNK SMILES is one `.npy` file named by a hash of its SMILES, the descriptor names and the RDKit
version, so a second run (or the other DDP ranks) reads the files and an interrupted run recomputes only the
chunks it had not finished.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from graphormer.chem.descriptors import calc_descriptors
from graphormer.data.cache import default_workers
from graphormer.files import atomic_write

log = logging.getLogger(__name__)

CHUNK = 1000


def _chunk_key(smiles: Sequence[str], names: Sequence[str]) -> str:
    from rdkit import __version__ as rdkit_version

    digest = hashlib.sha256(f"{rdkit_version}\n{','.join(names)}\n".encode())
    digest.update("\n".join(smiles).encode())
    return digest.hexdigest()[:24]


def _compute_chunk(args: tuple[list[str], list[str]]) -> np.ndarray:
    smiles, names = args
    return np.stack([calc_descriptors(s, names) for s in smiles]) if smiles else np.zeros((0, len(names)))


def _save(path: Path, values: np.ndarray) -> None:
    with atomic_write(path) as handle:
        np.save(handle, values)


def descriptor_matrix(smiles: Sequence[str], names: Sequence[str], cache_dir: str | Path | None = None,
                      workers: int | None = None, progress: bool = True) -> np.ndarray:
    """float32 [len(smiles), len(names)] of raw descriptor values (NaN where missing)."""
    smiles, names = list(smiles), list(names)
    chunks = [smiles[i:i + CHUNK] for i in range(0, len(smiles), CHUNK)]
    folder = Path(cache_dir) / "descriptors" if cache_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{_chunk_key(c, names)}.npy" if folder is not None else None for c in chunks]
    results: list[np.ndarray | None] = [None] * len(chunks)
    for k, path in enumerate(paths):
        if path is not None and path.is_file():
            try:
                values = np.load(path)
                if values.shape == (len(chunks[k]), len(names)):
                    results[k] = values
            except (OSError, ValueError):  # a damaged chunk is recomputed
                pass
    todo = [k for k, r in enumerate(results) if r is None]
    n_todo = sum(len(chunks[k]) for k in todo)
    workers = default_workers(n_todo, threshold=2 * CHUNK) if workers is None else workers
    bar = tqdm(total=n_todo, desc="descriptors", unit="mol", disable=not progress or n_todo == 0, leave=False)
    start = time.perf_counter()

    def collect(k: int, values: np.ndarray) -> None:
        values = values.astype(np.float32)
        results[k] = values
        if paths[k] is not None:
            _save(paths[k], values)
        bar.update(len(values))

    jobs = [(chunks[k], names) for k in todo]
    if workers > 1 and len(jobs) > 1:
        from graphormer.data.featurize import _pool

        with _pool(workers) as pool:
            for k, values in zip(todo, pool.imap(_compute_chunk, jobs)):
                collect(k, values)
    else:
        for k, job in zip(todo, jobs):
            collect(k, _compute_chunk(job))
    bar.close()
    if n_todo:
        seconds = time.perf_counter() - start
        log.info("computed %d descriptors for %d molecules in %.0f s (%.0f mol/s, %d workers); %d from cache",
                 len(names), n_todo, seconds, n_todo / max(seconds, 1e-9), max(workers, 1), len(smiles) - n_todo)
    if not results:
        return np.zeros((0, len(names)), dtype=np.float32)
    return np.concatenate(results).astype(np.float32, copy=False)
