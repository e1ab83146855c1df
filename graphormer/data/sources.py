"""Where molecules come from: one entry point, `load_table`, for every supported source.

| source | where the files are |
|---|---|
| `rdkit_nci_tpsa` | 4,999 NCI molecules with TPSA inside the RDKit wheel |
| `csv`, `sdf`, `smi` | the user's files: `path` (+ optional `val_path`, `test_path`) |
| `ogbg` | `<root>/ogbg_<name>/{mapping,split}` (OGB layout; OGB downloads it when absent) |
| `moleculenet` | `<root>/<name>/raw/<file>` (PyG's raw layout) |
| `qm9` | `<root>/qm9/qm9.csv.gz` |
| `zinc` | `<root>/ZINC/raw/*.pickle` (PyG) or `<root>/zinc12k/` CSVs |
| `pcqm4mv2` | `<root>/pcqm4m-v2/raw/data.csv.gz` + `split_dict.pt` (OGB-LSC layout) |
| `pretrain_corpus` | `path` or `<root>/moses/train.csv.gz`; targets = scaled RDKit descriptors (`data/corpus.py`) |

Every loader returns a `MoleculeTable`; a predefined split, when the source has one, is in `table.split`;
the source's natural task (when `task` is left empty) is in `table.meta["task"]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from graphormer.data.formats import file_records
from graphormer.data.table import DataError, MoleculeTable, build_table, csv_records

SOURCES = ("rdkit_nci_tpsa", "csv", "sdf", "smi", "ogbg", "moleculenet", "qm9", "zinc", "pcqm4mv2", "pretrain_corpus")
# Public benchmark sets whose published size includes molecules that current RDKit flags with valence
# errors; they are featurized with allow_valence_errors=True unless the config says otherwise.
BENCHMARK_SOURCES = frozenset({"ogbg", "moleculenet", "qm9", "zinc", "pcqm4mv2"})


def rdkit_nci_path() -> Path:
    """4,999 NCI molecules with Daylight TPSA values, shipped inside the RDKit wheel."""
    from rdkit import RDConfig

    return Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"


def _user_files(source: str, path: str | None, val_path: str | None, test_path: str | None, *,
                smiles_column, target_columns, split_column, weight_column, task, cache_dir) -> MoleculeTable:
    if not path:
        raise DataError(f"data={source} needs data.path=<file>")
    declared = source if source in ("sdf", "smi") else None
    files = [(file_records(path, declared, cache_dir, smiles_column), None)]
    files += [(file_records(p, None, cache_dir, smiles_column), part)
              for p, part in ((val_path, "val"), (test_path, "test")) if p]
    table = build_table(files, smiles_column=smiles_column, target_columns=target_columns,
                        split_column=split_column, weight_column=weight_column, task=task or "regression")
    table.meta["task"] = task or "regression"
    return table


def load_table(
    source: str,
    path: str | None = None,
    smiles_column: str | int | None = None,
    target_columns: Sequence[str | int] | None = None,
    split_column: str | None = None,
    weight_column: str | None = None,
    *,
    name: str | None = None,
    root: str | Path = "data",
    task: str | None = None,
    val_path: str | None = None,
    test_path: str | None = None,
    subset: bool = True,
    download: bool = True,
    cache_dir: str | Path | None = None,
    corpus_size: int | None = None,
    exclude: Sequence[str] = (),
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> MoleculeTable:
    """The table of `source` (see the module docstring). `cache_dir` keeps converted files (SDF, ZINC pickles)."""
    targets = list(target_columns) if target_columns else None
    root = Path(root)
    if source == "rdkit_nci_tpsa":
        records = csv_records(path or rdkit_nci_path(), has_header=False, column_names=["smiles", "tpsa"])
        table = build_table([(records, None)], target_columns=[1], task=task or "regression")
        table.meta["task"] = task or "regression"
        return table
    if source in ("csv", "sdf", "smi"):
        return _user_files(source, path, val_path, test_path, smiles_column=smiles_column, target_columns=targets,
                           split_column=split_column, weight_column=weight_column, task=task, cache_dir=cache_dir)
    if source == "ogbg":
        from graphormer.data.ogb import load_ogbg

        if not name:
            raise DataError("data=ogbg needs data.name=<OGB dataset name>, e.g. ogbg-molhiv")
        return load_ogbg(name, root, target_columns=targets, task=task, download=download)
    if source == "moleculenet":
        from graphormer.data.moleculenet import load_moleculenet

        if not name:
            raise DataError("data=moleculenet needs data.name=<dataset>, e.g. esol")
        return load_moleculenet(name, root, target_columns=targets, smiles_column=smiles_column, task=task,
                                download=download)
    if source == "qm9":
        from graphormer.data.moleculenet import load_qm9

        return load_qm9(root, path=path, target_columns=targets, task=task)
    if source == "zinc":
        from graphormer.data.zinc import load_zinc

        from graphormer.data.cache import resolve_cache_dir

        return load_zinc(root, subset=subset, cache_dir=resolve_cache_dir(cache_dir, root), target_columns=targets,
                         task=task, download=download)
    if source == "pcqm4mv2":
        from graphormer.data.lsc import load_pcqm4mv2

        return load_pcqm4mv2(root, path=path, target_columns=targets, task=task, download=download)
    if source == "pretrain_corpus":
        from graphormer.data.cache import resolve_cache_dir
        from graphormer.data.corpus import load_corpus

        return load_corpus(path, root, size=corpus_size, seed=seed, exclude=exclude or (),
                           cache_dir=resolve_cache_dir(cache_dir, root), workers=workers, progress=progress)
    raise DataError(f"unknown data.source {source!r} (choices: {', '.join(SOURCES)})")
