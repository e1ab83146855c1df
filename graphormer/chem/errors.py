"""Typed error for molecules that cannot be turned into a graph."""
from __future__ import annotations


class MoleculeError(ValueError):
    """A SMILES string (or molecule) that cannot be parsed or featurised.

    ``smiles`` is the input as given (may be a non-string, e.g. ``None``);
    ``reason`` is a short human-readable explanation such as
    ``"valence error: Explicit valence for atom # 3 N, 4, is greater than permitted"``.
    """

    def __init__(self, smiles: object, reason: str) -> None:
        self.smiles = smiles
        self.reason = reason
        super().__init__(f"{reason} (SMILES: {smiles!r})")

    def __reduce__(self):
        # Keep the two-argument constructor working across pickling (multiprocessing loaders).
        return (type(self), (self.smiles, self.reason))
