"""Writes the bad-input corpus (tests/data/bad_inputs/) and its manifest (tests/data/bad_inputs.csv).

    python tests/data/make_bad_inputs.py

The cases and the outcome each one should have live here, in one place; the files are committed so the
tests need no RDKit work to build them. Normal rows are real molecules: the NCI set inside the RDKit wheel.

Manifest columns
  case        unique name
  group       rows of one file checked by one CLI run (predict_csv, predict_smi, predict_sdf, train_csv),
              or `single` (one CLI run per case)
  verb        graphormer verb
  file        input file, relative to tests/data/bad_inputs/
  key         the row: the `id` column (predict_csv), the 1-based record number (others)
  args        extra command-line arguments (single cases); {corpus} = tests/data/bad_inputs,
              {tmp} = the test's folder, where it writes checkpoints derived from a trained one
  expected    predicted | no_prediction | used | skipped | error | ok
  fragment    text the error column / skip reason / stderr must contain (case-insensitive)
  exit_code   expected exit status of the run
  known_issue non-empty: the outcome is what *should* happen but does not yet (the test is xfail)
"""

from __future__ import annotations

import csv
import gzip
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "bad_inputs"
FIELDS = ["case", "group", "verb", "file", "key", "args", "expected", "fragment", "exit_code", "known_issue"]
sys.path.insert(0, str(HERE.parents[1]))

from tests.conftest import nci_rows  # noqa: E402

CHAIN_70 = "C" * 70
CHAIN_600 = "C" * 600

# (case, smiles, expected, fragment, known_issue) — one row each of predict_rows.csv
PREDICT_ROWS = [
    ("unparsable_syntax", "C1CC(", "no_prediction", "unparsable", ""),
    ("unparsable_word", "not_a_smiles", "no_prediction", "unparsable", ""),
    ("unclosed_branch", "C(C)(C", "no_prediction", "unparsable", ""),
    ("unclosed_ring", "c1ccccc", "no_prediction", "unclosed ring", ""),
    ("unknown_element", "[Xx]", "no_prediction", "unparsable", ""),
    ("element_119", "[Uue]", "no_prediction", "unparsable", ""),
    ("empty_smiles", "", "no_prediction", "empty", ""),
    ("blank_smiles", "   ", "no_prediction", "empty", ""),
    ("valence_carbon", "C(C)(C)(C)(C)C", "no_prediction", "valence", ""),
    ("valence_ammonium_no_charge", "[NH4]", "no_prediction", "valence", ""),
    ("valence_oxygen", "O(C)(C)C", "no_prediction", "valence", ""),
    ("triple_triple", "C#C#C", "no_prediction", "valence", ""),
    ("kekulize", "c1cccc1", "no_prediction", "kekul", ""),
    ("reaction_smiles", "CC>>CO", "no_prediction", "unparsable", ""),
    ("text_nan", "nan", "no_prediction", "unparsable", ""),
    ("digits_only", "123", "no_prediction", "unparsable", ""),
    ("excel_formula", "=CCO", "no_prediction", "unparsable", ""),
    ("comma_inside_quotes", "CC(C)C,extra", "no_prediction", "unparsable", ""),
    ("non_ascii", "CCÖ", "no_prediction", "non-ascii", ""),
    ("inner_space", "CC O", "no_prediction", "would read only 'CC'", ""),
    ("too_large_chain", CHAIN_600, "no_prediction", "too large", ""),
    ("uranium", "[U]", "predicted", "", ""),
    ("oganesson", "[Og]", "predicted", "", ""),
    ("californium_cation", "[Cf+4]", "predicted", "", ""),
    ("dummy_atom", "*C", "predicted", "", ""),
    ("isotope_c13", "[13CH4]", "predicted", "", ""),
    ("deuterated_water", "[2H]O[2H]", "predicted", "", ""),
    ("radical_methyl", "[CH3]", "predicted", "", ""),
    ("radical_carbon_atom", "[C]", "predicted", "", ""),
    ("ammonium", "[NH4+]", "predicted", "", ""),
    ("quaternary_ammonium", "C[N+](C)(C)C", "predicted", "", ""),
    ("acetate", "[O-]C(=O)C", "predicted", "", ""),
    ("hexafluorophosphate", "F[P-](F)(F)(F)(F)F", "predicted", "", ""),
    ("iron_cation", "[Fe+3]", "predicted", "", ""),
    ("salt", "[Na+].[Cl-]", "predicted", "", ""),
    ("copper_sulfate", "[Cu+2].[O-]S(=O)(=O)[O-]", "predicted", "", ""),
    ("hydrate", "CCO.O", "predicted", "", ""),
    ("single_atom", "C", "predicted", "", ""),
    ("noble_gas", "[He]", "predicted", "", ""),
    ("hydrogen_molecule", "[H][H]", "predicted", "", ""),
    ("proton", "[H+]", "predicted", "", ""),
    ("smarts_atom", "[#6]", "predicted", "", ""),
    ("padded_smiles", "  CCO  ", "predicted", "", ""),
    ("stereo", "C[C@H](O)C(=O)O", "predicted", "", ""),
    ("selenophene", "[se]1cccc1", "predicted", "", ""),
    ("cumulene", "C=C=C=C", "predicted", "", ""),
    ("chain_300", "C" * 300, "predicted", "", ""),
    ("chain_510_limit", "C" * 510, "predicted", "", ""),
]

# (case, smiles, target, expected, fragment, known_issue) — rows of train_rows.csv (data.max_atoms=60)
TRAIN_ROWS = [
    ("t_unparsable", "C1CC(", "12.0", "skipped", "unparsable", ""),
    ("t_empty_smiles", "", "10.0", "skipped", "empty", ""),
    ("t_blank_smiles", "   ", "10.0", "skipped", "empty", ""),
    ("t_valence", "C(C)(C)(C)(C)C", "0", "skipped", "valence", ""),
    ("t_kekulize", "c1cccc1", "0", "skipped", "kekul", ""),
    ("t_unknown_element", "[Xx]", "0", "skipped", "unparsable", ""),
    ("t_target_nan", "CCO", "nan", "skipped", "no label", ""),
    ("t_target_empty", "CCO", "", "skipped", "no label", ""),
    ("t_target_na", "CCO", "N/A", "skipped", "no label", ""),
    ("t_target_inf", "CCO", "inf", "skipped", "'inf'", ""),
    ("t_target_minus_inf", "CCO", "-inf", "skipped", "'-inf'", ""),
    ("t_target_overflow", "CCO", "1e999", "skipped", "1e999", ""),
    ("t_target_float32_overflow", "CCO", "1e300", "skipped", "outside the float32 range", ""),
    ("t_target_text", "CCO", "lots", "skipped", "non-numeric", ""),
    ("t_target_comma_decimal", "CCO", "1,5", "skipped", "non-numeric", ""),
    ("t_target_cell_missing", "CCO", None, "skipped", "no label", ""),
    ("t_too_many_atoms", CHAIN_70, "0", "skipped", "max_atoms", ""),
    ("t_salt", "[Na+].[Cl-]", "0", "used", "", ""),
    ("t_hydrate", "CCO.O", "20.23", "used", "", ""),
    ("t_single_atom", "C", "0", "used", "", ""),
    ("t_noble_gas", "[He]", "0", "used", "", ""),
    ("t_isotope", "[13CH4]", "0", "used", "", ""),
    ("t_radical", "[CH3]", "0", "used", "", ""),
    ("t_charged", "C[N+](C)(C)C", "0", "used", "", ""),
    ("t_exotic_element", "[U]", "0", "used", "", ""),
    ("t_dummy_atom", "*C", "0", "used", "", ""),
    ("t_padded_cells", "  CCO  ", " 20.23 ", "used", "", ""),
    ("t_extra_cells", "CCO", "20.23", "used", "", ""),  # written with two extra cells
    ("t_non_ascii", "CCÖ", "20.0", "skipped", "non-ascii", ""),
    ("t_inner_space", "CC O", "20.0", "skipped", "would read only 'CC'", ""),
]

SMI_LINES = [  # (case or None for non-records, line, expected, fragment)
    (None, "smiles name", None, None),
    (None, "# a comment line", None, None),
    (None, "", None, None),
    ("s_ok", "CCO ethanol", "predicted", ""),
    ("s_name_with_spaces", "c1ccccc1O phenol, technical grade", "predicted", ""),
    ("s_tab_separated", "CC(=O)O\tacetic acid", "predicted", ""),
    ("s_unparsable", "C1CC( broken", "no_prediction", "unparsable"),
    ("s_valence", "C(C)(C)(C)(C)C pentavalent", "no_prediction", "valence"),
    ("s_salt", "[Na+].[Cl-] table salt", "predicted", ""),
    (None, "   ", None, None),
    ("s_smiles_only", "CCN", "predicted", ""),
]


def write_csv(path: Path, rows, newline="\n", encoding="utf-8") -> None:
    with open(path, "w", newline="", encoding=encoding) as handle:
        csv.writer(handle, lineterminator=newline).writerows(rows)


def predict_csv(manifest: list[dict]) -> None:
    real = nci_rows(12)
    rows = [["id", "smiles"]]
    for i, (smiles, _) in enumerate(real[:6]):
        rows.append([f"nci_{i}", smiles])
        manifest.append(case(f"nci_{i}", "predict_csv", "predict", "predict_rows.csv", f"nci_{i}", "predicted"))
    for name, smiles, expected, fragment, issue in PREDICT_ROWS:
        rows.append([name, smiles])
        manifest.append(case(name, "predict_csv", "predict", "predict_rows.csv", name, expected, fragment,
                             issue=issue))
    for i, (smiles, _) in enumerate(real[6:], start=6):
        rows.append([f"nci_{i}", smiles])
        manifest.append(case(f"nci_{i}", "predict_csv", "predict", "predict_rows.csv", f"nci_{i}", "predicted"))
    write_csv(OUT / "predict_rows.csv", rows)


def train_csv(manifest: list[dict]) -> None:
    """150 real molecules with the odd rows spread between them; a comment, a blank line and a row of
    empty cells are not records and do not count."""
    real = nci_rows(150)
    lines = ["smiles,tpsa"]
    row = 0
    odd = iter(TRAIN_ROWS)
    for i, (smiles, tpsa) in enumerate(real):
        lines.append(f"{smiles},{tpsa}")
        row += 1
        if i == 20:
            lines.append(f"{smiles},{tpsa}")  # an exact duplicate: both rows are used
            row += 1
            manifest.append(case("t_duplicate_row", "train_csv", "train", "train_rows.csv", str(row), "used"))
        if i == 40:
            lines += ["# a comment line", "", ",,"]
        if i % 4 == 3 and (item := next(odd, None)) is not None:
            name, smi, target, expected, fragment, issue = item
            cells = [smi] if target is None else [smi, target]
            if name == "t_extra_cells":
                cells += ["x", "y"]
            lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
            row += 1
            manifest.append(case(name, "train_csv", "train", "train_rows.csv", str(row), expected, fragment,
                                 issue=issue))
    assert next(odd, None) is None, "not enough real rows to place every odd row"
    (OUT / "train_rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def predict_smi(manifest: list[dict]) -> None:
    record = 0
    for name, line, expected, fragment in SMI_LINES:
        if name is not None:
            record += 1
            manifest.append(case(name, "predict_smi", "predict", "predict_lines.smi", str(record), expected,
                                 fragment))
    (OUT / "predict_lines.smi").write_text("\n".join(line for _, line, _, _ in SMI_LINES) + "\n")


def _mol_block(smiles: str, name: str, record_id: str, sanitize: bool = True) -> str:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles, sanitize=sanitize)
    if not sanitize:
        mol.UpdatePropertyCache(strict=False)
    mol.SetProp("_Name", name)
    return Chem.MolToMolBlock(mol, kekulize=False) + f">  <id>\n{record_id}\n\n$$$$\n"


def predict_sdf(manifest: list[dict]) -> None:
    from rdkit import Chem

    real = [s for s, _ in nci_rows(3)]
    empty = Chem.MolToMolBlock(Chem.Mol()) + ">  <id>\nempty\n\n$$$$\n"
    bad_counts = "broken\n  test\n\nthis is not a counts line\nM  END\n>  <id>\nbroken\n\n$$$$\n"
    bad_element = _mol_block("CC", "bad_element", "bad_element").replace(" C ", " Xx", 1)
    records = [
        ("sdf_nci_0", _mol_block(real[0], "nci_0", "1"), "predicted", ""),
        ("sdf_valence", _mol_block("C(C)(C)(C)(C)C", "pentavalent", "2", sanitize=False), "no_prediction", "valence"),
        ("sdf_unreadable", bad_counts, "no_prediction", "unreadable"),
        ("sdf_salt", _mol_block("[Na+].[Cl-]", "salt", "4"), "predicted", ""),
        ("sdf_no_atoms", empty, "no_prediction", "no atoms"),
        ("sdf_unknown_element", bad_element, "no_prediction", "unreadable"),
        ("sdf_explicit_h", Chem.MolToMolBlock(Chem.AddHs(Chem.MolFromSmiles("CCO"))) + ">  <id>\n7\n\n$$$$\n",
         "predicted", ""),
        ("sdf_nci_1", _mol_block(real[1], "nci_1", "8"), "predicted", ""),
    ]
    for number, (name, _, expected, fragment) in enumerate(records, start=1):
        manifest.append(case(name, "predict_sdf", "predict", "predict_records.sdf", str(number), expected,
                             fragment))
    (OUT / "predict_records.sdf").write_text("".join(block for _, block, _, _ in records))


def single_files(manifest: list[dict]) -> None:
    """Whole-file problems, one CLI run each."""
    real = nci_rows(40)
    body = [[s, str(t)] for s, t in real]
    (OUT / "empty.csv").write_bytes(b"")
    (OUT / "header_only.csv").write_text("smiles,tpsa\n")
    (OUT / "blank_lines.csv").write_text("\n   \n# only a comment\n\n")
    with open(OUT / "semicolon.csv", "w") as handle:  # European style: ';' between cells, ',' decimals
        handle.write("smiles;tpsa\n" + "".join(f"{s};{t.replace('.', ',')}\n" for s, t in body))
    with open(OUT / "tab.csv", "w") as handle:
        handle.write("smiles\ttpsa\n" + "".join(f"{s}\t{t}\n" for s, t in body))
    with open(OUT / "molecules.tsv", "w") as handle:
        handle.write("smiles\ttpsa\n" + "".join(f"{s}\t{t}\n" for s, t in body))
    with open(OUT / "bom_crlf.csv", "w", encoding="utf-8-sig", newline="") as handle:
        handle.write("smiles,tpsa\r\n" + "".join(f"{s},{t}\r\n" for s, t in body))
    (OUT / "latin1.csv").write_bytes(("smiles,tpsa\n" + "".join(f"{s},{t}\n" for s, t in body[:20])).encode()
                                     + "CCO,20.2 \u00e9thanol\n".encode("latin-1"))
    (OUT / "binary.csv").write_bytes(bytes(random.Random(0).randrange(256) for _ in range(4000)))
    full = gzip.compress(("smiles,tpsa\n" + "".join(f"{s},{t}\n" for s, t in body)).encode(), mtime=0)
    (OUT / "truncated.csv.gz").write_bytes(full[: len(full) // 2])
    (OUT / "not_gzip.csv.gz").write_bytes(b"smiles,tpsa\nCCO,20.2\n")
    (OUT / "text_targets.csv").write_text("smiles,tpsa\nCCO,lots\nCCC,many\nc1ccccc1,some\n")
    write_csv(OUT / "good.csv", [["smiles", "tpsa"], *body])
    write_csv(OUT / "headerless.csv", body)
    (OUT / "empty.sdf").write_bytes(b"")
    (OUT / "empty.smi").write_text("# nothing but a comment\n")
    (OUT / "garbage.ckpt").write_bytes(bytes(random.Random(1).randrange(256) for _ in range(2048)))
    big = [["smiles", "tpsa"], *body[:30], [CHAIN_600, "0"]]
    write_csv(OUT / "train_too_large.csv", big)

    train_tiny = "trainer.max_epochs=1"
    single = [
        # (case, verb, file, args, expected, fragment, exit, known_issue)
        ("train_empty_file", "train", "empty.csv", "", "error", "file is empty", 2, ""),
        ("train_header_only", "train", "header_only.csv", "", "error", "no usable rows", 2, ""),
        ("train_blank_lines", "train", "blank_lines.csv", "", "error", "file is empty", 2, ""),
        # ';' is detected and its decimal commas read: all 40 rows train
        ("train_semicolon", "train", "semicolon.csv", train_tiny, "ok", "skipped 0 of 40 rows", 0, ""),
        ("train_tab", "train", "tab.csv", train_tiny, "ok", "skipped 0 of 40 rows", 0, ""),
        ("train_tsv", "train", "molecules.tsv", train_tiny, "ok", "skipped 0 of 40 rows", 0, ""),
        ("train_headerless", "train", "headerless.csv", train_tiny, "ok", "skipped 0 of 40 rows", 0, ""),
        ("train_latin1", "train", "latin1.csv", "", "error", "cannot read file", 2, ""),
        ("train_binary", "train", "binary.csv", "", "error", "cannot read file", 2, ""),
        ("train_truncated_gzip", "train", "truncated.csv.gz", "", "error", "cannot read file", 2, ""),
        ("train_not_gzip", "train", "not_gzip.csv.gz", "", "error", "cannot read file", 2, ""),
        ("train_text_targets", "train", "text_targets.csv", "", "error", "no usable rows", 2, ""),
        ("train_missing_file", "train", "no_such_file.csv", "", "error", "file not found", 2, ""),
        ("train_directory", "train", ".", "", "error", "file not found", 2, ""),
        ("train_missing_smiles_column", "train", "good.csv", "data.smiles_column=structure", "error",
         "no column named 'structure'", 2, ""),
        ("train_missing_target_column", "train", "good.csv", "data.target_columns=[logS]", "error",
         "no column named 'logs'", 2, ""),
        ("train_molecule_beyond_model_size", "train", "train_too_large.csv", train_tiny, "ok",
         "skipped 1 of 31 rows", 0, ""),
        ("config_unknown_key", "train", "good.csv", "no_such_key=1", "error", "no_such_key", 2, ""),
        ("config_unknown_group_option", "train", "good.csv", "model=huge", "error", "model=huge", 2, ""),
        ("config_lr_text", "train", "good.csv", "optim.lr=fast", "error", "optim.lr", 2, ""),
        ("config_lr_negative", "train", "good.csv", "optim.lr=-1", "error", "optim.lr", 2, ""),
        ("config_batch_size_zero", "train", "good.csv", "data.batch_size=0", "error", "data.batch_size", 2, ""),
        ("config_batch_size_text", "train", "good.csv", "data.batch_size=many", "error", "data.batch_size", 2, ""),
        ("config_epochs_text", "train", "good.csv", "trainer.max_epochs=abc", "error", "trainer.max_epochs", 2, ""),
        ("config_heads_not_dividing", "train", "good.csv", "model.embed_dim=16 model.num_heads=3", "error",
         "not divisible", 2, ""),
        ("config_dropout_range", "train", "good.csv", "model.dropout=2", "error", "model.dropout", 2, ""),
        ("config_seed_text", "train", "good.csv", "seed=abc", "error", "seed", 2, ""),
        ("config_threads_text", "train", "good.csv", "threads=abc", "error", "threads", 2, ""),
        ("config_split_sizes_short", "train", "good.csv", "data.split_sizes=[0.5]", "error", "split_sizes", 2, ""),
        ("config_resume_not_bool", "train", "good.csv", "resume=yes", "error", "resume", 2, ""),
        ("config_task_typo", "train", "good.csv", "data.task=regresion", "error", "data.task", 2, ""),
        ("config_split_typo", "train", "good.csv", "data.split=bogus", "error", "data.split", 2, ""),
        ("predict_empty_file", "predict", "empty.csv", "", "error", "file is empty", 2, ""),
        ("predict_header_only", "predict", "header_only.csv", "", "error", "no molecules", 2, ""),
        ("predict_semicolon", "predict", "semicolon.csv", "", "ok", "predicted 40 of 40 rows", 0, ""),
        ("predict_tab", "predict", "tab.csv", "", "ok", "predicted 40 of 40 rows", 0, ""),
        ("predict_tsv", "predict", "molecules.tsv", "", "ok", "predicted 40 of 40 rows", 0, ""),
        ("predict_headerless", "predict", "headerless.csv", "", "ok", "predicted 40 of 40 rows", 0, ""),
        ("predict_bom_crlf", "predict", "bom_crlf.csv", "", "ok", "predicted 40 of 40 rows", 0, ""),
        ("predict_latin1", "predict", "latin1.csv", "", "error", "cannot read file", 2, ""),
        ("predict_truncated_gzip", "predict", "truncated.csv.gz", "", "error", "cannot read file", 2, ""),
        ("predict_missing_smiles_column", "predict", "good.csv", "smiles_column=structure", "error",
         "no column named 'structure'", 2, ""),
        ("predict_smiles_column_out_of_range", "predict", "good.csv", "smiles_column=7", "error", "out of range",
         2, ""),
        ("predict_empty_sdf", "predict", "empty.sdf", "", "error", "no molecules", 2, ""),
        ("predict_empty_smi", "predict", "empty.smi", "", "error", "no molecules", 2, ""),
        ("predict_device_name", "predict", "good.csv", "device=gpu", "error", "device must be", 2, ""),
        ("predict_chunk_size_zero", "predict", "good.csv", "chunk_size=0", "error", "chunk_size", 2, ""),
        ("evaluate_split_typo", "evaluate", "good.csv", "ckpt_path={tmp}/model.ckpt split=validation", "error",
         "split must be", 2, ""),
        ("predict_garbage_checkpoint", "predict", "good.csv", "ckpt_path={corpus}/garbage.ckpt", "error",
         "not a readable checkpoint", 2, ""),
        ("predict_truncated_checkpoint", "predict", "good.csv", "ckpt_path={tmp}/truncated.ckpt", "error",
         "not a readable checkpoint", 2, ""),
        ("predict_missing_checkpoint", "predict", "good.csv", "ckpt_path={tmp}/no_such.ckpt", "error",
         "checkpoint not found", 2, ""),
        ("resume_truncated_checkpoint", "train", "good.csv", "ckpt_path={tmp}/truncated_train.ckpt", "error",
         "not a readable checkpoint", 2, ""),
        ("resume_other_task_checkpoint", "train", "good.csv", "ckpt_path={tmp}/other_task.ckpt", "error",
         "checkpoint of another task", 2, ""),
        ("resume_auto_damaged_last", "train", "good.csv", "resume=true", "error", "last.ckpt: not a readable", 2,
         ""),
        ("resume_inference_checkpoint", "train", "good.csv", "ckpt_path={tmp}/inference.ckpt", "error",
         "not a training checkpoint", 2, ""),
        ("evaluate_other_task_checkpoint", "evaluate", "good.csv", "ckpt_path={tmp}/other_targets.ckpt", "error",
         "the checkpoint predicts", 2, ""),
    ]
    for name, verb, file, args, expected, fragment, code, issue in single:
        manifest.append(case(name, "single", verb, file, "", expected, fragment, code, args, issue))


def case(name, group, verb, file, key, expected, fragment="", exit_code=0, args="", issue="") -> dict:
    return dict(case=name, group=group, verb=verb, file=file, key=key, args=args, expected=expected,
                fragment=fragment, exit_code=exit_code, known_issue=issue)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    manifest: list[dict] = []
    predict_csv(manifest)
    predict_smi(manifest)
    predict_sdf(manifest)
    train_csv(manifest)
    single_files(manifest)
    names = [m["case"] for m in manifest]
    assert len(names) == len(set(names)), "case names must be unique"
    with open(HERE / "bad_inputs.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(manifest)
    print(f"{len(manifest)} cases -> {HERE / 'bad_inputs.csv'}")


if __name__ == "__main__":
    main()
