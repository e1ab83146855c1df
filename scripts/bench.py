#!/usr/bin/env python
"""Graphormer, ours against the HuggingFace reference port, side by side on the same real molecules.

Both sides get the same molecules, the same batches (same molecules per batch: slim 64, base 16), the same
model configuration as the official recipes (post-LN, embedding LayerNorm, dropout 0.0 / attention 0.1 /
activation 0.1, 5 hops, fp32; AdamW lr 2e-4 on every side, as our training module configures it) and,
for the equality check, the same weights (a random HF model converted with `graphormer.inference.convert`). The reference is set up as the official code runs:
collator `spatial_pos_max=1024`, path features cut to 5 hops on the `preprocess_item` output before the HF
collator (the HF collator itself would pad to 510 hops as soon as one molecule is disconnected).

Measured, each as the median over rounds; within a round the sides take turns batch by batch in a rotating
order (ours, reference; reference, ours; ...), so load from other jobs hits both alike:
* preprocessing, SMILES -> batch, molecules/s. Ours cold = featurize + collate (no cache); ours warm =
  cached GraphStore -> batch (every later epoch). Reference cold = smiles2graph + preprocess_item + cut +
  collate; reference warm = preprocess_item + cut + collate (the official dataset redoes this every epoch).
* training step (forward + L1 loss + backward + AdamW) and inference (eval, no_grad), molecules/s.
* CPU time next to wall time (`time.process_time`); on a shared box the CPU-time ratio is the steadier one.
* memory, in a fresh subprocess per (implementation, config): training-step memory = peak RSS during one
  step minus RSS just before it, after a warm-up pass (weights, gradients and AdamW state already exist);
  peak via /proc/self/status VmHWM after `echo 5 > /proc/self/clear_refs`, with MALLOC_MMAP_THRESHOLD_=65536
  so freed tensors go back to the OS (shared/reference/attention-backends.md). Same for inference and for
  the data preparation of one batch.

Threads: torch.set_num_threads(1) by default (`--threads`). On a shared 2-core machine two OpenMP threads
fight the other jobs for the cores and give slower, noisier numbers.

    python scripts/bench.py --quick                  # < 5 min on 2 cores; ends with one JSON line
    python scripts/bench.py                          # + size curve (chains, 10-200 atoms), dataset-size curve
    python scripts/bench.py --quick --profile slim   # torch.profiler tables: ours, reference
    python scripts/bench.py --report bench.json      # re-render bench.md / bench.png from a saved run
    python scripts/bench.py --device cuda --quick    # on a GPU: backends x dtypes x train/infer, peak memory,
                                                     # flex recompiles, host syncs; one JSON line (gpu_check.sh)
    python scripts/bench.py --out /tmp/bench         # results dir (default scripts/bench_results/; the script
                                                     # writes a `*` .gitignore into it, so it stays untracked)

Data: QM9, ZINC 12k and ogbg-molhiv from ../shared/data (or $GRAPHORMER_SHARED_DATA); without them the NCI
file shipped with RDKit. Needs the `bench` extra (`pip install -e ".[bench]"`: transformers 4.57.x, Cython < 3.1,
matplotlib); without it the script says so in one line.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import pickle
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GRAPHORMER_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_OUT = Path(__file__).resolve().parent / "bench_results"

ARCHS = {"slim": dict(num_layers=12, embed_dim=80, ffn_dim=80, num_heads=8),
         "base": dict(num_layers=12, embed_dim=768, ffn_dim=768, num_heads=32)}
BATCH = {"slim": 64, "base": 16}
# --configs tiny: a 2-layer model for dry runs of the script itself (scripts/gpu_check.sh --cpu-dry-run)
ARCHS["tiny"] = dict(num_layers=2, embed_dim=16, ffn_dim=16, num_heads=2)
BATCH["tiny"] = 8
DROPOUT = dict(dropout=0.0, attention_dropout=0.1, activation_dropout=0.1)
MAX_HOPS = 5
SPATIAL_POS_MAX = 1024
LR = 2e-4
# Environment of the memory subprocesses: big blocks mmap'ed, so a freed tensor leaves RSS at once.
MEM_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


# =============================================================================================== molecules
def _read_column(path: Path, column: str) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def _nci_smiles() -> list[str]:
    from rdkit import RDConfig

    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5k.tpsa.csv"
    with open(path) as handle:
        return [line.split(",")[0] for line in handle if line.strip() and not line.startswith("#")]


def dataset_smiles() -> dict[str, list[str]]:
    """SMILES of each available dataset: QM9, ZINC 12k, molhiv; or the RDKit NCI file as the fallback."""
    sources = {"qm9": (SHARED / "qm9" / "qm9.csv.gz", "smiles"),
               "zinc": (SHARED / "zinc12k" / "smiles_score.csv.gz", "SMILES"),
               "molhiv": (SHARED / "ogbg_molhiv" / "mapping" / "mol.csv.gz", "smiles")}
    found = {name: _read_column(path, col) for name, (path, col) in sources.items() if path.is_file()}
    return found or {"nci": _nci_smiles()}


def sample_molecules(smiles: list[str], count: int, seed: int) -> list[str]:
    """`count` random SMILES that both featurizers accept (strict RDKit parse, at least one atom)."""
    from graphormer.chem import MoleculeError, quiet_rdkit, smiles_to_graph

    rng = random.Random(seed)
    order = list(range(len(smiles)))
    rng.shuffle(order)
    picked = []
    with quiet_rdkit():
        for i in order:
            try:
                smiles_to_graph(smiles[i])
            except MoleculeError:
                continue
            picked.append(smiles[i])
            if len(picked) == count:
                break
    return picked


def chain_smiles(atoms: int) -> str:
    """Poly-alanine with about `atoms` heavy atoms (5 per residue + the C-terminal O): a flexible chain."""
    residues = max(1, (atoms - 1) // 5)
    return "N" + "[C@@H](C)C(=O)N" * (residues - 1) + "[C@@H](C)C(=O)O"


def ogb_graphs(smiles: list[str]) -> list[dict]:
    from ogb.utils import smiles2graph

    return [smiles2graph(s) for s in smiles]


# ============================================================================================ reference
_REF = None


def reference():
    """(modeling, collating) modules of the HF port (compiles algos_graphormer.pyx on first use)."""
    global _REF
    if _REF is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from transformers.models.deprecated.graphormer import collating_graphormer as collating
            from transformers.models.deprecated.graphormer import modeling_graphormer as modeling
        _REF = modeling, collating
    return _REF


def ref_item(graph: dict) -> dict:
    """preprocess_item on a smiles2graph dict, then the official cut of path features to MAX_HOPS."""
    item = dict(edge_index=graph["edge_index"], edge_attr=graph["edge_feat"], node_feat=graph["node_feat"],
                num_nodes=graph["num_nodes"], labels=[0.0])
    item = reference()[1].preprocess_item(item)
    item["input_edges"] = item["input_edges"][:, :, :MAX_HOPS, :]
    return item


def ref_collate(items: list[dict]) -> dict:
    """The HF collator (spatial_pos_max as the official task). Largest molecule first (stable): the collator
    reads feature widths from the first item and crashes on a one-atom molecule there (spec §12.1)."""
    items = sorted(items, key=lambda it: -it["num_nodes"])
    batch = reference()[1].GraphormerDataCollator(spatial_pos_max=SPATIAL_POS_MAX)(items)
    batch.pop("labels")
    return batch


def ref_config(arch: str):
    a = ARCHS[arch]
    return reference()[0].GraphormerConfig(
        num_classes=1, num_hidden_layers=a["num_layers"], embedding_dim=a["embed_dim"],
        ffn_embedding_dim=a["ffn_dim"], num_attention_heads=a["num_heads"], multi_hop_max_dist=MAX_HOPS,
        spatial_pos_max=SPATIAL_POS_MAX, encoder_normalize_before=True, pre_layernorm=False,
        apply_graphormer_init=True, **DROPOUT)


def ref_model(arch: str, seed: int, perturb: float = 0.0):
    """A random reference model. `perturb` adds noise to every weight (padding rows stay zero) so that the
    equality check also sees the small bias tables."""
    torch.manual_seed(seed)
    model = reference()[0].GraphormerForGraphClassification(ref_config(arch))
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * perturb)
            for m in model.modules():
                if isinstance(m, torch.nn.Embedding) and m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
    return model


def ref_forward(model, batch: dict) -> torch.Tensor:
    return model(**batch).logits


# ================================================================================================= ours
def ours_model(arch: str, seed: int):
    from graphormer.model import Graphormer

    torch.manual_seed(seed)
    return Graphormer(**ARCHS[arch], num_outputs=1, max_hops=MAX_HOPS, max_spatial_distance=None,
                      pre_layernorm=False, embed_layernorm=True, **DROPOUT)


def ours_from_reference(hf_model):
    """Our model carrying the reference model's weights, through the converter (save_pretrained folder)."""
    from graphormer.inference.convert import map_state_dict, read_hf
    from graphormer.model import Graphormer

    with tempfile.TemporaryDirectory() as tmp:
        hf_model.save_pretrained(tmp)
        src = read_hf(tmp, spatial_pos_max=SPATIAL_POS_MAX)
    model = Graphormer(**src.arch, num_outputs=src.num_outputs, max_spatial_distance=src.max_spatial_distance)
    model.load_state_dict(map_state_dict(src.state, src.atom_row_shift))
    return model


def ours_collate(graphs) -> dict:
    from graphormer.data.collate import Collater

    return Collater(max_hops=MAX_HOPS)([(g, None) for g in graphs])


def ours_forward(model, batch: dict) -> torch.Tensor:
    return model(batch["x"], batch["node_mask"], batch["degree"], batch["spd"], batch["path"],
                 layout=batch.get("layout"))


# ============================================================================================ measuring
class Clock:
    """Wall and CPU (this process, all threads) seconds of a `with` block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def peak_mib() -> float:
    return _status_kib("VmHWM") / 1024


def reset_peak() -> None:
    """Set the RSS high-water mark to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_delta(fn) -> float:
    """MiB the RSS rose above its starting value at the worst moment of fn()."""
    reset_peak()
    before = rss_mib()
    fn()
    return peak_mib() - before


def median(values) -> float:
    return float(statistics.median(values))


def rates(n: int, clocks: list) -> dict:
    """Median molecules/s by wall and by CPU time over rounds."""
    return {"mol_s": median(n / c.wall for c in clocks), "mol_s_cpu": median(n / c.cpu for c in clocks),
            "wall_s": median(c.wall for c in clocks), "cpu_s": median(c.cpu for c in clocks)}


class Total:
    """Summed wall and CPU seconds of several Clock readings."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def add(self, clock: Clock) -> None:
        self.wall += clock.wall
        self.cpu += clock.cpu


def interleave(runs: dict, pieces: int, rounds: int) -> dict[str, list[Total]]:
    """Per round, every side runs every piece (a batch); the sides take turns piece by piece, in a rotating
    order, so a burst of load from other jobs hits all sides alike. Returns one Total per side and round."""
    names = list(runs)
    totals = {name: [] for name in names}
    for r in range(rounds):
        this = {name: Total() for name in names}
        for i in range(pieces):
            shift = (r * pieces + i) % len(names)
            for name in names[shift:] + names[:shift]:
                with Clock() as clock:
                    runs[name](i)
                this[name].add(clock)
        for name in names:
            totals[name].append(this[name])
    return totals


# ======================================================================================== preprocessing
def bench_prep(smiles: list[str], batch: int, rounds: int) -> dict:
    """SMILES -> batches, ours and the reference's, cold and warm, over the same batches."""
    from graphormer.chem import quiet_rdkit
    from graphormer.data.featurize import featurize_smiles

    batches = [list(range(i, min(i + batch, len(smiles)))) for i in range(0, len(smiles), batch)]
    graphs = ogb_graphs(smiles)  # the reference's cached input for the warm epochs
    store = featurize_smiles(smiles, workers=0, progress=False)[0]  # ours, cached

    def ours_cold(b):  # no cache: featurize this batch's SMILES, then collate
        with quiet_rdkit():
            s = featurize_smiles([smiles[i] for i in batches[b]], workers=0, progress=False)[0]
        ours_collate([s.graph(i) for i in range(len(s))])

    def ours_warm(b):
        ours_collate([store.graph(i) for i in batches[b]])

    def ref_warm(b, gs=None):
        gs = gs or graphs
        ref_collate([ref_item(gs[i]) for i in batches[b]])

    def ref_cold(b):
        ref_collate([ref_item(g) for g in ogb_graphs([smiles[i] for i in batches[b]])])

    ours_warm(0), ref_warm(0)  # warm-up (imports, pyximport, allocator)
    runs = {"ours_cold": ours_cold, "ref_cold": ref_cold, "ours_warm": ours_warm, "ref_warm": ref_warm}
    out = {name: rates(len(smiles), t) for name, t in interleave(runs, len(batches), rounds).items()}
    # Where the reference's time goes (one pass each): smiles2graph, preprocess_item, collate.
    with Clock() as t_s2g:
        ogb_graphs(smiles)
    with Clock() as t_pre:
        items = [ref_item(g) for g in graphs]
    with Clock() as t_col:
        for idx in batches:
            ref_collate([items[i] for i in idx])
    out["ref_stages_mol_s"] = {"smiles2graph": len(smiles) / t_s2g.wall, "preprocess_item": len(smiles) / t_pre.wall,
                               "collate": len(smiles) / t_col.wall}
    out["molecules"] = len(smiles)
    return out


# ============================================================================================ the model
def train_step(forward, model, opt, batch, y) -> None:
    loss = torch.nn.functional.l1_loss(forward(model, batch), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=False)  # gradients stay allocated between steps, as the memory method assumes


def infer(forward, model, batch) -> None:
    with torch.no_grad():
        forward(model, batch)


def to_molgraph(g: dict):
    from graphormer.chem import MolGraph

    return MolGraph(g["node_feat"].astype(np.uint8), g["edge_index"], g["edge_feat"].astype(np.uint8))


def make_batches(graph_sets: list[list[dict]], arch: str) -> list[tuple[dict, dict, torch.Tensor]]:
    """(ours, reference, targets) for each molecule list, both built from the same smiles2graph output."""
    out = []
    for graphs in graph_sets:
        out.append((ours_collate([to_molgraph(g) for g in graphs]), ref_collate([ref_item(g) for g in graphs]),
                    torch.randn(len(graphs), 1)))
    return out


# side name -> (forward, which batch of make_batches' pair). Both sides get the optimizer our training module
# configures (plain torch AdamW), so the comparison is of the model and data code only.
SIDES = {"ours": (ours_forward, 0), "ref": (ref_forward, 1)}


def _grads(model, forward, batch, y) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    torch.nn.functional.l1_loss(forward(model, batch), y).backward()
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))
    model.zero_grad(set_to_none=True)
    return norm


def check_parity(ours, theirs, batches) -> dict:
    """Same weights, eval mode (no dropout): max |ours - reference| of the outputs, and the relative
    difference of the gradient norms (L1 loss)."""
    ours.eval(), theirs.eval()
    out_diff, out_scale, grad_rel = 0.0, 0.0, 0.0
    for b_ours, b_ref, y in batches:
        with torch.no_grad():
            a, b = ours_forward(ours, b_ours), ref_forward(theirs, b_ref)
        out_diff = max(out_diff, (a - b).abs().max().item())
        out_scale = max(out_scale, b.abs().max().item())
        g_ours, g_ref = _grads(ours, ours_forward, b_ours, y), _grads(theirs, ref_forward, b_ref, y)
        grad_rel = max(grad_rel, (abs(g_ours - g_ref) / g_ref).item())
    return {"ours": {"max_abs_diff": out_diff, "max_abs_output": out_scale, "grad_norm_rel_diff": grad_rel}}


def bench_model(arch: str, graph_sets: list[list[dict]], rounds: int, seed: int) -> dict:
    """Training and inference throughput, both sides in this process, alternating."""
    theirs = ref_model(arch, seed, perturb=0.05)
    ours = ours_from_reference(theirs)
    batches = make_batches(graph_sets, arch)
    parity = check_parity(ours, theirs, batches)
    n = sum(len(g) for g in graph_sets)
    models = {"ours": ours, "ref": theirs}
    names = list(models)
    opts = {name: torch.optim.AdamW(models[name].parameters(), lr=LR) for name in names}

    def train(side, b):
        fwd, k = SIDES[side]
        models[side].train()
        train_step(fwd, models[side], opts[side], batches[b][k], batches[b][2])

    def evaluate(side, b):
        fwd, k = SIDES[side]
        models[side].eval()
        infer(fwd, models[side], batches[b][k])

    small = min(batches, key=lambda b: b[0]["x"].shape[1])
    for side in names:  # warm-up on the smallest batch: AdamW state, first-call costs
        fwd, k = SIDES[side]
        models[side].train()
        train_step(fwd, models[side], opts[side], small[k], small[2])
        models[side].eval()
        infer(fwd, models[side], small[k])
    result = {}
    for stage, fn in (("train", train), ("infer", evaluate)):
        totals = interleave({side: (lambda b, s=side: fn(s, b)) for side in names}, len(batches), rounds)
        result.update({f"{stage}_{side}": rates(n, t) for side, t in totals.items()})
    result["parity"] = parity
    result["molecules"] = n
    result["padded_atoms"] = [int(b[0]["x"].shape[1]) for b in batches]
    result["real_atoms"] = [int(b[0]["node_mask"].sum()) for b in batches]
    return result


# ================================================================== on an accelerator (scripts/gpu_check.sh)
DEVICE_BACKENDS = ("math", "sdpa", "flex")
DEVICE_DTYPES = {"fp32": None, "bf16": torch.bfloat16}


def _to(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1) if device.type == "cuda" else None


def bench_device(arch: str, graph_sets: list[list[dict]], device: str, rounds: int, seed: int,
                 backends=DEVICE_BACKENDS, dtypes=tuple(DEVICE_DTYPES)) -> dict:
    """Ours (each attention backend) and the reference, fp32 and bf16 autocast, training step and inference,
    on `device`: molecules/s (median over rounds, the device synchronised around each batch) and the peak
    allocated memory of the stage (CUDA: torch.cuda.max_memory_allocated). Same weights on both sides.
    Combinations that cannot run (flex training on a CPU) are listed with the reason instead."""
    device = torch.device(device)
    theirs = ref_model(arch, seed, perturb=0.05)
    ours = ours_from_reference(theirs)
    ours.allow_flex_without_dropout = True  # flex has no attention dropout; the bench times it without
    batches = [(_to(a, device), _to(b, device), y.to(device)) for a, b, y in make_batches(graph_sets, arch)]
    n = sum(len(g) for g in graph_sets)
    sides = {f"ours_{b}": (ours, ours_forward, 0, b) for b in backends}
    sides["ref"] = (theirs, ref_forward, 1, None)
    rows, skipped = [], {}
    for name, (model, fwd, k, backend) in sides.items():
        model.to(device)
        if backend is not None:
            model.attention = backend
        opt = torch.optim.AdamW(model.parameters(), lr=LR)
        for dtype_name in dtypes:
            dtype = DEVICE_DTYPES[dtype_name]
            for stage in ("train", "infer"):
                if stage == "train" and backend == "flex" and device.type != "cuda":
                    skipped[f"{name}/{dtype_name}/{stage}"] = "flex has no backward on the CPU"
                    continue

                def step(b, model=model, fwd=fwd, k=k, opt=opt, stage=stage):
                    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                        if stage == "train":
                            model.train()
                            train_step(fwd, model, opt, batches[b][k], batches[b][2])
                        else:
                            model.eval()
                            infer(fwd, model, batches[b][k])

                try:
                    step(0)  # warm-up (and compilation) outside the clock
                    _sync(device)
                    _peak_reset(device)
                    walls = []
                    for _ in range(rounds):
                        start = time.perf_counter()
                        for b in range(len(batches)):
                            step(b)
                        _sync(device)
                        walls.append(time.perf_counter() - start)
                except Exception as err:  # a kernel that refuses a shape or dtype: reported, not fatal
                    skipped[f"{name}/{dtype_name}/{stage}"] = f"{type(err).__name__}: {str(err)[:200]}"
                    continue
                rows.append({"side": name, "dtype": dtype_name, "stage": stage, "mol_s": round(n / median(walls), 1),
                             "peak_mib": _peak_mib(device)})
        model.cpu()
    return {"device": str(device), "arch": arch, "molecules": n, "rows": rows, "skipped": skipped}


def flex_recompiles(device: str, batches: int = 50, max_atoms: int = 60, seed: int = 0) -> dict:
    """Compiled flex (forced, also on a CPU) over `batches` batches of 1-12 chains of 1-`max_atoms` atoms:
    graphs dynamo compiled against the length buckets seen (the packing's bound)."""
    from torch._dynamo.utils import counters

    from graphormer.chem import smiles_to_graph
    from graphormer.graph.packing import bucket_length
    from graphormer.model import Graphormer

    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = Graphormer(num_layers=2, embed_dim=32, ffn_dim=32, num_heads=2, attention="flex", dropout=0.0,
                       attention_dropout=0.0, activation_dropout=0.0).eval().to(device)
    for layer in model.layers:
        layer.self_attn.compile_flex = True
    torch._dynamo.reset()
    counters.clear()
    lengths = set()
    start = time.perf_counter()
    for _ in range(batches):
        sizes = [rng.randint(1, max_atoms) for _ in range(rng.randint(1, 12))]
        batch = ours_collate([smiles_to_graph("C" * size) for size in sizes])
        lengths |= {bucket_length(g.length) for g in batch["layout"].groups}
        with torch.no_grad():
            ours_forward(model, _to(batch, torch.device(device)))
    return {"batches": batches, "buckets_seen": len(lengths), "graphs_compiled": int(counters["stats"]["unique_graphs"]),
            "seconds": round(time.perf_counter() - start, 1)}


def host_syncs(device: str) -> dict:
    """A packed training step of the slim model (forward, loss with missing labels, backward, metric update)
    and an inference pass under `torch.cuda.set_sync_debug_mode("error")`: any host sync raises. On a CPU
    there is nothing to measure (tests/unit/gpu/test_host_syncs.py counts the calls instead)."""
    if not device.startswith("cuda"):
        return {"measured": False, "why": "sync debug mode is CUDA-only"}
    from graphormer.chem import smiles_to_graph
    from graphormer.train.module import GraphormerModule

    torch.manual_seed(0)
    module = GraphormerModule(model=dict(ARCHS["slim"], attention="auto"), target_names=["a", "b"]).to(device)
    batch = ours_collate([smiles_to_graph(s) for s in ("CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "C")])
    batch = _to(batch, torch.device(device))
    y = torch.tensor([[1.0, float("nan")], [2.0, 3.0], [0.5, float("nan")], [1.0, 1.0]], device=device)
    out = {}
    for stage in ("train", "infer"):
        module.train(stage == "train")
        module(batch)  # warm-up: first-call allocations and compilation may sync
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            with torch.set_grad_enabled(stage == "train"):
                raw = module(batch)
                if stage == "train":
                    module._loss(raw, y).backward()
                module.metrics["val"].update(raw.detach().float(), y)
            out[stage] = 0
        except RuntimeError as err:
            out[stage] = f"sync: {str(err)[:200]}"
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return {"measured": True, "host_syncs": out}


def device_main(args) -> dict:
    """`--device`: the accelerator bench (scripts/gpu_check.sh); ends with one JSON line."""
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    per_set, _ = pick_sets(args, dataset_smiles())
    arch = args.configs.split(",")[0]
    sets, _ = model_sets(per_set, arch, args.batches_per_set)
    result = {"torch": torch.__version__, "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda")
              else "cpu", "bench": bench_device(arch, sets, args.device, args.rounds, args.seed),
              "recompiles": flex_recompiles(args.device, batches=args.recompile_batches),
              "host_syncs": host_syncs(args.device)}
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))
    return result


# =========================================================================== memory (fresh subprocesses)
def memory_worker(spec: dict) -> dict:
    """Runs in its own process: peak RSS rise of one batch's data preparation, one training step (after a
    warm-up pass) and one inference call, for one implementation and config, per molecule list."""
    torch.set_num_threads(spec["threads"])
    impl, arch, graph_sets = spec["impl"], spec["arch"], spec["graph_sets"]
    fwd = SIDES[impl][0]
    if impl == "ref":
        model = ref_model(arch, spec["seed"])
        prepare = lambda gs: ref_collate([ref_item(g) for g in gs])  # noqa: E731
    else:  # ours never imports the reference
        model = ours_model(arch, spec["seed"])
        prepare = lambda gs: ours_collate([to_molgraph(g) for g in gs])  # noqa: E731
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    targets = [torch.randn(len(gs), 1) for gs in graph_sets]
    prepare(graph_sets[0])  # first-call costs (imports, pyximport) are not the batch's memory

    prep, batches = [], []
    for gs in graph_sets:
        holder = []
        prep.append(peak_delta(lambda: holder.append(prepare(gs))))
        batches.append(holder[0])
    model.train()
    for batch, y in zip(batches, targets):  # warm-up: gradients and AdamW state exist from here on
        train_step(fwd, model, opt, batch, y)
    train = [peak_delta(lambda: train_step(fwd, model, opt, b, y)) for b, y in zip(batches, targets)]
    model.eval()
    inference = [peak_delta(lambda: infer(fwd, model, b)) for b in batches]
    return {"prep_mib": prep, "train_mib": train, "infer_mib": inference, "process_peak_mib": peak_mib(),
            "params": sum(p.numel() for p in model.parameters())}


def curve_worker(spec: dict) -> dict:
    """Runs in its own process: time and peak RSS rise per molecule against chain length (slim)."""
    torch.set_num_threads(spec["threads"])
    impl, arch, batch = spec["impl"], spec["arch"], spec["batch"]
    model = ref_model(arch, spec["seed"]) if impl == "ref" else ours_model(arch, spec["seed"])
    fwd = SIDES[impl][0]
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    rows = []
    for atoms in spec["sizes"]:
        graphs = ogb_graphs([chain_smiles(atoms)]) * batch
        b = ref_collate([ref_item(g) for g in graphs]) if impl == "ref" else \
            ours_collate([to_molgraph(g) for g in graphs])
        y = torch.randn(batch, 1)
        model.train()
        train_step(fwd, model, opt, b, y)  # warm-up for this shape
        mem = peak_delta(lambda: train_step(fwd, model, opt, b, y))
        clocks = []
        for _ in range(spec["reps"]):
            with Clock() as c:
                train_step(fwd, model, opt, b, y)
            clocks.append(c)
        model.eval()
        infer(fwd, model, b)
        imem = peak_delta(lambda: infer(fwd, model, b))
        iclocks = []
        for _ in range(spec["reps"]):
            with Clock() as c:
                infer(fwd, model, b)
            iclocks.append(c)
        rows.append({"atoms": int(graphs[0]["num_nodes"]), "train_ms_per_mol": 1e3 * median(c.wall for c in clocks) / batch,
                     "train_cpu_ms_per_mol": 1e3 * median(c.cpu for c in clocks) / batch,
                     "infer_ms_per_mol": 1e3 * median(c.wall for c in iclocks) / batch,
                     "train_step_mib": mem, "infer_mib": imem})
    return {"rows": rows}


WORKERS = {"memory": memory_worker, "curve": curve_worker}


def run_workers(jobs: list[tuple[str, dict]], threads: int, parallel: int = 2) -> list[dict]:
    """Run worker functions, each in a fresh Python process (clean RSS, allocator settings from the start),
    `parallel` at a time: peak RSS is per process, so memory figures do not depend on what runs beside."""
    env = dict(os.environ, **MEM_ENV, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with tempfile.TemporaryDirectory() as tmp:
        procs, outs = [], []
        for i, (kind, spec) in enumerate(jobs):
            spec_path, out_path = Path(tmp) / f"spec{i}.pkl", Path(tmp) / f"out{i}.json"
            spec_path.write_bytes(pickle.dumps(dict(spec, threads=threads)))
            outs.append(out_path)
            if len(procs) >= parallel:
                procs.pop(0).wait()
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", kind, str(spec_path), str(out_path)],
                                          env=env))
        for proc in procs:
            proc.wait()
        missing = [str(o) for o in outs if not o.is_file()]
        if missing:
            raise RuntimeError(f"worker(s) failed: {missing}")
        return [json.loads(o.read_text()) for o in outs]


# ================================================================================== dataset-size curve
def dataset_curve(smiles: list[str], sizes: list[int], batch: int) -> list[dict]:
    """Per molecule, against the number of molecules: ours (featurize once + store, then every epoch
    store -> batches) and the reference (smiles2graph once, then every epoch preprocess + collate), plus what
    each keeps in RAM between epochs (ours: the GraphStore; reference: the smiles2graph dicts, and the
    preprocess_item outputs as the HF tutorial's datasets.map stores them)."""
    from graphormer.data.featurize import featurize_smiles

    rows = []
    for m in sizes:
        sub = smiles[:m]
        batches = [range(i, min(i + batch, m)) for i in range(0, m, batch)]
        with Clock() as cold:
            store = featurize_smiles(sub, workers=0, progress=False)[0]
        with Clock() as warm:
            for idx in batches:
                ours_collate([store.graph(i) for i in idx])
        store_bytes = sum(a.nbytes for a in (store.x, store.edge_index, store.edge_attr, store.node_ptr, store.edge_ptr))
        with Clock() as rcold:
            graphs = ogb_graphs(sub)
        with Clock() as rwarm:
            kept = 0
            for idx in batches:
                items = [ref_item(graphs[i]) for i in idx]
                kept += sum(v.base.nbytes if k == "input_edges" and v.base is not None else v.nbytes
                            for it in items for k, v in it.items() if isinstance(v, np.ndarray))
                ref_collate(items)
        g_bytes = sum(v.nbytes for g in graphs for v in g.values() if isinstance(v, np.ndarray))
        rows.append({"molecules": m, "ours_cold_ms_per_mol": 1e3 * (cold.wall + warm.wall) / m,
                     "ours_warm_ms_per_mol": 1e3 * warm.wall / m,
                     "ref_cold_ms_per_mol": 1e3 * (rcold.wall + rwarm.wall) / m,
                     "ref_warm_ms_per_mol": 1e3 * rwarm.wall / m,
                     "ours_store_bytes_per_mol": store_bytes / m, "ref_graph_bytes_per_mol": g_bytes / m,
                     "ref_preprocessed_bytes_per_mol": kept / m})
    return rows


# ============================================================================================ profiling
def profile(arch: str, graph_sets: list[list[dict]], seed: int, rows: int = 25) -> str:
    """torch.profiler tables (self CPU time) of a pass of training steps and of inference calls over the
    batches, for ours and the reference."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    theirs = ref_model(arch, seed)
    ours = ours_from_reference(theirs)
    batches = make_batches(graph_sets, arch)
    text = []
    for name, model, side in (("ours", ours, "ours"), ("reference", theirs, "ref")):
        fwd, k = SIDES[side]
        opt = torch.optim.AdamW(model.parameters(), lr=LR)
        for mode in ("train", "infer"):
            model.train(mode == "train")
            step = (lambda b: train_step(fwd, model, opt, b[k], b[2])) if mode == "train" else \
                (lambda b: infer(fwd, model, b[k]))
            for b in batches:
                step(b)  # warm-up
            with torch_profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                for b in batches:
                    step(b)
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
            text.append(f"## {name} {arch} {mode}\n{table}")
    return "\n".join(text)


# =============================================================================================== report
def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def summary(prep: dict, models: dict, memory: dict) -> dict:
    """The JSON line: ours / reference (throughput ratios; memory ratios, lower is better)."""
    out = {"prep_ratio": ratio(prep["ours_warm"]["mol_s"], prep["ref_warm"]["mol_s"]),
           "prep_cold_ratio": ratio(prep["ours_cold"]["mol_s"], prep["ref_cold"]["mol_s"]),
           "prep_ratio_cpu": ratio(prep["ours_warm"]["mol_s_cpu"], prep["ref_warm"]["mol_s_cpu"]),
           "prep_cold_ratio_cpu": ratio(prep["ours_cold"]["mol_s_cpu"], prep["ref_cold"]["mol_s_cpu"])}
    for arch, r in models.items():
        mem = memory[arch]
        for stage in ("train", "infer"):
            o, f = r[f"{stage}_ours"], r[f"{stage}_ref"]
            out[f"{stage}_ratio_{arch}"] = ratio(o["mol_s"], f["mol_s"])
            out[f"{stage}_ratio_{arch}_cpu"] = ratio(o["mol_s_cpu"], f["mol_s_cpu"])
        out[f"mem_ratio_{arch}"] = ratio(max(mem["ours"]["train_mib"]), max(mem["ref"]["train_mib"]))
        out[f"infer_mem_ratio_{arch}"] = ratio(max(mem["ours"]["infer_mib"]), max(mem["ref"]["infer_mib"]))
        out[f"max_abs_diff_{arch}"] = r["parity"]["ours"]["max_abs_diff"]
    return {k: (round(v, 4) if isinstance(v, float) and "diff" not in k else v) for k, v in out.items()}


TARGETS = {"train_ratio_slim": (">=", 2.0), "train_ratio_base": (">=", 1.5), "infer_ratio_slim": (">=", 2.0),
           "infer_ratio_base": (">=", 2.0), "mem_ratio_slim": ("<=", 0.5), "mem_ratio_base": ("<=", 0.6),
           "prep_ratio": (">=", 20.0)}


def target_lines(line: dict) -> list[str]:
    rows = ["| metric | ours / reference | target | met |", "|---|---|---|---|"]
    for key, (op, goal) in TARGETS.items():
        v = line.get(key, float("nan"))
        met = v >= goal if op == ">=" else v <= goal
        rows.append(f"| {key} | {v:.2f} | {op} {goal} | {'yes' if met else '**no**'} |")
    return rows


def markdown(results: dict) -> str:
    prep, models, memory, meta = results["prep"], results["models"], results["memory"], results["meta"]
    lines = [f"# Graphormer benchmark: ours vs HF reference ({meta['when']})", "",
             f"Command: `{meta['command']}`; threads {meta['threads']}; load before/after: {meta['load_before']} / "
             f"{meta['load_after']}; datasets: {', '.join(meta['datasets'])}; rounds {meta['rounds']} (median).", "",
             "## Targets", ""] + target_lines(results["summary"])
    lines += ["", f"## Preprocessing, SMILES -> batch ({prep['molecules']} molecules, batch 64)", "",
              "| path | ours mol/s (wall / CPU) | reference mol/s (wall / CPU) | ratio (wall / CPU) |", "|---|---|---|---|"]
    for kind, label in (("cold", "cold: featurize + collate | smiles2graph + preprocess + collate"),
                        ("warm", "warm epoch: cached graphs -> batch | preprocess + collate")):
        o, r = prep[f"ours_{kind}"], prep[f"ref_{kind}"]
        lines.append(f"| {label} | {o['mol_s']:,.0f} / {o['mol_s_cpu']:,.0f} | {r['mol_s']:,.0f} / {r['mol_s_cpu']:,.0f} "
                     f"| {ratio(o['mol_s'], r['mol_s']):.1f} / {ratio(o['mol_s_cpu'], r['mol_s_cpu']):.1f} |")
    st = prep["ref_stages_mol_s"]
    lines += ["", f"Reference stages (mol/s): smiles2graph {st['smiles2graph']:,.0f}, preprocess_item "
              f"{st['preprocess_item']:,.0f}, collate {st['collate']:,.0f}.", "",
              "## Model (same weights, same batches)", "",
              "| config | stage | ours mol/s (wall / CPU) | reference mol/s (wall / CPU) | ratio (wall / CPU) |",
              "|---|---|---|---|---|"]
    for arch, r in models.items():
        for stage in ("train", "infer"):
            o, f = r[f"{stage}_ours"], r[f"{stage}_ref"]
            lines.append(f"| {arch} (batch {BATCH[arch]}) | {stage} | {o['mol_s']:,.1f} / {o['mol_s_cpu']:,.1f} | "
                         f"{f['mol_s']:,.1f} / {f['mol_s_cpu']:,.1f} | {ratio(o['mol_s'], f['mol_s']):.2f} / "
                         f"{ratio(o['mol_s_cpu'], f['mol_s_cpu']):.2f} |")
        lines.append(f"| {arch} | atoms per batch, real / padded | " + ", ".join(
            f"{a}/{BATCH[arch] * p}" for a, p in zip(r["real_atoms"], r["padded_atoms"])) + " | | |")
    lines += ["", "## Memory (peak RSS rise, MiB; fresh process per implementation and config; max over batches)", "",
              "| config | stage | ours | reference | ratio |", "|---|---|---|---|---|"]
    for arch, mem in memory.items():
        for stage, key in (("data prep (one batch)", "prep_mib"), ("training step", "train_mib"),
                           ("inference", "infer_mib")):
            o, f = max(mem["ours"][key]), max(mem["ref"][key])
            lines.append(f"| {arch} | {stage} | {o:,.1f} | {f:,.1f} | {ratio(o, f):.2f} |")
        o, f = mem["ours"]["process_peak_mib"], mem["ref"]["process_peak_mib"]
        lines.append(f"| {arch} | whole process peak RSS | {o:,.0f} | {f:,.0f} | {ratio(o, f):.2f} |")
    lines += ["", "Training step per measured batch (quick: the widest batch only; otherwise "
              + ", ".join(meta["batch_sets"]) + "), MiB ours / reference: "
              + "; ".join(f"{arch}: " + ", ".join(f"{o:.0f}/{f:.0f}" for o, f in zip(m["ours"]["train_mib"], m["ref"]["train_mib"]))
                          for arch, m in memory.items()),
              "", "## Equality check (same weights, eval mode)", "",
              "| config | max abs diff of outputs | max abs output | gradient-norm rel. diff |", "|---|---|---|---|"]
    for arch, r in models.items():
        p = r["parity"]["ours"]
        lines.append(f"| {arch} | {p['max_abs_diff']:.2e} | {p['max_abs_output']:.3g} | {p['grad_norm_rel_diff']:.2e} |")
    if results.get("size_curve"):
        curve = results["size_curve"]
        sides = list(curve)
        lines += ["", "## Cost against molecule size (slim, batch 16, poly-alanine chains; " + " / ".join(sides) + ")", "",
                  "| heavy atoms | train ms/mol | train CPU ms/mol | infer ms/mol | train-step MiB | inference MiB |",
                  "|---|---|---|---|---|---|"]
        for i, row in enumerate(curve[sides[0]]):
            cell = lambda key, fmt: " / ".join(format(curve[s_][i][key], fmt) for s_ in sides)  # noqa: E731
            lines.append(f"| {row['atoms']} | {cell('train_ms_per_mol', '.2f')} | {cell('train_cpu_ms_per_mol', '.2f')} | "
                         f"{cell('infer_ms_per_mol', '.2f')} | {cell('train_step_mib', '.0f')} | {cell('infer_mib', '.0f')} |")
    if results.get("dataset_curve"):
        lines += ["", "## Data cost against dataset size (per molecule)", "",
                  "| molecules | ours cold ms | ours warm ms | ref cold ms | ref warm ms | ours store B | "
                  "ref graphs B | ref preprocessed B |", "|---|---|---|---|---|---|---|---|"]
        for d in results["dataset_curve"]:
            lines.append(f"| {d['molecules']:,} | {d['ours_cold_ms_per_mol']:.3f} | {d['ours_warm_ms_per_mol']:.3f} | "
                         f"{d['ref_cold_ms_per_mol']:.3f} | {d['ref_warm_ms_per_mol']:.3f} | "
                         f"{d['ours_store_bytes_per_mol']:,.0f} | {d['ref_graph_bytes_per_mol']:,.0f} | "
                         f"{d['ref_preprocessed_bytes_per_mol']:,.0f} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> bool:
    """PNG: ratios; and, when measured, the size and dataset-size curves. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed ({BENCH_EXTRA}): no bench.png", file=sys.stderr)
        return False
    panels = 1 + bool(results.get("size_curve")) * 2 + bool(results.get("dataset_curve"))
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    axes = list(axes[0])
    ax = axes.pop(0)
    line = results["summary"]
    keys = [k for k in TARGETS if k in line]
    ax.bar(range(len(keys)), [line[k] for k in keys], 0.8, label="ours")
    ax.scatter(range(len(keys)), [TARGETS[k][1] for k in keys], marker="_", s=400, color="k", label="target")
    ax.set_xticks(range(len(keys)), [k.replace("_ratio", "") for k in keys], rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_title("ours / reference")
    ax.legend()
    if results.get("size_curve"):
        curve = results["size_curve"]
        atoms = [x["atoms"] for x in curve["ours"]]
        ax, ax2 = axes.pop(0), axes.pop(0)
        for name, rows in curve.items():
            ax.plot(atoms, [x["train_ms_per_mol"] for x in rows], "o-", label=f"{name} train")
            ax.plot(atoms, [x["infer_ms_per_mol"] for x in rows], "s--", label=f"{name} infer")
            ax2.plot(atoms, [x["train_step_mib"] for x in rows], "o-", label=f"{name} train step")
        ax.set(xlabel="heavy atoms", ylabel="ms per molecule", title="slim, batch 16", yscale="log")
        ax2.set(xlabel="heavy atoms", ylabel="peak RSS rise (MiB)", title="slim, batch 16", yscale="log")
        ax.legend(fontsize=7), ax2.legend(fontsize=7)
    if results.get("dataset_curve"):
        d = results["dataset_curve"]
        ax = axes.pop(0)
        m = [x["molecules"] for x in d]
        for key, label in (("ours_warm_ms_per_mol", "ours warm"), ("ours_cold_ms_per_mol", "ours cold"),
                           ("ref_warm_ms_per_mol", "reference warm"), ("ref_cold_ms_per_mol", "reference cold")):
            ax.plot(m, [x[key] for x in d], "o-", label=label)
        ax.set(xlabel="molecules", ylabel="data ms per molecule per epoch", xscale="log", yscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


# ================================================================================================= main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer molecules and rounds, no curves (< 5 min)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, see docstring)")
    p.add_argument("--rounds", type=int, default=None, help="timing rounds (default 3 quick, 5 full)")
    p.add_argument("--prep-molecules", type=int, default=None, help="molecules per dataset for preprocessing")
    p.add_argument("--batches-per-set", type=int, default=None, help="model batches per dataset")
    p.add_argument("--configs", default="slim,base")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", choices=sorted(ARCHS), help="print a torch.profiler table and exit")
    p.add_argument("--no-curves", action="store_true")
    p.add_argument("--report", type=Path, metavar="BENCH_JSON",
                   help="only re-render bench.md / bench.png (into --out) from a saved bench.json")
    p.add_argument("--device", help="accelerator bench on this device (cuda, cpu): ours per attention backend "
                   "and the reference, fp32 / bf16, train / inference, peak memory, flex recompiles, host syncs")
    p.add_argument("--recompile-batches", type=int, default=50, help="--device: batches for the recompile count")
    p.add_argument("--worker", nargs=3, metavar=("KIND", "SPEC", "OUT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def load_load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pick_sets(args, all_smiles: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Per dataset, the sampled SMILES; the first molecules also make the model batches."""
    per_set = {name: sample_molecules(s, args.prep_molecules, args.seed) for name, s in all_smiles.items()}
    return per_set, list(per_set)


def model_sets(per_set: dict[str, list[str]], arch: str, batches: int) -> tuple[list[list[dict]], list[str]]:
    size = BATCH[arch]
    sets, names = [], []
    for name, smiles in per_set.items():
        for k in range(batches):
            chunk = smiles[k * size:(k + 1) * size]
            if len(chunk) == size:
                # Largest first, the order the reference collator needs, so outputs line up row by row.
                sets.append(sorted(ogb_graphs(chunk), key=lambda g: -g["num_nodes"]))
                names.append(name)
    return sets, names


BENCH_EXTRA = 'pip install -e ".[bench]"'


def require(*modules: str) -> None:
    """One line naming the extra, not a traceback half-way through, when a bench-only package is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"error: scripts/{Path(__file__).name} needs {', '.join(missing)}: {BENCH_EXTRA}", file=sys.stderr)
        sys.exit(2)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not args.worker:
        require("matplotlib") if args.report else require("transformers", "Cython", "matplotlib")
    if args.worker:
        kind, spec, out = args.worker
        spec = pickle.loads(Path(spec).read_bytes())
        result = WORKERS[kind](spec)
        Path(out).write_text(json.dumps(result))
        return result
    if args.report:
        results = json.loads(args.report.read_text())
        write_results(results, args.out)
        return results
    torch.set_num_threads(args.threads)
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.prep_molecules = args.prep_molecules or (128 if args.quick else 512)
    args.batches_per_set = args.batches_per_set or (1 if args.quick else 2)
    if args.device:
        return device_main(args)
    configs = [c for c in args.configs.split(",") if c]
    meta = {"when": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
            "threads": args.threads, "load_before": load_load(), "rounds": args.rounds, "torch": torch.__version__}
    start = time.perf_counter()
    all_smiles = dataset_smiles()
    per_set, meta["datasets"] = pick_sets(args, all_smiles)
    if args.profile:
        sets, _ = model_sets(per_set, args.profile, args.batches_per_set)
        print(profile(args.profile, sets, args.seed))
        return {}

    log = lambda msg: print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)  # noqa: E731
    prep_smiles = [s for smiles in per_set.values() for s in smiles]
    log(f"preprocessing: {len(prep_smiles)} molecules from {', '.join(per_set)}")
    prep = bench_prep(prep_smiles, 64, args.rounds)
    sides = list(SIDES)
    models, jobs = {}, []
    for arch in configs:
        sets, meta["batch_sets"] = model_sets(per_set, arch, args.batches_per_set)
        log(f"{arch}: throughput on {len(sets)} batches of {BATCH[arch]} ({', '.join(sides)})")
        models[arch] = bench_model(arch, sets, args.rounds, args.seed)
        if args.quick:  # memory on the widest batch only (the one that sets the peak)
            sets = [max(sets, key=lambda gs: gs[0]["num_nodes"])]
        jobs += [("memory", dict(arch=arch, graph_sets=sets, seed=args.seed, impl=impl)) for impl in sides]
    log(f"memory: {len(jobs)} fresh subprocesses, two at a time")
    memory: dict = {}
    for (_, spec), res in zip(jobs, run_workers(jobs, args.threads)):
        memory.setdefault(spec["arch"], {})[spec["impl"]] = res
    results = {"meta": meta, "prep": prep, "models": models, "memory": memory}
    if not args.quick and not args.no_curves:
        log("size curve (slim, poly-alanine), one subprocess per side")
        spec = dict(arch="slim", batch=16, sizes=[11, 21, 51, 101, 151, 201], reps=3, seed=args.seed)
        rows = run_workers([("curve", dict(spec, impl=impl)) for impl in sides], args.threads, parallel=1)
        results["size_curve"] = {impl: r["rows"] for impl, r in zip(sides, rows)}
        log("dataset-size curve")
        qm9 = all_smiles.get("qm9") or next(iter(all_smiles.values()))
        pool = sample_molecules(qm9, 16000, args.seed)
        results["dataset_curve"] = dataset_curve(pool, [1000, 4000, 16000], 64)
    meta["load_after"] = load_load()
    meta["seconds"] = round(time.perf_counter() - start, 1)
    line = summary(prep, models, memory)
    results["summary"] = line
    written = write_results(results, args.out)
    log(f"wrote {', '.join(str(args.out / name) for name in written)}")
    print(json.dumps(line))
    return results


def write_results(results: dict, out: Path) -> list[str]:
    """bench.json, bench.md and bench.png into `out` (a folder that ignores itself in git); the names written."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / ".gitignore").exists():  # results never get committed by accident
        (out / ".gitignore").write_text("*\n")
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    (out / "bench.md").write_text(text)
    written = ["bench.json", "bench.md"] + (["bench.png"] if plot(results, out / "bench.png") else [])
    print(text)
    return written


if __name__ == "__main__":
    main()
