"""Turn a MoleculeTable into a GraphStore: parallel RDKit featurization, bad rows reported, cached on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from graphormer.chem import FEATURIZER_VERSION, MoleculeError, smiles_to_graph
from graphormer.data.store import GraphStore
from graphormer.data.table import MoleculeTable, SkippedRow

log = logging.getLogger(__name__)

_CHUNK = 256


def _featurize_chunk(args: tuple[list[str], bool]) -> list:
    smiles, allow_valence_errors = args
    out = []
    for smi in smiles:
        try:
            out.append(smiles_to_graph(smi, allow_valence_errors=allow_valence_errors))
        except MoleculeError as err:
            out.append(err.reason)
    return out


def featurize_smiles(smiles: list[str], allow_valence_errors: bool = False, workers: int = 0,
                     progress: bool = True) -> list:
    """MolGraph or a reason string per SMILES, in input order. workers=0 runs in this process."""
    chunks = [(smiles[i:i + _CHUNK], allow_valence_errors) for i in range(0, len(smiles), _CHUNK)]
    bar = tqdm(total=len(smiles), desc="featurizing", unit="mol", disable=not progress, leave=False)
    results: list = []
    if workers > 1 and len(chunks) > 1:
        with mp.get_context("spawn" if mp.get_start_method(allow_none=True) == "spawn" else "fork").Pool(workers) as pool:
            for part in pool.imap(_featurize_chunk, chunks):
                results.extend(part)
                bar.update(len(part))
    else:
        for chunk in chunks:
            part = _featurize_chunk(chunk)
            results.extend(part)
            bar.update(len(part))
    bar.close()
    return results


def cache_key(table: MoleculeTable, allow_valence_errors: bool) -> str:
    """Content hash of exactly what featurization depends on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FEATURIZER_VERSION, allow_valence_errors]).encode())
    digest.update("\n".join(table.smiles).encode())
    return digest.hexdigest()[:24]


def build_store(
    table: MoleculeTable,
    *,
    allow_valence_errors: bool = False,
    max_atoms: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    progress: bool = True,
) -> tuple[GraphStore, MoleculeTable]:
    """Featurize every SMILES of `table`; return the graphs and the table restricted to usable rows.

    Unusable rows (parse failures, empty molecules, too many atoms) are appended to the returned
    table's `skipped` list with their row number and reason.
    """
    store, reasons = None, None
    cache_file = Path(cache_dir) / f"graphs-{cache_key(table, allow_valence_errors)}.npz" if cache_dir else None
    if cache_file is not None and cache_file.exists():
        try:
            store, extra = GraphStore.load(cache_file)
            reasons = {int(i): str(r) for i, r in zip(extra["failed_index"], extra["failed_reason"])}
            log.info("loaded %d featurized molecules from cache %s", len(store), cache_file)
        except Exception as err:  # a truncated or corrupted cache is rebuilt, not trusted
            log.warning("cache %s is unreadable (%s); rebuilding it", cache_file, err)
            store = None
    if store is None:
        results = featurize_smiles(table.smiles, allow_valence_errors, workers, progress)
        reasons = {i: r for i, r in enumerate(results) if isinstance(r, str)}
        store = GraphStore.from_graphs(r for r in results if not isinstance(r, str))
        if cache_file is not None:
            failed = np.fromiter(reasons.keys(), dtype=np.int64, count=len(reasons))
            store.save(cache_file, failed_index=failed, failed_reason=np.array(list(reasons.values()), dtype=str))

    # Map store positions back to table rows, then apply the size limit.
    parsed = np.array([i for i in range(len(table)) if i not in reasons], dtype=np.int64)
    keep = np.ones(len(parsed), dtype=bool)
    if max_atoms is not None:
        keep &= store.num_nodes <= max_atoms
    skipped = [SkippedRow(int(table.rows[i]), table.smiles[i], reasons[i]) for i in reasons]
    skipped += [SkippedRow(int(table.rows[i]), table.smiles[i],
                           f"{int(n)} atoms exceeds data.max_atoms={max_atoms}")
                for i, n, k in zip(parsed, store.num_nodes, keep) if not k]
    if not keep.all():
        store = store.select(np.flatnonzero(keep))
    usable = table.subset(parsed[keep])
    usable.skipped = sorted(table.skipped + skipped, key=lambda s: s.row)
    return store, usable
