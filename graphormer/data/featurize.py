"""Turn a MoleculeTable into a GraphStore: parallel RDKit featurization, bad rows reported, cached on disk.

The cache file is named by a hash of the source files' bytes, the featurizer version, the options that
change the result and the SMILES list itself, so a changed file or featurizer never reuses stale graphs.
It is written atomically under a file lock: with DDP, one rank builds it and the others wait and load it.
A damaged cache file is rebuilt with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from graphormer.chem import FEATURIZER_VERSION, PARSER_VERSION, MoleculeError, smiles_to_graph
from graphormer.data.cache import default_workers, file_digest, file_lock
from graphormer.data.store import GraphStore
from graphormer.data.table import MoleculeTable, SkippedRow
from graphormer.graph import MAX_ATOMS

log = logging.getLogger(__name__)

_CHUNK = 512


def _featurize_chunk(args: tuple[list[str], bool]) -> tuple[GraphStore, list[int], list[str]]:
    """One chunk → its graphs as a compact store (cheap to send between processes) plus failures."""
    smiles, allow_valence_errors = args
    graphs, failed, reasons = [], [], []
    for i, smi in enumerate(smiles):
        try:
            graphs.append(smiles_to_graph(smi, allow_valence_errors=allow_valence_errors))
        except MoleculeError as err:
            failed.append(i)
            reasons.append(err.reason)
    return GraphStore.from_graphs(graphs), failed, reasons


def _pool(workers: int):
    # fork is cheapest where available; elsewhere the platform default (spawn) works since the
    # worker function is importable.
    method = "fork" if "fork" in mp.get_all_start_methods() else None
    return mp.get_context(method).Pool(workers)


def featurize_smiles(smiles: list[str], allow_valence_errors: bool = False, workers: int = 0,
                     progress: bool = True) -> tuple[GraphStore, dict[int, str]]:
    """Graphs of every parsable SMILES (input order) and {position: reason} for the others.

    workers <= 1 runs in this process; otherwise chunks go to a process pool.
    """
    chunks = [(smiles[i:i + _CHUNK], allow_valence_errors) for i in range(0, len(smiles), _CHUNK)]
    bar = tqdm(total=len(smiles), desc="featurizing", unit="mol", disable=not progress, leave=False)
    stores, reasons = [], {}

    def collect(start: int, part) -> None:
        store, failed, why = part
        stores.append(store)
        reasons.update({start + i: r for i, r in zip(failed, why)})
        bar.update(len(store) + len(failed))

    if workers > 1 and len(chunks) > 1:
        with _pool(workers) as pool:
            for k, part in enumerate(pool.imap(_featurize_chunk, chunks)):
                collect(k * _CHUNK, part)
    else:
        for k, chunk in enumerate(chunks):
            collect(k * _CHUNK, _featurize_chunk(chunk))
    bar.close()
    return GraphStore.concat(stores), reasons


def cache_key(table: MoleculeTable, allow_valence_errors: bool) -> str:
    """Hash of exactly what featurization depends on: source bytes, featurizer and parser versions, options,
    SMILES."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"featurizer": FEATURIZER_VERSION, "parser": PARSER_VERSION,
                              "allow_valence_errors": allow_valence_errors,
                              "files": [file_digest(f) for f in table.files]}).encode())
    digest.update("\n".join(table.smiles).encode())
    return digest.hexdigest()[:24]


def _load_cache(path: Path, n_smiles: int) -> tuple[GraphStore, dict[int, str]] | None:
    """The cached graphs, or None (with a warning naming the file) when the file is damaged."""
    try:
        store, extra = GraphStore.load(path)
        store.validate()
        failed = [int(i) for i in extra["failed_index"]]
        if len(store) + len(failed) != n_smiles or int(extra["n_smiles"]) != n_smiles:
            raise ValueError(f"holds {len(store) + len(failed)} molecules, expected {n_smiles}")
        return store, dict(zip(failed, (str(r) for r in extra["failed_reason"])))
    except Exception as err:  # a truncated or corrupted cache is rebuilt, never trusted
        log.warning("cache file %s is damaged (%s: %s); rebuilding it", path, type(err).__name__, err)
        return None


def cached_featurize(table: MoleculeTable, *, allow_valence_errors: bool, cache_dir: str | Path | None,
                     workers: int | None, progress: bool) -> tuple[GraphStore, dict[int, str]]:
    """Graphs and failure reasons for `table.smiles`, from the cache when a valid one exists."""
    n = len(table.smiles)
    workers = default_workers(n) if workers is None else workers
    if cache_dir is None:
        return featurize_smiles(table.smiles, allow_valence_errors, workers, progress)
    path = Path(cache_dir) / f"graphs-{cache_key(table, allow_valence_errors)}.npz"
    with file_lock(path):  # one builder; other processes wait here, then find the file
        if path.exists():
            loaded = _load_cache(path, n)
            if loaded is not None:
                log.info("loaded %d featurized molecules from cache %s", len(loaded[0]), path)
                return loaded
        store, reasons = featurize_smiles(table.smiles, allow_valence_errors, workers, progress)
        failed = np.fromiter(reasons.keys(), dtype=np.int64, count=len(reasons))
        store.save(path, failed_index=failed, failed_reason=np.array(list(reasons.values()), dtype=str),
                   n_smiles=np.array(n))
        log.info("featurized %d molecules into cache %s", n, path)
        return store, reasons


def build_store(
    table: MoleculeTable,
    *,
    allow_valence_errors: bool = False,
    max_atoms: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = 0,
    progress: bool = True,
) -> tuple[GraphStore, MoleculeTable]:
    """Featurize every SMILES of `table`; return the graphs and the table restricted to usable rows.

    Unusable rows (parse failures, empty molecules, too many atoms) are appended to the returned
    table's `skipped` list with their row number and reason.
    """
    store, reasons = cached_featurize(table, allow_valence_errors=allow_valence_errors, cache_dir=cache_dir,
                                      workers=workers, progress=progress)
    part_files = table.meta.get("part_files", {})
    file_of = (lambda i: part_files[str(table.part[i])]) if table.part is not None else (lambda i: "")

    # Map store positions back to table rows, then apply the size limit.
    is_failed = np.zeros(len(table), dtype=bool)
    is_failed[list(reasons)] = True
    parsed = np.flatnonzero(~is_failed)
    limit = MAX_ATOMS if max_atoms is None else min(max_atoms, MAX_ATOMS)
    keep = store.num_nodes <= limit

    def too_large(n: int) -> str:
        if max_atoms is not None and n > max_atoms:
            return f"{n} atoms exceeds data.max_atoms={max_atoms}"
        return f"too large: {n} heavy atoms (the model encodes at most {MAX_ATOMS})"

    skipped = [SkippedRow(int(table.rows[i]), table.smiles[i], reasons[i], file_of(i)) for i in sorted(reasons)]
    skipped += [SkippedRow(int(table.rows[i]), table.smiles[i], too_large(int(n)), file_of(i))
                for i, n, k in zip(parsed, store.num_nodes, keep) if not k]
    if not keep.all():
        store = store.select(np.flatnonzero(keep))
    usable = table.subset(parsed[keep])
    file_order = {name: k for k, name in enumerate(part_files.values())}
    usable.skipped = sorted(table.skipped + skipped, key=lambda s: (file_order.get(s.file, 0), s.row))
    return store, usable
