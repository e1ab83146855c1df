"""SMILES -> RDKit molecule with typed errors and no log noise."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from typing import Iterator

from rdkit import Chem, rdBase

from graphormer.chem.errors import MoleculeError

__all__ = ["PARSER_VERSION", "parse_smiles", "quiet_rdkit"]

# Which SMILES parse_smiles accepts; part of the featurization cache key (a cache built under another rule
# would keep rows this one refuses). 2: inner whitespace and non-ASCII characters are refused.
PARSER_VERSION = 2

# Everything except the valence (property) check; RDKit's documented recipe for
# "sanitise but tolerate hypervalent atoms".
_SANITIZE_NO_VALENCE = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES

# DetectChemistryProblems type name -> prefix used in MoleculeError.reason.
_PROBLEM_PREFIX = {
    "AtomValenceException": "valence error",
    "AtomKekulizeException": "kekulization error",
    "KekulizeException": "kekulization error",
}

_LOG_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s?")
_PARSE_ERROR_PREFIX = "SMILES Parse Error: "
_WHITESPACE = re.compile(r"\s+")


def _capture_errors():
    """Context manager that records RDKit error-log lines, or None on old RDKit."""
    capture = getattr(rdBase, "CaptureErrorLog", None)  # added in recent RDKit releases
    return capture() if capture is not None else None


def _syntax_reason(log_text: str) -> str:
    """First 'SMILES Parse Error' line of RDKit's log, without timestamp and prefix."""
    for line in log_text.splitlines():
        line = _LOG_TIMESTAMP.sub("", line).strip()
        if line.startswith(_PARSE_ERROR_PREFIX):
            return "unparsable SMILES: " + line[len(_PARSE_ERROR_PREFIX):]
    return "unparsable SMILES: SMILES syntax error"


def _check_text(smiles: object) -> str:
    if not isinstance(smiles, str):
        raise MoleculeError(smiles, f"SMILES must be a string, got {type(smiles).__name__}")
    text = smiles.strip()
    if not text:
        raise MoleculeError(smiles, "empty SMILES")
    # RDKit stops reading at the first space and would silently parse a prefix ("CC O" as ethane), and
    # it reads only ASCII. A space may only introduce a CXSMILES extension ("C[C@H](F)Cl |&1:1|").
    for position, char in enumerate(text, start=1):
        if not char.isascii():
            raise MoleculeError(smiles, f"unparsable SMILES: non-ASCII character {char!r} at position {position}")
    space = _WHITESPACE.search(text)
    if space is not None and not text[space.end():].startswith("|"):
        raise MoleculeError(smiles, f"unparsable SMILES: whitespace at position {space.start() + 1} "
                                    f"(RDKit would read only {text[:space.start()]!r})")
    return text


def _parse_unsanitized(smiles: str, text: str) -> Chem.Mol:
    """Parse without sanitisation; raises with RDKit's syntax message on failure."""
    capture = _capture_errors()
    if capture is None:
        mol = Chem.MolFromSmiles(text, sanitize=False)
        log_text = ""
    else:
        with capture:
            mol = Chem.MolFromSmiles(text, sanitize=False)
        log_text = capture.messages
    if mol is None:
        raise MoleculeError(smiles, _syntax_reason(log_text))
    if mol.GetNumAtoms() == 0:
        raise MoleculeError(smiles, "empty molecule (no atoms)")
    return mol


def _describe_problem(problem) -> str:
    prefix = _PROBLEM_PREFIX.get(problem.GetType(), "sanitization error")
    return f"{prefix}: {problem.Message()}"


def _sanitize_without_valence(smiles: str, mol: Chem.Mol) -> Chem.Mol:
    """Redo strict parsing's post-processing on an unsanitised molecule, minus the valence check.

    Same steps and order as ``MolFromSmiles`` (remove Hs, sanitise, assign stereo);
    on strictly valid molecules this gives features identical to strict parsing
    (checked in the tests), so rescued molecules are featurised consistently.
    """
    try:
        mol.UpdatePropertyCache(strict=False)
        mol = Chem.RemoveHs(mol, sanitize=False)
        mol.UpdatePropertyCache(strict=False)  # implicit H counts of the atoms that lost Hs
        Chem.SanitizeMol(mol, _SANITIZE_NO_VALENCE)
        Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    except Exception as exc:  # RDKit raises several unrelated exception types here
        raise MoleculeError(smiles, f"sanitization error: {exc}") from exc
    return mol


def _recover(smiles: str, text: str, allow_valence_errors: bool) -> Chem.Mol:
    """Strict parsing failed: find out why, and rescue valence-only failures if allowed."""
    mol = _parse_unsanitized(smiles, text)
    problems = list(Chem.DetectChemistryProblems(mol))
    if not problems:
        # Sanitisation passes on its own, so a later step (H removal, stereo) failed.
        raise MoleculeError(smiles, "sanitization error: RDKit rejected the molecule")
    valence_only = all(p.GetType() == "AtomValenceException" for p in problems)
    if allow_valence_errors and valence_only:
        return _sanitize_without_valence(smiles, mol)
    # Report the problem valence tolerance could not fix, if there is one.
    blocking = [p for p in problems if p.GetType() != "AtomValenceException"] or problems
    raise MoleculeError(smiles, _describe_problem(blocking[0]))


_quiet = threading.local()  # .depth > 0 inside quiet_rdkit() on this thread


@contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's log for a whole block; the previous log state returns on exit.

    ``parse_smiles`` silences RDKit on every call anyway; wrapping a loop over a
    dataset in this block only saves that per-call cost (about 10 us per molecule).
    """
    with rdBase.BlockLogs():
        _quiet.depth = getattr(_quiet, "depth", 0) + 1
        try:
            yield
        finally:
            _quiet.depth -= 1


def parse_smiles(smiles: str, *, allow_valence_errors: bool = False) -> Chem.Mol:
    """Parse a SMILES string exactly like ``Chem.MolFromSmiles`` or raise ``MoleculeError``.

    ``allow_valence_errors=True`` accepts molecules whose only problem is an
    over-valent atom (hypervalent Al/B/Ge complexes in the published HIV/Tox21
    sets); they get every other step of strict parsing, without the valence check.
    """
    text = _check_text(smiles)
    if getattr(_quiet, "depth", 0):
        mol = _parse(smiles, text, allow_valence_errors)
    else:
        # BlockLogs silences RDKit only inside this block; the previous log state comes back on exit.
        with rdBase.BlockLogs():
            mol = _parse(smiles, text, allow_valence_errors)
    if mol.GetNumAtoms() == 0:
        raise MoleculeError(smiles, "empty molecule (no atoms)")
    return mol


def _parse(smiles: str, text: str, allow_valence_errors: bool) -> Chem.Mol:
    mol = Chem.MolFromSmiles(text)
    return mol if mol is not None else _recover(smiles, text, allow_valence_errors)
