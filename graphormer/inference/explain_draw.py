"""Pictures of explanations: an RDKit drawing with the atoms' attributions as a similarity map.

    from graphormer.inference.explain_draw import draw_explanation
    svg = draw_explanation(predictor.explain("CCO"))                   # SVG text
    png = draw_explanation(ex, output="logS", label=-0.77, fmt="png")  # PNG bytes (Cairo)

Each atom carries a Gaussian weighted by its attribution, normalised by the largest |attribution| of the
molecule: red where an atom raises the explained output (the prediction; the logit for classification),
blue where it lowers it, white for nothing. A colour bar under the molecule states the scale (± the largest
|attribution|, in the output's units), the legend the prediction and, when given, the label.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem, Geometry
from rdkit.Chem import Draw, rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

from graphormer.chem import quiet_rdkit
from graphormer.inference.explain import Explanation

# diverging blue - white - red (the ends of matplotlib's coolwarm)
NEGATIVE = (0.23, 0.30, 0.75)
ZERO = (1.0, 1.0, 1.0)
POSITIVE = (0.71, 0.02, 0.15)
BAR_HEIGHT = 46  # pixels under the molecule for the colour bar and its numbers
FORMATS = ("svg", "png")
# Grid cells per side of the map: an SVG writes one rectangle per cell (40 a side: ~190 KB a picture on ESOL), a PNG
# pays nothing for a finer grid.
GRID_CELLS = {"svg": 40, "png": 96}


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def legend_text(ex: Explanation, output: int, label: float | None = None) -> str:
    name = ex.output_names[output]
    text = f"{name}: prediction {_fmt(ex.prediction[output])}"
    if ex.prediction_std is not None:
        text += f" ± {_fmt(ex.prediction_std[output])}"
    if label is not None and np.isfinite(label):
        text += f", label {_fmt(label)}"
    return text


def _output_index(ex: Explanation, output: int | str) -> int:
    if isinstance(output, str):
        if output not in ex.output_names:
            raise ValueError(f"no output named {output!r} (outputs: {', '.join(ex.output_names)})")
        return ex.output_names.index(output)
    return int(output)


def _mix(weight: float) -> tuple[float, float, float]:
    """Colour of a normalised weight in [-1, 1]."""
    end = POSITIVE if weight >= 0 else NEGATIVE
    t = min(abs(weight), 1.0)
    return tuple(z + (e - z) * t for z, e in zip(ZERO, end))


def _colour_bar(drawer, width: int, top: int, scale: float, unit: str) -> None:
    """A bar from -scale (blue) to +scale (red) with its ends and middle labelled, in pixel coordinates."""
    left, right, bar_top, bar_bottom = 0.12 * width, 0.88 * width, top + 4, top + 18
    cells = 41
    step = (right - left) / cells
    for i in range(cells):
        drawer.SetColour(_mix(-1 + 2 * (i + 0.5) / cells))
        drawer.DrawRect(Geometry.Point2D(left + i * step, bar_top), Geometry.Point2D(left + (i + 1) * step + 0.5,
                        bar_bottom), rawCoords=True)
    drawer.SetColour((0.0, 0.0, 0.0))
    drawer.SetFontSize(12)
    y = bar_bottom + 12
    drawer.DrawString(f"-{_fmt(scale)}", Geometry.Point2D(left, y), 0, rawCoords=True)
    drawer.DrawString(f"0 ({unit})", Geometry.Point2D(width / 2, y), 0, rawCoords=True)
    drawer.DrawString(f"+{_fmt(scale)}", Geometry.Point2D(right, y), 0, rawCoords=True)


def draw_explanation(ex: Explanation, output: int | str = 0, label: float | None = None, fmt: str = "svg",
                     size: tuple[int, int] = (360, 320)):
    """The molecule with `output`'s attributions as a similarity map: SVG text or PNG bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    index = _output_index(ex, output)
    width, height = size
    drawer = (rdMolDraw2D.MolDraw2DSVG(width, height + BAR_HEIGHT, width, height) if fmt == "svg"
              else rdMolDraw2D.MolDraw2DCairo(width, height + BAR_HEIGHT, width, height))
    with quiet_rdkit():
        mol = rdMolDraw2D.PrepareMolForDrawing(Chem.Mol(ex.mol), addChiralHs=False)  # keeps the atom order
        if not mol.GetNumConformers():
            rdDepictor.Compute2DCoords(mol)
    weights = np.asarray(ex.attributions[:, index], dtype=float)
    scale = float(np.abs(weights).max()) if len(weights) else 0.0
    normalised = weights / scale if scale > 0 else np.zeros_like(weights)
    conformer = mol.GetConformer()
    locs = [Geometry.Point2D(conformer.GetAtomPosition(i).x, conformer.GetAtomPosition(i).y)
            for i in range(mol.GetNumAtoms())]
    params = Draw.ContourParams()
    params.fillGrid = True
    xs, ys = [p.x for p in locs], [p.y for p in locs]
    params.gridResolution = max(0.05, (max(max(xs) - min(xs), max(ys) - min(ys)) + 3.0) / GRID_CELLS[fmt])
    params.extraGridPadding = 0.5
    params.setColourMap([NEGATIVE, ZERO, POSITIVE])
    drawer.drawOptions().legendFontSize = 15
    drawer.drawOptions().legendFraction = 0.12
    legend = legend_text(ex, index, label)
    with quiet_rdkit():
        _draw_map(drawer, mol, locs, normalised, params, legend)
    unit = "logit" if ex.task != "regression" else ex.output_names[index]
    _colour_bar(drawer, width, height, scale, unit)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


def _draw_map(drawer, mol, locs, normalised, params, legend: str) -> None:
    if len(locs) > 1:
        sigmas = [0.45] * len(locs)  # 0.3 of RDKit's depiction bond length (1.5), as SimilarityMaps uses
        Draw.ContourAndDrawGaussians(drawer, locs, [float(w) for w in normalised], sigmas, nContours=10,
                                     params=params)
        drawer.drawOptions().clearBackground = False
        drawer.DrawMolecule(mol, legend=legend)
    else:  # one atom: no map to speak of (and the drawing's scale would be the Gaussian's), a highlight
        drawer.DrawMolecule(mol, legend=legend, highlightAtoms=[0],
                            highlightAtomColors={0: _mix(float(normalised[0]))})

