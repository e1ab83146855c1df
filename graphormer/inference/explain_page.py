"""`index.html` of an explain run: every explained molecule's picture in a grid, sortable.

The page is one file with inline CSS and JavaScript; pictures are referenced by relative path (images/...),
so the folder can be moved, zipped or opened offline. Nothing is fetched from the network.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

from graphormer.files import atomic_write


@dataclass
class Card:
    row: int
    smiles: str
    predictions: list[float]  # one per output
    images: list[str]  # relative paths, one per output
    label: float | None = None
    gaps: list[float] = field(default_factory=list)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
p.note { color: #555; max-width: 60em; margin: .2em 0 .8em; }
.controls { margin: .6em 0 1em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 6px; background: #fff; }
.card img { width: 100%; height: auto; display: block; }
.card .meta { font-size: .85em; overflow-wrap: anywhere; }
.card .smiles { font-family: monospace; color: #444; }
table.failed { border-collapse: collapse; margin-top: 1.5em; font-size: .9em; }
table.failed td, table.failed th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
"""

SCRIPT = """
const grid = document.getElementById('grid');
function sortCards(key) {
  const cards = Array.from(grid.children);
  const [what, dir] = key.split(':');
  const value = c => { const v = parseFloat(c.dataset[what]); return isNaN(v) ? null : v; };
  cards.sort((a, b) => {
    const va = value(a), vb = value(b);
    if (va === null && vb === null) return 0;
    if (va === null) return 1;
    if (vb === null) return -1;
    return dir === 'desc' ? vb - va : va - vb;
  });
  cards.forEach(c => grid.appendChild(c));
}
document.getElementById('sort').addEventListener('change', e => sortCards(e.target.value));
"""


def _number(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _data_key(output: int) -> str:
    return f"pred{output}"


def render_index(cards: list[Card], output_names: list[str], failed: list[tuple[int, str]], title: str,
                 has_label: bool, steps: int, logit: bool) -> str:
    """The page's HTML text."""
    options = ['<option value="row:asc">input order</option>']
    for o, name in enumerate(output_names):
        options.append(f'<option value="{_data_key(o)}:desc">{html.escape(name)}: prediction, high to low</option>')
        options.append(f'<option value="{_data_key(o)}:asc">{html.escape(name)}: prediction, low to high</option>')
    if has_label:
        options.append('<option value="error:desc">|prediction − label|, largest first</option>')
    body = []
    for card in cards:
        data = {"row": str(card.row)}
        data.update({_data_key(o): _number(p) for o, p in enumerate(card.predictions)})
        if has_label:
            error = abs(card.predictions[0] - card.label) if card.label is not None else None
            data["error"] = _number(error)
        attrs = " ".join(f'data-{k}="{html.escape(v)}"' for k, v in data.items())
        images = "".join(f'<a href="{html.escape(img)}"><img src="{html.escape(img)}" alt="row {card.row} '
                         f'{html.escape(name)}" loading="lazy"></a>' for img, name in zip(card.images, output_names))
        preds = ", ".join(f"{html.escape(n)} {_number(p)}" for n, p in zip(output_names, card.predictions))
        label = f" · label {_number(card.label)}" if has_label else ""
        body.append(f'<div class="card" {attrs}>{images}<div class="meta">row {card.row} · {preds}{label}<br>'
                    f'<span class="smiles">{html.escape(card.smiles)}</span></div></div>')
    failed_html = ""
    if failed:
        rows = "".join(f"<tr><td>{row}</td><td>{html.escape(err)}</td></tr>" for row, err in failed)
        failed_html = (f'<table class="failed"><tr><th>row</th><th>not explained (the error column of '
                       f'molecules.csv)</th></tr>{rows}</table>')
    unit = "logit" if logit else "prediction"
    note = (f"Atom colours: integrated-gradients attribution ({steps} Gauss-Legendre steps, baseline: every atom "
            f"embedding zero) of the {unit}; red raises it, blue lowers it, scaled per molecule to its largest "
            f"|attribution| (the colour bar). Per-atom numbers and the graph token's attention per layer are in "
            f"atoms.csv, predictions and completeness gaps in molecules.csv.")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"note\">{html.escape(note)}</p>"
            f"<div class=\"controls\"><label>sort by <select id=\"sort\">{''.join(options)}</select></label> "
            f"· {len(cards)} molecules explained, {len(failed)} rows not</div>"
            f"<div class=\"grid\" id=\"grid\">{''.join(body)}</div>{failed_html}"
            f"<script>{SCRIPT}</script></body></html>\n")


def write_index(path: str | Path, cards: list[Card], output_names: list[str], failed: list[tuple[int, str]],
                title: str, has_label: bool, steps: int, logit: bool) -> Path:
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(render_index(cards, output_names, failed, title, has_label, steps, logit))
    return path

