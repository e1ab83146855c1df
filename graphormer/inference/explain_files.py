"""The streaming `graphormer explain` job: an input file in, a folder of explanations out.

    <output>/molecules.csv   one row per input row: its columns, pred_<output> (std_<output> for an ensemble),
                             baseline_<output> (f at the all-zero atom embeddings), ig_gap_<output> (the
                             completeness gap), image (relative path of the first output's PNG), error
    <output>/atoms.csv       one row per atom of every explained molecule (the atoms the model reads: heavy
                             atoms, plus any hydrogen or dummy atom RDKit keeps explicit, e.g. [2H]): row,
                             smiles, atom_index (the atom's position in that SMILES; SDF records get their
                             canonical SMILES), element, attr_<output> (attr_std_<output> for an ensemble),
                             attn_layer_<l>, attn_mean
    <output>/images/         row_<row>.svg / .png (row_<row>_<output>.svg with several outputs)
    <output>/index.html      the pictures in a grid, sortable by prediction (and |prediction - label|)

The input rules and `error` texts are predict's (same reader, same featurization). Rows are read, explained
and written a chunk at a time, in input order; the CSVs and every picture are written atomically.
"""

from __future__ import annotations

import csv
import re
import time
from itertools import islice
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from graphormer.data.table import resolve_column
from graphormer.errors import DataError
from graphormer.files import atomic_write
from graphormer.inference.explain import DEFAULT_STEPS, Explanation, explain_record, output_indices
from graphormer.inference.explain_draw import draw_explanation
from graphormer.inference.explain_page import Card, write_index
from graphormer.inference.predictor import Predictor, format_value, prediction_header
from graphormer.inference.readers import InputReader


def _label(cells: list[str], index: int | None) -> float | None:
    if index is None:
        return None
    try:
        value = float(cells[index])
    except (ValueError, IndexError):
        return None
    return value if np.isfinite(value) else None


def _label_index(reader: InputReader, label_column: str | int | None) -> int | None:
    if label_column is None:
        return None
    try:
        return resolve_column(label_column, reader.columns, str(reader.path))
    except DataError:
        raise DataError(f"{reader.path}: no label column {label_column!r} "
                        f"(columns: {', '.join(reader.columns)})") from None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def image_names(row: int, output_names: list[str]) -> list[str]:
    """Relative paths (without suffix) of a row's pictures, one per output."""
    if len(output_names) == 1:
        return [f"images/row_{row}"]
    return [f"images/row_{row}_{_safe(name)}" for name in output_names]


def molecule_header(columns: list[str], names: list[str], ensemble: bool) -> list[str]:
    return prediction_header(columns, names, ensemble) + [f"baseline_{n}" for n in names] + \
        [f"ig_gap_{n}" for n in names] + ["image", "error"]


def atom_header(names: list[str], layers: int, ensemble: bool) -> list[str]:
    header = ["row", "smiles", "atom_index", "element"] + [f"attr_{n}" for n in names]
    header += [f"attr_std_{n}" for n in names] if ensemble else []
    return header + [f"attn_layer_{l}" for l in range(layers)] + ["attn_mean"]


def _atom_rows(row: int, ex: Explanation, layers: int) -> list[list]:
    rows = []
    attention = ex.attention if ex.attention.shape[0] == layers else np.full((layers, len(ex.elements)), np.nan)
    mean = ex.mean_attention
    for i, element in enumerate(ex.elements):
        cells = [row, ex.smiles, i, element] + [format_value(v) for v in ex.attributions[i]]
        if ex.attribution_std is not None:
            cells += [format_value(v) for v in ex.attribution_std[i]]
        rows.append(cells + [format_value(v) for v in attention[:, i]] + [format_value(mean[i])])
    return rows


def _draw(ex: Explanation, out_dir: Path, stems: list[str], label: float | None) -> None:
    for o, stem in enumerate(stems):
        with atomic_write(out_dir / f"{stem}.svg", "w", encoding="utf-8") as handle:
            handle.write(draw_explanation(ex, o, label, fmt="svg"))
        with atomic_write(out_dir / f"{stem}.png") as handle:
            handle.write(draw_explanation(ex, o, label, fmt="png"))


def explain_file(predictor: Predictor, input_path: str | Path, output_dir: str | Path,
                 smiles_column: str | int | None = None, label_column: str | int | None = None,
                 steps: int = DEFAULT_STEPS, chunk_size: int = 256, progress: bool = True,
                 targets: Sequence[str] | str | None = None) -> dict:
    """Explain every row of `input_path` into `output_dir` (see the module's docstring). `targets`: the
    output names to explain (default all)."""
    try:
        outputs = output_indices(predictor, targets)
    except ValueError as err:
        raise DataError(f"targets: {err}") from None
    reader = InputReader(input_path, smiles_column)
    label_index = _label_index(reader, label_column)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [predictor.output_names[o] for o in (outputs or range(len(predictor.output_names)))]
    ensemble = len(predictor.models) > 1
    depths = {int(m.model.hparams["num_layers"]) for m in predictor.models}
    layers = depths.pop() if len(depths) == 1 else 1  # members of different depths: their layer means
    cards: list[Card] = []
    failed: list[tuple[int, str]] = []
    started = time.perf_counter()
    total = 0
    records = iter(reader)
    with atomic_write(out_dir / "molecules.csv", "w", newline="") as mol_handle, \
            atomic_write(out_dir / "atoms.csv", "w", newline="") as atom_handle:
        molecules, atoms = csv.writer(mol_handle, lineterminator="\n"), csv.writer(atom_handle, lineterminator="\n")
        molecules.writerow(molecule_header(reader.columns, names, ensemble))
        atoms.writerow(atom_header(names, layers, ensemble))
        bar = tqdm(desc="explaining", unit="mol", disable=not progress)
        while chunk := list(islice(records, chunk_size)):
            graphs, where, errors = predictor.featurize_records(chunk)
            graph_of_record = dict(zip(where, graphs))
            for i, record in enumerate(chunk):
                empty = [""] * len(names)
                if errors[i] is not None:
                    failed.append((record.row, errors[i]))
                    molecules.writerow(list(record.cells) + empty * (4 if ensemble else 3) + ["", errors[i]])
                    bar.update(1)
                    continue
                ex = explain_record(predictor, graph_of_record[i], record, steps, outputs)
                label = _label(record.cells, label_index)
                stems = image_names(record.row, names)
                _draw(ex, out_dir, stems, label)
                cells = list(record.cells) + [format_value(v) for v in ex.prediction]
                cells += [format_value(v) for v in ex.prediction_std] if ensemble else []
                cells += [format_value(v) for v in ex.baseline] + [format_value(v) for v in ex.gap]
                molecules.writerow(cells + [f"{stems[0]}.png", ""])
                atoms.writerows(_atom_rows(record.row, ex, layers))
                cards.append(Card(record.row, ex.smiles, [float(v) for v in ex.prediction],
                                  [f"{s}.png" for s in stems], label, [float(v) for v in ex.gap]))
                bar.update(1)
            total += len(chunk)
        bar.close()
    title = f"graphormer explain: {Path(input_path).name}"
    write_index(out_dir / "index.html", cards, names, failed, title, label_index is not None, steps,
                logit=predictor.task != "regression")
    seconds = time.perf_counter() - started
    gaps = np.array([c.gaps for c in cards]) if cards else np.zeros((0, len(names)))
    return {"rows": total, "explained": len(cards), "failed": len(failed), "seconds": seconds,
            "per_molecule": seconds / len(cards) if cards else 0.0,
            "gap_median": float(np.median(gaps)) if gaps.size else 0.0,
            "gap_max": float(gaps.max()) if gaps.size else 0.0, "output": str(out_dir)}
